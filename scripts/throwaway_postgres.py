"""A throwaway PostgreSQL server in a temp folder, for tests and trials; gone when it stops.

python -m scripts.throwaway_postgres                 prints a postgresql:// URL and serves until Ctrl-C or kill.
python -m scripts.throwaway_postgres -- CMD [ARG...] runs CMD with the URL in ECOMMERCE_TEST_DATABASE,
                                                     stops the server and exits with CMD's status.
However it ends (Ctrl-C, kill, CMD failing, an error), the server is stopped and its folder removed; kill (SIGTERM)
is passed on to CMD, which Ctrl-C reaches anyway.
Where PostgreSQL is not installed, the second form says so and exits 0 (skipped), unless --require or
ECOMMERCE_REQUIRE_POSTGRES=1 is given, as CI does: then it fails.
"""
import argparse
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from services.settings import CommandLine


def find_bin_dir():
    """Folder holding initdb, postgres and pg_isready (Debian keeps them out of PATH), or None."""
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin'), reverse=True)
    if shutil.which('postgres'):
        candidates.append(os.path.dirname(shutil.which('postgres')))
    return next((folder for folder in candidates
                 if all(os.path.exists(f'{folder}/{tool}') for tool in ('initdb', 'postgres', 'pg_isready'))), None)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Stopped(KeyboardInterrupt):
    """A stop signal arrived (SIGINT, SIGTERM or SIGHUP): it takes Ctrl-C's path, through every `finally`."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


# Ctrl-C and a closed terminal reach the whole foreground process group, the command included; kill reaches one.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GROUP_SIGNALS = (signal.SIGINT, signal.SIGHUP)
COMMAND_GRACE = 10  # seconds a stopped command has to end before it is told again, then killed


class StopSignals:
    """The stop signals, once installed (in the main thread), raise Stopped where the script is, unless held: then
    the first raises when the hold ends. A process being started, or the server being stopped, is held through, so
    that it is never left started but unknown, nor stopped halfway."""

    def __init__(self):
        self._holds = 0
        self._held = []

    def install(self):
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._arrived)

    def _arrived(self, signum, _frame):
        if not self._holds:
            raise Stopped(signum)
        self._held.append(signum)

    @contextlib.contextmanager
    def held(self):
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if not self._holds and self._held:
                signum = self._held[0]
                self._held.clear()
                raise Stopped(signum)


stop_signals = StopSignals()  # signals are the process's: one for all


@contextlib.contextmanager
def running_postgres(timeout=30, listen='127.0.0.1', host=None, run_in=(), settings=()):
    """Start PostgreSQL on a free port of `listen` (its listen_addresses; loopback by default); yield its URL at
    `host` (by default `listen`), user postgres, no password. `run_in` is a command prefix the server runs under
    (another network namespace: tests.network); `settings`, (name, value) pairs of the server's configuration
    beyond this script's own (the benchmark loads pg_stat_statements). However the block ends, the server is stopped
    and its folder removed: with stop_signals installed, on a stop signal too."""
    host = host or listen
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError('PostgreSQL is not installed (Debian: apt-get install postgresql)')
    folder = server = None
    try:
        with stop_signals.held():
            folder = tempfile.mkdtemp(prefix='throwaway-pg-')
        # PostgreSQL refuses to run as root: run it as the postgres user then.
        as_user = {}
        if os.geteuid() == 0:
            owner = pwd.getpwnam('postgres')
            as_user = {'user': owner.pw_uid, 'group': owner.pw_gid, 'extra_groups': []}
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        data = os.path.join(folder, 'data')
        port = _free_port()
        # A signal waits for initdb (seconds): killed, it would leave its own children writing into the folder.
        with stop_signals.held():
            subprocess.run([f'{bin_dir}/initdb', '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync'],
                           check=True, capture_output=True, start_new_session=True, **as_user)
        if listen != '127.0.0.1':  # initdb trusts loopback only: trust the networks the server is on too
            with open(os.path.join(data, 'pg_hba.conf'), 'a') as rules:
                rules.write('host all all samenet trust\n')
        command = [f'{bin_dir}/postgres', '-D', data, '-p', str(port), '-k', folder,
                   '-c', f'listen_addresses={listen}', '-c', 'fsync=off', '-c', 'max_connections=200',
                   *[argument for name, value in settings for argument in ('-c', f'{name}={value}')]]
        if run_in and as_user:  # the prefix needs root: the server gives it up after it, not before
            command = ['setpriv', f'--reuid={as_user["user"]}', f'--regid={as_user["group"]}', '--clear-groups',
                       '--', *command]
        with stop_signals.held():
            server = subprocess.Popen(
                [*run_in, *command],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(folder, 'server.log'), 'wb'),  # noqa: SIM115 (the server's own)
                start_new_session=True,  # a Ctrl-C meant for the command does not reach it
                **({} if run_in else as_user))
        deadline = time.monotonic() + timeout
        while subprocess.run([f'{bin_dir}/pg_isready', '-h', host, '-p', str(port)],
                             capture_output=True).returncode != 0:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'PostgreSQL did not start: see {folder}/server.log')
            time.sleep(0.1)
        yield f'postgresql://postgres@{host}:{port}/postgres'
    finally:
        with stop_signals.held():
            if server is not None:
                server.send_signal(signal.SIGINT)  # "fast" shutdown: SIGTERM would wait for clients to leave
                _wait_or_kill(server, 30)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


def _wait_stoppably(process):
    """process.wait(), which a stop signal ends with Stopped, but only between short waits: raised inside one, just
    after the child was reaped and before its status was kept, it would lose that status, and Popen would then read
    the child's end as 0 (a failed command reported as a success; seen under load)."""
    while True:
        with stop_signals.held():
            try:
                return process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass


