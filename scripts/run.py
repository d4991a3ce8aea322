"""`make run`: Products, then Orders, then Envoy, each started once the one before serves; one line with every address
once Envoy can reach both services; Ctrl-C or SIGTERM stops all three."""
import collections
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.processes import DESCRIPTOR, ROOT, EnvoyMissing, envoy_binary, envoy_command, most_open_files
from scripts import gateway
from services.orders.__main__ import parser as orders_parser
from services.products.__main__ import parser as products_parser
from services.settings import CommandLine

# Envoy's configuration for the addresses in effect, written at every start.
ENVOY_CONFIG = ROOT / 'build' / 'envoy-run.yaml'
NAME_WIDTH = len('products')  # the longest name, so that the lines of all three line up
LAST_LINES = 20  # of a process that ended by itself, shown again under the reason
POLL_S = 0.1
# How long a process may take to end after SIGTERM beyond the services' grace for calls in flight (--grace), before
# it is killed.
STOP_MARGIN_S = 5
PRINTING = threading.Lock()
PR_SET_PDEATHSIG = 1  # prctl(2)


def say(line):
    with PRINTING:
        print(line, flush=True)


def die_with_this_process():
    """In a child about to start: SIGTERM when this process ends, however (SIGKILL included), so that none of the
    three outlives it."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One of the three processes, in a session of its own: only this process signals it, once (a Ctrl-C from the
    terminal as well would reach a service again as it ends, and kill it). Each line of its output goes to the
    terminal behind its name, and the last few are kept. `before_exec` runs in the child too."""

    def __init__(self, name, command, before_exec=None):
        def prepare():
            die_with_this_process()
            if before_exec:
                before_exec()

        self.name = name
        self.last_lines = collections.deque(maxlen=LAST_LINES)
        self.popen = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=prepare)
        self._relay = threading.Thread(target=self._relay_output, daemon=True)
        self._relay.start()

    def _relay_output(self):
        for line in self.popen.stdout:
            text = line.decode(errors='replace').rstrip()
            self.last_lines.append(text)
            say(f'{self.name:<{NAME_WIDTH}} | {text}')

    def ending(self):
        """How it ended, in words: 'exited with status 1', 'was killed by SIGKILL'."""
        returncode = self.popen.returncode
        return (f'was killed by {signal.Signals(-returncode).name}' if returncode < 0
                else f'exited with status {returncode}')

    def output_read(self):
        """Once it ended: wait (briefly) until its last lines are out."""
        self._relay.join(timeout=1)


class Stopped(Exception):
    """SIGINT or SIGTERM arrived."""


class Died(Exception):
    """A process ended by itself."""


class Processes:
    """The processes started so far, in order, and whether a stop signal arrived."""

    def __init__(self):
        self.children = []
        self.stop_requested = threading.Event()

    def start(self, name, command, before_exec=None):
        self.children.append(Child(name, command, before_exec))

    def wait_until(self, condition):
        """Poll `condition` until it holds; Stopped on a stop signal, Died (with the Child) when one ended."""
        while True:
            if self.stop_requested.is_set():
                raise Stopped
            for child in self.children:
                if child.popen.poll() is not None:
                    raise Died(child)
            if condition():
                return
            time.sleep(POLL_S)

    def stop(self, timeout):
        """SIGTERM to each one still running, Envoy first; wait for all, killing any still running after `timeout`
        seconds. The children that did not end with status 0."""
        for child in reversed(self.children):
            if child.popen.poll() is None:
                child.popen.terminate()
        deadline = time.monotonic() + timeout
        for child in self.children:
            try:
                child.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f'{child.name} did not stop within {timeout:g} s: killing it')
                child.popen.kill()
                child.popen.wait()
            child.output_read()
        return [child for child in self.children if child.popen.returncode != 0]


