"""`make run` (scripts/run.py): Products, Orders and Envoy started in turn, then one line with every address, after
which no call gets a 503; each address where its variable moved it; Ctrl-C or SIGINT ending all of it with status 0,
`make` included (under a pseudo-terminal, as a user types it), with no process left; and a process that ends by
itself ending the others and the run, which fails naming it.

Each run moves every address to free ports: nothing here needs the default ones. The launcher behaves the same
whatever the database, so the module runs on the SQLite pass only.
"""
import contextlib
import fcntl
import os
import pty
import signal
import socket
import subprocess
import sys
import termios
import threading
import urllib.request
from pathlib import Path

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.processes import process_tree
from scripts.gateway import command_line
from scripts.run import ready_line
from services.orders.__main__ import parser as orders_parser
from services.products.__main__ import parser as products_parser
from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import ROOT, RestClient

pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]

ADDRESS_VARIABLES = ('PRODUCTS_ADDRESS', 'ORDERS_ADDRESS', 'GATEWAY_ADDRESS', 'GATEWAY_ADMIN_ADDRESS',
                     'PRODUCTS_METRICS_ADDRESS', 'ORDERS_METRICS_ADDRESS')
STARTS_WITHIN = 60  # seconds to the ready line, on a busy machine
STOPS_WITHIN = 30  # seconds for all of it to end: the services' grace (10 s) and the launcher's margin, and more


