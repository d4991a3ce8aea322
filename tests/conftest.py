"""Fixtures, from the bottom up: temp databases → real servers on free ports → stubs → the whole system."""
import contextlib
import json
import os
import signal
import uuid
from functools import partial

import grpc
import pytest
from ecommerce.cli.main import app as ecommerce_app
from ecommerce.orders.v1 import orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc, stock_pb2_grpc
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

# The benchmark starts the system the same way: one copy of the process plumbing, in bench/processes.py.
from bench.processes import run_sql, running_system, start_service
from scripts import tokens
from services.orders.service import create_server as create_orders_server
from services.products.service import create_server as create_products_server
from storage import orders as orders_storage
from storage import products as products_storage
from storage.database import bind
from tests.servers import event_loop, serving

# Which database backend the whole suite runs on: 'sqlite' (the default) or the postgresql:// URL of a
# server where each test gets fresh databases. `make test` runs the suite once with each.
TEST_DATABASE = os.environ.get('ECOMMERCE_TEST_DATABASE', 'sqlite')
# A module whose tests do not depend on the database (the gateway's edge, say) runs on the SQLite pass only.
DATABASE_INDEPENDENT = pytest.mark.skipif(TEST_DATABASE != 'sqlite',
                                          reason='does not depend on the database: run on the SQLite pass only')


def pytest_report_header():
    shown = 'SQLite' if TEST_DATABASE == 'sqlite' else f'PostgreSQL at {TEST_DATABASE}'
    return f'database backend under test: {shown}'