def serving(address):
    """Whether the gRPC server at `address` answers its health check with SERVING."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def envoy_ready(admin):
    """Whether Envoy, whose admin interface is at `admin`, is ready and its health checks find every endpoint of
    every cluster healthy: until then a call may get a 503."""
    try:
        with urllib.request.urlopen(f'http://{admin}/ready', timeout=1):
            pass
        with urllib.request.urlopen(f'http://{admin}/clusters', timeout=1) as reply:
            clusters = reply.read().decode()
    except OSError:  # not listening yet, or 503 while it starts
        return False
    # One line per endpoint: products::127.0.0.1:50051::health_flags::healthy (else the reasons it is not).
    flags = [line.rpartition('::')[2] for line in clusters.splitlines() if '::health_flags::' in line]
    return bool(flags) and all(flag == 'healthy' for flag in flags)


def metrics_url(address):
    return f'http://{address}/metrics' if address else 'none'


def ready_line(products, orders, envoy):
    """The line that says all three serve, and where: the services' and Envoy's parsed flags."""
    return (f'ready: REST and gRPC at {envoy.listen}, admin console http://{envoy.listen}/admin/, '
            f'Products at {products.address}, Orders at {orders.address}, '
            f'metrics {metrics_url(products.metrics_address)} (Products) and '
            f'{metrics_url(orders.metrics_address)} (Orders), Envoy admin http://{envoy.admin}/. '
            'Ctrl-C stops all three.')


def hand_terminal(terminal, group):
    """Make `group` the terminal's foreground process group; a process outside it may only while ignoring SIGTTOU."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(terminal, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


@contextlib.contextmanager
def terminal_of_our_own(terminal=0):
    """Run in a process group of our own, the terminal's foreground group, then give the terminal back. Ctrl-C then
    reaches this process alone (which stops the three), not `make`, which would die of it and report the run as
    failed ("make: *** [Makefile:52: run] Interrupt") however cleanly all three stopped. Ctrl-Z is ignored
    meanwhile: it would stop this process but not `make`, on which the shell waits. Nothing changes without a
    terminal, in the background, or when this process leads its group already (run by a shell, with nothing in
    between)."""
    if not os.isatty(terminal) or os.tcgetpgrp(terminal) != os.getpgrp() or os.getpgrp() == os.getpid():
        yield
        return
    callers_group = os.getpgrp()
    os.setpgid(0, 0)
    signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    hand_terminal(terminal, os.getpgrp())
    try:
        yield
    finally:
        hand_terminal(terminal, callers_group)


def run(products, orders, envoy):
    """Start all three (`products`, `orders`, `envoy`: their parsed flags), say when they are ready, stop them all
    on a stop signal or when one ends; the exit status."""
    processes = Processes()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: processes.stop_requested.set())
    died = None
    try:
        processes.start('products', [sys.executable, '-m', 'services.products'])
        processes.wait_until(lambda: serving(products.address))
        processes.start('orders', [sys.executable, '-m', 'services.orders'])
        processes.wait_until(lambda: serving(orders.address))
        processes.start('envoy', envoy_command(envoy.out), before_exec=most_open_files)
        processes.wait_until(lambda: envoy_ready(envoy.admin))
        say(ready_line(products, orders, envoy))
        processes.wait_until(lambda: False)
    except Stopped:
        pass
    except Died as ended:
        [died] = ended.args
        died.output_read()
        say(f'{died.name} {died.ending()} by itself; its last lines:\n' +
            '\n'.join(f'    {line}' for line in died.last_lines) + '\nstopping the others')
    unclean = processes.stop(max(products.grace, orders.grace) + STOP_MARGIN_S)
    for child in unclean:
        if child is not died:
            say(f'{child.name} {child.ending()} on stopping')
    return 1 if died or unclean else 0


def main(argv=None):
    CommandLine(
        prog='python -m scripts.run', description=__doc__,
        epilog='Every process reads its settings from the environment as it does when run by itself: '
               'python -m services.products --help, python -m services.orders --help, '
               "python -m scripts.gateway --help (Envoy's configuration)").parse_args(argv)
    products = products_parser(os.environ).parse_args([])
    orders = orders_parser(os.environ).parse_args([])
    try:
        envoy_binary()  # before anything starts
    except EnvoyMissing as missing:
        sys.exit(f'error: {missing}')
    envoy_command_line = gateway.command_line(os.environ)
    envoy = envoy_command_line.parse_args(['--descriptor', str(DESCRIPTOR), '--out', str(ENVOY_CONFIG)])
    gateway.write_configuration(envoy_command_line, envoy)
    with terminal_of_our_own():
        status = run(products, orders, envoy)
    sys.exit(status)


if __name__ == '__main__':
    main()
