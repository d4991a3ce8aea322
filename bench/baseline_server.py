"""The Django baseline as a process: a seeded SQLite file, served by gunicorn with 2 sync workers.

    python -m bench.baseline_server --port 8000 --count 1000   # fresh database, then serve until Ctrl-C

Everything runs with the baseline's own python (bench/baseline_env.py); this module only starts
processes, so it imports no Django.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench import dataset
from bench.baseline_env import ensure_baseline_venv
from bench.processes import Process

PROJECT = Path(__file__).resolve().parent / 'baseline'
DEFAULT_DATABASE = PROJECT.parent / 'data' / 'baseline.sqlite3'
# As the seed's README would deploy it: `gunicorn ecommerce_grpc.wsgi --workers 2`, sync workers.
WORKERS = 2
LISTENING = re.compile(r'Listening at: http://[^:]+:(\d+)')


def _settings(database_path):
    """The environment the baseline's settings read."""
    return {'BASELINE_DATABASE': str(Path(database_path).resolve()),
            'DJANGO_SETTINGS_MODULE': 'ecommerce_grpc.settings'}


def manage(python, database_path, *args):
    """Run `manage.py args` on `database_path`; raise with its output if it fails."""
    done = subprocess.run([str(python), 'manage.py', *map(str, args)], cwd=PROJECT,
                          env={**os.environ, **_settings(database_path)}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'manage.py {" ".join(map(str, args))} failed:\n{done.stdout}{done.stderr}')
    return done.stdout


def prepare_database(database_path, count, seed=dataset.DEFAULT_SEED, *, python=None):
    """Replace `database_path` with a migrated database holding the first `count` products of the
    dataset for `seed` (ids 1..count)."""
    python = python or ensure_baseline_venv()
    path = Path(database_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ('', '-journal', '-wal', '-shm'):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    manage(python, path, 'migrate', '--verbosity', '0')
    manage(python, path, 'seed_products', '--count', count, '--seed', seed)


class BaselineServer:
    """gunicorn's master and workers (a bench.processes.Process); stop() ends them, pass or fail."""

    def __init__(self, process, workers):
        self.process = process
        self.workers = workers
        self.port = None

    @property
    def popen(self):
        """The master's Popen: the workers are its children, so its process tree is the whole baseline."""
        return self.process.popen

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}'

    def wait_until_ready(self, timeout=30):
        """Wait until gunicorn has said its port, booted every worker, and answers HTTP; return the URL."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.popen.poll() is None:
            log = self.process.log()
            found = LISTENING.search(log)
            if found and log.count('Booting worker') >= self.workers:
                self.port = int(found.group(1))
                if self._answers():
                    return self.url
            time.sleep(0.1)
        raise RuntimeError(f'the baseline did not start (exit code {self.popen.poll()}):\n{self.process.log()}')

    def _answers(self):
        try:
            with urllib.request.urlopen(f'{self.url}/api/products/1/', timeout=5):
                return True
        except urllib.error.HTTPError:
            return True  # a 404 on an empty database is an answer too
        except OSError:
            return False

    def stop(self, timeout=30):
        """SIGTERM: gunicorn lets its workers finish their requests; SIGKILL to the whole session after `timeout`."""
        return self.process.stop(timeout)


def start_baseline(port, database_path, log_path, *, workers=WORKERS, python=None):
    """Start gunicorn on 127.0.0.1:`port` (0: a free port, read back from its log) serving
    `database_path`, its output into `log_path`. Call wait_until_ready() before sending load."""
    python = python or ensure_baseline_venv()
    return BaselineServer(Process(
        'baseline', [str(python), '-m', 'gunicorn', '--chdir', str(PROJECT), '--workers', str(workers),
                     '--worker-class', 'sync', '--bind', f'127.0.0.1:{port}', 'ecommerce_grpc.wsgi'],
        log_path, _settings(database_path)), workers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--port', type=int, default=8000, help='0 picks a free port (default 8000, as the seed)')
    parser.add_argument('--database', type=Path, default=DEFAULT_DATABASE)
    parser.add_argument('--workers', type=int, default=WORKERS)
    parser.add_argument('--count', type=int, help='replace the database with this many seeded products first')
    parser.add_argument('--seed', type=int, default=dataset.DEFAULT_SEED)
    options = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so gunicorn (in its own session) is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    python = ensure_baseline_venv()
    if options.count is not None:
        started = time.monotonic()
        prepare_database(options.database, options.count, options.seed, python=python)
        print(f'seeded {options.count} products in {time.monotonic() - started:.1f} s', flush=True)
    log_path = options.database.with_suffix('.gunicorn.log')
    server = start_baseline(options.port, options.database, log_path, workers=options.workers, python=python)
    try:
        print(f'baseline at {server.wait_until_ready()}/api/products/ (log: {log_path}); Ctrl-C stops it', flush=True)
        server.popen.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == '__main__':
    main()