def free_ports(count):
    """`count` distinct ports free on 127.0.0.1 (held together while they are picked)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(('127.0.0.1', 0))
        return [sock.getsockname()[1] for sock in sockets]


def moved_addresses(folder):
    """(every address variable on a free port, the whole environment of a run with them): its databases and
    temporary files in `folder`, one worker per service (quicker to start)."""
    addresses = {variable: f'127.0.0.1:{port}'
                 for variable, port in zip(ADDRESS_VARIABLES, free_ports(len(ADDRESS_VARIABLES)), strict=True)}
    return addresses, {**os.environ, **addresses, 'TMPDIR': str(folder),
                       'PRODUCTS_DATABASE_URL': f'sqlite:///{folder}/products.db',
                       'ORDERS_DATABASE_URL': f'sqlite:///{folder}/orders.db',
                       'PRODUCTS_WORKERS': '1', 'ORDERS_WORKERS': '1'}


class Output:
    """The lines a process writes to `stream` (a binary file object), read as they come."""

    def __init__(self, stream):
        self.lines = []
        self._closed = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        with contextlib.suppress(OSError):  # EIO from a pseudo-terminal once its other side is closed
            for line in stream:
                with self._changed:
                    self.lines.append(line.decode(errors='replace').rstrip('\r\n'))
                    self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for(self, prefix, timeout):
        """The first line that starts with `prefix`; AssertionError, with the last lines, when none comes in time."""
        def found():
            return next((line for line in self.lines if line.startswith(prefix)), None)
        with self._changed:
            self._changed.wait_for(lambda: found() or self._closed, timeout)
            assert found(), f'no line starting with {prefix!r}; the last lines:\n' + '\n'.join(self.lines[-40:])
            return found()


def alive(pids):
    """Those of `pids` still running (a zombie has ended)."""
    running = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if Path(f'/proc/{pid}/stat').read_text().rpartition(')')[2].split()[0] != 'Z':
                running.append(pid)
    return running


def kill_tree(pid):
    """SIGKILL to `pid` and every process under it (the three and the services' workers, each of which dies with its
    parent anyway)."""
    for member in process_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def http_get(url):
    with urllib.request.urlopen(url, timeout=5) as reply:
        return reply.status, reply.read().decode()


def health(address):
    with grpc.insecure_channel(address) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def launch(environ):
    """`python -m scripts.run` with `environ` and no terminal: (its Popen, its Output)."""
    launcher = subprocess.Popen([sys.executable, '-m', 'scripts.run'], cwd=ROOT, env=environ,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return launcher, Output(launcher.stdout)


@pytest.fixture(scope='module')
def launched(tmp_path_factory):
    """`python -m scripts.run` with every address moved, once its ready line is out: (its Popen, the addresses, the
    ready line, its Output). Whatever is left of it afterwards is killed."""
    addresses, environ = moved_addresses(tmp_path_factory.mktemp('run'))
    launcher, output = launch(environ)
    try:
        yield launcher, addresses, output.wait_for('ready:', STARTS_WITHIN), output
    finally:
        kill_tree(launcher.pid)
        launcher.wait()


def test_calls_right_after_the_ready_line_succeed_and_it_lists_every_address(launched):
    _launcher, addresses, ready, _output = launched
    gateway = addresses['GATEWAY_ADDRESS']
    rest = RestClient(gateway).call('GET', '/api/products?page_size=1')
    with grpc.insecure_channel(gateway) as channel:
        products_pb2_grpc.ProductServiceStub(channel).ListProducts(products_pb2.ListProductsRequest(), timeout=5)
        orders_pb2_grpc.OrderServiceStub(channel).ListOrders(orders_pb2.ListOrdersRequest(), timeout=5)
    assert rest.status == 200, rest
    for variable in ADDRESS_VARIABLES:
        assert addresses[variable] in ready, variable
    assert f'http://{gateway}/admin/' in ready


def test_every_address_answers_where_its_variable_moved_it(launched):
    _launcher, addresses, _ready, _output = launched
    gateway = addresses['GATEWAY_ADDRESS']
    status, page = http_get(f'http://{gateway}/admin/')
    assert status == 200 and '<html' in page.lower()
    for service in ('PRODUCTS', 'ORDERS'):
        assert health(addresses[f'{service}_ADDRESS']) == health_pb2.HealthCheckResponse.SERVING
        status, metrics = http_get(f'http://{addresses[f"{service}_METRICS_ADDRESS"]}/metrics')
        assert status == 200 and '# TYPE' in metrics
    assert http_get(f'http://{addresses["GATEWAY_ADMIN_ADDRESS"]}/ready') == (200, 'LIVE\n')


def test_sigint_stops_every_process_and_the_launcher_exits_0(launched):
    launcher, _addresses, _ready, output = launched
    started = process_tree(launcher.pid)
    assert len(started) >= 4  # the launcher, Products, Orders, Envoy
    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(STOPS_WITHIN) == 0, '\n'.join(output.lines[-40:])
    assert alive(started) == []


def test_the_readme_shows_the_ready_line_as_it_is_with_the_default_addresses():
    envoy = command_line({}).parse_args(['--descriptor', 'unused', '--out', 'unused'])
    line = ready_line(products_parser({}).parse_args([]), orders_parser({}).parse_args([]), envoy)
    assert line in (ROOT / 'README.md').read_text()


def test_ctrl_c_ends_make_run_with_status_0_and_no_error_line(tmp_path):
    """As typed in a terminal: Ctrl-C goes to the terminal's foreground process group. `make -o all` does not build
    first (the suite runs on what is built)."""
    _addresses, environ = moved_addresses(tmp_path)
    controller, terminal = pty.openpty()

    def take_the_terminal():  # in the new session: the pseudo-terminal becomes its controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    make = subprocess.Popen(['make', '--no-print-directory', '-o', 'all', 'run'], cwd=ROOT, env=environ,
                            stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True,
                            preexec_fn=take_the_terminal)
    os.close(terminal)
    try:
        output = Output(os.fdopen(controller, 'rb', buffering=0))
        output.wait_for('ready:', STARTS_WITHIN)
        started = process_tree(make.pid)
        os.write(controller, b'\x03')
        assert make.wait(STOPS_WITHIN) == 0, '\n'.join(output.lines[-40:])
        assert not [line for line in output.lines if line.startswith('make: ***')]
        assert alive(started) == []
    finally:
        kill_tree(make.pid)
        make.wait()


def test_a_process_that_ends_by_itself_stops_the_others_and_the_launcher_fails_naming_it(tmp_path):
    addresses, environ = moved_addresses(tmp_path)
    environ['ORDERS_METRICS_ADDRESS'] = addresses['PRODUCTS_METRICS_ADDRESS']  # taken by Products: Orders cannot start
    launcher, output = launch(environ)
    try:
        reason = output.wait_for('orders exited with status 1 by itself', STARTS_WITHIN)
        started = process_tree(launcher.pid)
        assert launcher.wait(STOPS_WITHIN) == 1
        assert 'Address already in use' in '\n'.join(output.lines[output.lines.index(reason):])
        assert not [line for line in output.lines if line.startswith('ready:')]
        assert alive(started) == []
    finally:
        kill_tree(launcher.pid)
        launcher.wait()