# Property-based tests: a bounded number of examples each, no time limit per example (a call to a real server
# varies), the same examples on every CI run, and no example database written into the repository.
# Servers from function-scoped fixtures are shared by a test's examples on purpose: each example checks the data.
settings.register_profile('ecommerce', max_examples=40, deadline=None, database=None,
                          derandomize=bool(os.environ.get('CI')),
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile('ecommerce')

_FIGURES = []


@pytest.fixture
def figures(request):
    """figures(**numbers): record what a reliability test proved (clients, requests, kills survived ...);
    the run's summary prints every test's figures, so the CI log shows what was proven, not just 'passed'."""
    return lambda **numbers: record_figures(request.node.nodeid, **numbers)


def record_figures(label, **numbers):
    _FIGURES.append((label, numbers))


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section(f'figures of the reliability tests ({TEST_DATABASE.split(":")[0]})')
        for test, numbers in _FIGURES:
            terminalreporter.write_line(f'{test}: ' + ', '.join(f'{key}={value}' for key, value in numbers.items()))


@pytest.fixture(scope='session')
def new_database(tmp_path_factory):
    """new_database(name): the URL of a fresh, empty database on the backend under test."""
    if TEST_DATABASE == 'sqlite':
        yield lambda name: f'sqlite:///{tmp_path_factory.mktemp("db")}/{name}.db'
        return
    created = []

    def fresh_database(name):
        created.append(f'{name}_{uuid.uuid4().hex[:12]}')
        run_sql(TEST_DATABASE, f'CREATE DATABASE {created[-1]}')
        return TEST_DATABASE.rsplit('/', 1)[0] + '/' + created[-1]

    yield fresh_database
    # A throwaway server (scripts.throwaway_postgres) is removed whole right after: dropping its few hundred databases
    # one by one took 50 s.
    if os.environ.get('ECOMMERCE_TEST_DATABASE_THROWAWAY') != '1':
        for database in created:
            run_sql(TEST_DATABASE, f'DROP DATABASE IF EXISTS {database} WITH (FORCE)')


@pytest.fixture
def database_url(new_database):
    """database_url(name): the URL of this test's database `name`, fresh and empty on first use."""
    urls = {}

    def url(name):
        if name not in urls:
            urls[name] = new_database(name)
        return urls[name]

    return url


@contextlib.contextmanager
def bound_storage(storage_module, url):
    """storage_module's models bound to the database at `url` in this process, connected meanwhile;
    also how a test reads a subprocess's database directly."""
    database = bind(storage_module.database, url, storage_module.MODELS)
    try:
        with database.connection_context():
            yield database
    finally:
        database.close_all()


@pytest.fixture
def products_db(database_url):
    """The Products storage bound to a fresh database, for tests below the gRPC layer."""
    with bound_storage(products_storage, database_url('products')) as database:
        yield database


@pytest.fixture
def orders_db(database_url):
    with bound_storage(orders_storage, database_url('orders')) as database:
        yield database


@pytest.fixture
def loop():
    """An event loop in a thread of its own, for the async parts of our services called from a test."""
    with event_loop() as loop:
        yield loop


@pytest.fixture
def products_address(database_url):
    """A real Products server on a free port over a fresh database."""
    with serving(create_products_server('127.0.0.1:0', database_url('products'))) as (_server, port, _health):
        yield f'127.0.0.1:{port}'
    products_storage.database.close_all()


@pytest.fixture
def orders_address(database_url, products_address):
    """A real Orders server talking to the real Products server, with the service's own deadlines (a shorter one
    to Products made tests fail when the machine was busy)."""
    with serving(create_orders_server('127.0.0.1:0', database_url('orders'),
                                      products_address)) as (_server, port, _health, _background):
        yield f'127.0.0.1:{port}'
    orders_storage.database.close_all()


@pytest.fixture
def products_stub(products_address):
    with grpc.insecure_channel(products_address) as channel:
        yield products_pb2_grpc.ProductServiceStub(channel)


@pytest.fixture
def stock_stub(products_address):
    with grpc.insecure_channel(products_address) as channel:
        yield stock_pb2_grpc.StockServiceStub(channel)


@pytest.fixture
def orders_stub(orders_address):
    with grpc.insecure_channel(orders_address) as channel:
        yield orders_pb2_grpc.OrderServiceStub(channel)


@pytest.fixture
def ecommerce(products_address, orders_address):
    """ecommerce(*args): the `ecommerce` command run in this process (Typer's CliRunner) against this test's
    servers, in a terminal 200 columns wide; returns the Result (exit_code, stdout, stderr)."""
    def run(*args):
        return CliRunner().invoke(ecommerce_app, ['--products-address', products_address,
                                                  '--orders-address', orders_address, *map(str, args)],
                                  env={'COLUMNS': '200'})
    return run


def health_status(address, service=''):
    """What the standard health service on `address` answers for `service` (raises RpcError for NOT_FOUND)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    with grpc.insecure_channel(address) as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status


def new_product(stub, name='Widget', price='9.99', stock=10, category=products_pb2.Product.ELECTRONICS, **fields):
    """Create a product through the API and return it."""
    return stub.CreateProduct(products_pb2.CreateProductRequest(product=products_pb2.Product(
        name=name, price=price, stock_quantity=stock, category=category, **fields)))


# --- the whole system as subprocesses: Products, Orders and the real Envoy -------------------------

class RestartableService:
    """A service subprocess that can be killed and started again on the port its first start got, so that
    channels to it reconnect by themselves."""

    def __init__(self, name, database_url, log_folder, extra_args=()):
        self._start = partial(start_service, name, database_url, log_folder, extra_args)
        process, self.address = self._start()
        self.processes = [process]  # every start, the running one last

    @property
    def process(self):
        return self.processes[-1]

    def kill(self):
        self.process.stop(signal.SIGKILL)

    def restart(self):
        self.processes.append(self._start(address=self.address)[0])

    def stop(self):
        return self.process.stop()

    def log_entries(self):
        """The JSON log lines of every start, parsed. A start that was killed (every one but the last) may have been
        cut in the middle of writing a line: such a fragment is left out; every line of the last start must parse."""
        entries = []
        for process in self.processes:
            for line in process.log().splitlines():
                if line.startswith('{'):
                    try:
                        entries.append(json.loads(line))
                    except ValueError:
                        if process is self.process:
                            raise
        return entries


@pytest.fixture
def run_service(tmp_path):
    """run_service(name, database_url, extra_args=()): a RestartableService on a free port, stopped
    (SIGTERM) at the end of the test, pass or fail."""
    started = []

    def run(name, database_url, extra_args=()):
        started.append(RestartableService(name, database_url, tmp_path, extra_args))
        return started[-1]

    yield run
    for service in reversed(started):
        service.stop()


@pytest.fixture(scope='module')
def system(tmp_path_factory, new_database):
    """Products, Orders and the real Envoy as subprocesses on free ports (bench.processes.System), stopped at the
    end."""
    with running_system(tmp_path_factory.mktemp('system'), new_database('products'), new_database('orders')) as running:
        yield running


@pytest.fixture(scope='session')
def auth_keys(tmp_path_factory):
    """A folder with a JWKS (jwks.json) and the private key that signs for it (signing-key.json)."""
    folder = tmp_path_factory.mktemp('auth')
    tokens.new_key(folder)
    return folder


@pytest.fixture(scope='module')
def secure_system(tmp_path_factory, new_database, auth_keys):
    """The whole system as `system`, with both services checking tokens against auth_keys' JWKS."""
    env = {'AUTH_JWKS': str(auth_keys / tokens.JWKS), 'ORDERS_SERVICE_KEY': str(auth_keys / tokens.SIGNING_KEY)}
    with running_system(tmp_path_factory.mktemp('secure'), new_database('products'), new_database('orders'),
                        env=env) as running:
        yield running
