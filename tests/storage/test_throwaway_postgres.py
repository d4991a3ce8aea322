"""scripts/throwaway_postgres.py leaves nothing behind, however it ends: stopped by SIGTERM (kill) or Ctrl-C (SIGINT
to its process group), its command failing, or an exception; its command's exit status is its own."""
import contextlib
import glob
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from scripts.throwaway_postgres import find_bin_dir, running_postgres
from tests.conftest import DATABASE_INDEPENDENT

# The script starts servers of its own, whatever the suite's database is: the SQLite pass only.
pytestmark = [
    DATABASE_INDEPENDENT,
    pytest.mark.skipif(find_bin_dir() is None,
                       reason='PostgreSQL is not installed (initdb, postgres, pg_isready): no server to start'),
]

ROOT = Path(__file__).resolve().parents[2]
STARTS_WITHIN = 60  # seconds for initdb and the server's start, on a busy machine
ENDS_WITHIN = 30  # seconds for the script to stop its command and its server

# The command run against the server: it writes the server's URL to the file named by its first argument, then waits
# for a signal (`sleep`) or until the file named by its second argument exists, and fails.
REPORT_THEN_SLEEP = 'echo "$ECOMMERCE_TEST_DATABASE" > "$0"; exec sleep 600'
REPORT_THEN_FAIL = 'echo "$ECOMMERCE_TEST_DATABASE" > "$0"; while [ ! -e "$1" ]; do sleep 0.05; done; exit 3'


def server_at(url):
    """(postmaster pid, the script's temp folder) of the throwaway server answering at `url`, from the postmaster.pid
    file of its data folder (its first line the pid, its fourth the port)."""
    port = str(urlsplit(url).port)
    for path in glob.glob(os.path.join(tempfile.gettempdir(), 'throwaway-pg-*', 'data', 'postmaster.pid')):
        with contextlib.suppress(OSError):
            lines = Path(path).read_text().splitlines()
            if len(lines) > 3 and lines[3] == port:
                return int(lines[0]), str(Path(path).parents[1])
    raise AssertionError(f'no throwaway server on port {port}')


def alive(pid):
    """Whether process `pid` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rpartition(')')[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ('Z', 'X')


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f'{what} after {seconds} s'
        time.sleep(0.05)


class Throwaway:
    """The script as a subprocess in a process group of its own (a terminal's Ctrl-C reaches a whole group) and, once
    its server answers, that server (`pid`, `folder`)."""

    def __init__(self, *arguments):
        self.process = subprocess.Popen([sys.executable, '-m', 'scripts.throwaway_postgres', *arguments], cwd=ROOT,
                                        stdout=subprocess.PIPE, start_new_session=True)
        self.pid = self.folder = None

    def found(self, url):
        self.pid, self.folder = server_at(url)
        assert alive(self.pid) and os.path.isdir(self.folder)

    def ended(self):
        """The script's exit status, once it has ended, or fail after ENDS_WITHIN seconds."""
        return self.process.wait(timeout=ENDS_WITHIN)

    def assert_nothing_left(self):
        assert not alive(self.pid), f'the server (pid {self.pid}) still runs'
        assert not os.path.exists(self.folder), f'{self.folder} is still there'

    def clean_up(self):
        """Whatever a failed test leaves: the script, its command, the server and its folder."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process.stdout.close()
        if self.pid and alive(self.pid):
            os.kill(self.pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
            wait_for(lambda: not alive(self.pid), ENDS_WITHIN, 'the server did not stop')
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def throwaway():
    started = []

    def start(*arguments):
        started.append(Throwaway(*arguments))
        return started[-1]

    yield start
    for script in started:
        script.clean_up()


def reported_url(path):
    wait_for(lambda: path.exists() and path.read_text().endswith('\n'), STARTS_WITHIN, 'no URL reported')
    return path.read_text().strip()


@pytest.mark.parametrize('signum, whom', [
    (signal.SIGTERM, 'the script'),  # kill PID: passed on to the command
    (signal.SIGINT, 'its group'),  # Ctrl-C in a terminal: the command got it too
], ids=['kill', 'ctrl-c'])
def test_a_signal_stops_the_command_and_the_server_and_removes_the_folder(throwaway, tmp_path, signum, whom):
    report = tmp_path / 'url'
    script = throwaway('--', 'sh', '-c', REPORT_THEN_SLEEP, str(report))
    script.found(reported_url(report))
    if whom == 'the script':
        os.kill(script.process.pid, signum)
    else:
        os.killpg(script.process.pid, signum)
    assert script.ended() == -signum  # the command's: it ended by that signal, and so does the script
    script.assert_nothing_left()


def test_a_failing_command_stops_the_server_and_its_status_is_the_scripts(throwaway, tmp_path):
    report, go = tmp_path / 'url', tmp_path / 'go'
    script = throwaway('--', 'sh', '-c', REPORT_THEN_FAIL, str(report), str(go))
    script.found(reported_url(report))
    go.touch()
    assert script.ended() == 3
    script.assert_nothing_left()


def test_the_serving_form_stopped_with_sigterm_leaves_nothing(throwaway):
    script = throwaway()
    assert select.select([script.process.stdout], [], [], STARTS_WITHIN)[0], 'no URL printed'
    script.found(script.process.stdout.readline().decode().strip())
    script.process.terminate()
    assert script.ended() == 0  # stopping is how it is meant to end
    script.assert_nothing_left()


def test_an_exception_inside_stops_the_server_and_removes_the_folder():
    with pytest.raises(ZeroDivisionError), running_postgres() as url:
        pid, folder = server_at(url)
        assert alive(pid)
        1 / 0  # noqa: B018 (the exception is the point)
    assert not alive(pid) and not os.path.exists(folder)