def _wait_or_kill(process, seconds):
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_command(command, url):
    """Run `command` with `url` in ECOMMERCE_TEST_DATABASE, and ECOMMERCE_TEST_DATABASE_THROWAWAY=1 (what it creates
    there goes with the server); its returncode. A stop signal ends it first: SIGTERM is passed on; SIGINT and SIGHUP
    reached it already when they came from the terminal, so it gets time to end on its own, then SIGTERM; after
    COMMAND_GRACE seconds more, SIGKILL."""
    command_process = None
    try:
        with stop_signals.held():
            command_process = subprocess.Popen(command, env={**os.environ, 'ECOMMERCE_TEST_DATABASE': url,
                                                             'ECOMMERCE_TEST_DATABASE_THROWAWAY': '1'})
        return _wait_stoppably(command_process)
    except Stopped as stop:
        if command_process is None:
            raise
        with stop_signals.held():
            if stop.signum in GROUP_SIGNALS:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    command_process.wait(timeout=COMMAND_GRACE)
            if command_process.poll() is None:
                command_process.terminate()
            _wait_or_kill(command_process, COMMAND_GRACE)
        return command_process.returncode


def exit_as(status):
    """End this process as a command with `status` (a returncode) ended: with its exit code, or, ended by a stop
    signal, by that signal (so that a shell sees an interrupt, and stops a loop); ended by another, 128 + it."""
    if -status in STOP_SIGNALS:
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(-status, signal.SIG_DFL)
        signal.raise_signal(-status)
    sys.exit(128 - status if status < 0 else status)


def main():
    """The script; returns the status to end with, as a returncode (negative: ended by that signal)."""
    parser = CommandLine(prog='python -m scripts.throwaway_postgres',
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--require', action='store_true',
                        default=os.environ.get('ECOMMERCE_REQUIRE_POSTGRES') == '1',
                        help='fail, rather than skip, where PostgreSQL is not installed')
    parser.add_argument('command', nargs=argparse.REMAINDER, help='command to run against the server')
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ['--'] else args.command
    if command and find_bin_dir() is None:
        print('PostgreSQL is not installed (Debian: apt-get install postgresql): '
              f'{"cannot run" if args.require else "skipped"}: {" ".join(command)}', file=sys.stderr, flush=True)
        return 1 if args.require else 0
    stop_signals.install()
    try:
        with running_postgres() as url:
            if command:
                return run_command(command, url)
            print(url, flush=True)
            while True:
                signal.pause()
    except Stopped as stop:
        return -stop.signum if command else 0  # serving until stopped is the second form's normal end


if __name__ == '__main__':
    exit_as(main())
