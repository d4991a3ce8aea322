"""A throwaway PostgreSQL server in a temp folder, for tests and trials; gone when it stops.

python -m scripts.throwaway_postgres                 prints a postgresql:// URL and serves until Ctrl-C.
python -m scripts.throwaway_postgres -- CMD [ARG...] runs CMD with the URL in ECOMMERCE_TEST_DATABASE,
                                                     stops the server and exits with CMD's status.
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


@contextlib.contextmanager
def running_postgres(timeout=30):
    """Start PostgreSQL on a free loopback port; yield its URL (user postgres, no password)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError('PostgreSQL is not installed (Debian: apt-get install postgresql)')
    # PostgreSQL refuses to run as root: run it as the postgres user then.
    as_user = {}
    folder = tempfile.mkdtemp(prefix='throwaway-pg-')
    if os.geteuid() == 0:
        owner = pwd.getpwnam('postgres')
        as_user = {'user': owner.pw_uid, 'group': owner.pw_gid, 'extra_groups': []}
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data = os.path.join(folder, 'data')
    port = _free_port()
    try:
        subprocess.run([f'{bin_dir}/initdb', '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync'],
                       check=True, capture_output=True, **as_user)
        server = subprocess.Popen(
            [f'{bin_dir}/postgres', '-D', data, '-p', str(port), '-k', folder,
             '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200'],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(folder, 'server.log'), 'wb'),  # noqa: SIM115 (the server's own)
            start_new_session=True,
            **as_user)
        try:
            deadline = time.monotonic() + timeout
            while subprocess.run([f'{bin_dir}/pg_isready', '-h', '127.0.0.1', '-p', str(port)],
                                 capture_output=True).returncode != 0:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f'PostgreSQL did not start: see {folder}/server.log')
                time.sleep(0.1)
            yield f'postgresql://postgres@127.0.0.1:{port}/postgres'
        finally:
            server.send_signal(signal.SIGINT)  # "fast" shutdown: SIGTERM would wait for clients to leave
            server.wait(timeout=30)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    with running_postgres() as url:
        if command:
            return subprocess.run(command, env={**os.environ, 'ECOMMERCE_TEST_DATABASE': url}).returncode
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == '__main__':
    sys.exit(main())
