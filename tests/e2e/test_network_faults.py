"""Faults in the network between the parts, not in the processes: Products, Orders (and, on the PostgreSQL pass,
PostgreSQL) each on a host of its own (a network namespace, tests.network), Envoy and the clients on the test's own,
and during a storm of 32 clients placing and cancelling orders through Envoy (half native gRPC, half REST) a link is
cut for 10 s, or slowed, then healed.

While a fault lasts, every answer is a success, a refusal for want of stock, or a clear UNAVAILABLE /
DEADLINE_EXCEEDED (HTTP 503 / 504), within the caller's deadline; never INTERNAL / 500, never a hang. After the heal,
placements work again by themselves, recovery leaves every order placed or with its stock back, no unit is lost or
counted twice, the stock movements add up, and every acknowledged order and cancellation is still there.
The figures (errors during, time to recover after) are docs/reliability.md's.
"""
import contextlib
import functools
import random
import signal
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2_grpc

from bench.processes import Process, run_sql, start_envoy, start_service
from scripts.throwaway_postgres import running_postgres
from services.settings import REQUEST_TIMEOUT_SECONDS
from storage.database import utcnow
from tests.conftest import DATABASE_INDEPENDENT, TEST_DATABASE, new_product
from tests.e2e.clients import RestClient
from tests.network import ROOT, Network, unavailable_reason
from tests.stock_checks import Status, assert_reservations_match_orders, assert_stock_conserved, wait_until_settled
from tests.storm import GrpcShop, RestShop, Storm, customer

pytestmark = pytest.mark.e2e

POSTGRES = TEST_DATABASE != 'sqlite'
CLIENTS = 32  # half over native gRPC, half over REST, all through Envoy
FAULT_S = 10  # how long a link stays cut or slow
BEFORE_S = 1  # of storm before the fault
AFTER_S = 1  # of storm after placements work again
BACK_WITHIN = 10  # s after the heal, a placement has succeeded again
SETTLE_TIMEOUT = 30  # s after a fault, for recovery to finish what it left
GRPC_DEADLINE = 5  # s, each gRPC client's deadline; REST calls have Envoy's route timeout
SLACK = 1.0  # s an answer may come after its deadline (a busy 2-core machine)
# While a fault lasts, each client gets an answer at least this often on average: refusals come quickly, not when
# the caller's deadline runs out (a service stuck on a silent connection answers nothing for the whole fault).
ANSWER_EVERY_S = 3
LATENCY_S = 0.2
ORDERS_SETTINGS = ['--products-timeout', '1', '--recovery-interval', '0.5', '--stale-after', '3']
TOLERATED = {'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'FAILED_PRECONDITION'}

HOSTS = ['products', 'orders', *(['database'] if POSTGRES else [])]
LINKS = [(ROOT, 'products'), (ROOT, 'orders'), ('orders', 'products'),
         *([(ROOT, 'database'), ('database', 'products'), ('database', 'orders')] if POSTGRES else [])]


@pytest.fixture(scope='module')
def network():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f'cannot put the parts on hosts of their own here: {reason}')
    hosts = Network(HOSTS, LINKS)
    yield hosts
    hosts.remove()


@pytest.fixture(scope='module')
def database_server(network):
    """On the PostgreSQL pass, a PostgreSQL of its own on the `database` host (its URL from the test's host)."""
    if not POSTGRES:
        yield None
        return
    with running_postgres(listen='*', host=network.address('database', ROOT),
                          run_in=network.run_in('database')) as url:
        yield url


@pytest.fixture
def database_url(network, database_server, tmp_path):
    """database_url(service, host): the URL of this test's fresh database of `service`, as `host` reaches it."""
    if not POSTGRES:
        return lambda service, _host: f'sqlite:///{tmp_path}/{service}.db'
    names, port = {}, urlparse(database_server).port

    def url(service, host):
        if service not in names:
            names[service] = f'{service}_{uuid.uuid4().hex[:12]}'
            run_sql(database_server, f'CREATE DATABASE {names[service]}')
        return f'postgresql://postgres@{network.address("database", host)}:{port}/{names[service]}'
    return url


@dataclass
class Shop:
    """A running system: the addresses the test's host reaches each part at, and its processes by name."""
    products: str
    orders: str
    gateway: str
    processes: dict


@contextlib.contextmanager
def running_shop(network, database_url, folder, slowed=False):
    """Products and Orders on their hosts, listening on every address there, and Envoy on the test's; stopped in
    reverse, pass or fail. With `slowed`, Orders reaches Products through a tests.delay_relay on Orders' host
    (SIGUSR1 slows it, SIGUSR2 no more)."""
    processes = {}

    def start(service, args=()):
        processes[service], address = start_service(service, database_url(service, service), folder, args,
                                                    address='0.0.0.0:0', run_in=network.run_in(service))
        return address.rpartition(':')[2]

    try:
        products = start('products')
        to_products = f'{network.address("products", "orders")}:{products}'
        if slowed:
            processes['relay'] = Process('relay', [*network.run_in('orders'), sys.executable, '-m', 'tests.delay_relay',
                                                   '--target', to_products, '--delay', str(LATENCY_S)],
                                         folder / 'relay.log')
            to_products = f'127.0.0.1:{processes["relay"].wait_for_port()}'
        orders = start('orders', ['--products-address', to_products, *ORDERS_SETTINGS])
        shop = Shop(f'{network.address("products", ROOT)}:{products}', f'{network.address("orders", ROOT)}:{orders}',
                    None, processes)
        processes['envoy'], shop.gateway, _admin = start_envoy(folder, shop.products, shop.orders)
        yield shop
    finally:
        for process in reversed(processes.values()):
            process.stop()


@dataclass
class Fault:
    """A fault of the network: its name in the figures, and how it begins and ends."""
    name: str
    begin: Callable[[], object]
    end: Callable[[], object]


@dataclass
class Outcome:
    """What the storm showed of one fault: the answers to calls made while it lasted, and how long after its end a
    placement succeeded again."""
    fault: Fault
    during: list  # of tests.storm.Answer
    back_after: float
    settled_after: float  # s from the fault's end until every order begun before it was placed or given back

    def figures(self):
        codes = Counter(answer.code for answer in self.during)
        slowest = max((answer.ended - answer.started for answer in self.during), default=0.0)
        return dict(fault=self.fault.name, fault_s=FAULT_S, answers_during=len(self.during), ok_during=codes['OK'],
                    unavailable_during=codes['UNAVAILABLE'], deadline_exceeded_during=codes['DEADLINE_EXCEEDED'],
                    slowest_during_s=round(slowest, 2), placing_again_after_s=round(self.back_after, 2),
                    settled_after_s=round(self.settled_after, 2))


def storm_through(shop, database_url, faults, figures, seed):
    """Run the storm of CLIENTS through Envoy and, after BEFORE_S, each of `faults` in turn for FAULT_S, the next
    one once a placement has succeeded again (within BACK_WITHIN), recovery has settled every order begun before
    the fault ended (within SETTLE_TIMEOUT), and AFTER_S more; then check every promise the module's docstring
    makes, and record the figures. Returns an Outcome per fault."""
    rng = random.Random(seed)
    with grpc.insecure_channel(shop.products) as products_channel, \
            grpc.insecure_channel(shop.orders) as orders_channel, \
            grpc.insecure_channel(shop.gateway) as gateway_channel:
        products_stub = products_pb2_grpc.ProductServiceStub(products_channel)
        orders_stub = orders_pb2_grpc.OrderServiceStub(orders_channel)
        # Stock to spare: the storm measures the network's faults, not a sold-out shelf.
        initial = {new_product(products_stub, name=f'P{i}', stock=10_000).id: 10_000 for i in range(8)}
        storm = Storm(TOLERATED)
        shops = [GrpcShop(gateway_channel, GRPC_DEADLINE) if n % 2 else
                 RestShop(RestClient(shop.gateway, timeout=REQUEST_TIMEOUT_SECONDS + 5), REQUEST_TIMEOUT_SECONDS)
                 for n in range(CLIENTS)]
        threads = [storm.thread(customer, storm, client, list(initial), random.Random(rng.random()))
                   for client in shops]
        for thread in threads:
            thread.start()
        outcomes, lasting = [], None
        try:
            time.sleep(BEFORE_S)
            for fault in faults:
                began, lasting = time.monotonic(), fault
                fault.begin()
                time.sleep(FAULT_S)
                fault.end()
                ended, ended_utc, lasting = time.monotonic(), utcnow(), None
                back_after = placing_again(storm, ended)
                wait_until_settled(database_url('orders', ROOT), SETTLE_TIMEOUT, created_before=ended_utc)
                outcomes.append(Outcome(fault, storm.between(began, ended), back_after, time.monotonic() - ended))
                time.sleep(AFTER_S)
        finally:
            if lasting is not None:
                lasting.end()  # whatever went wrong, so that the processes can be stopped
            storm.over.set()
            for thread in threads:
                thread.join()
        assert not storm.unexpected, storm.unexpected[:5]
        late = [answer for answer in storm.answers if answer.ended - answer.started > answer.deadline + SLACK]
        assert not late, late[:5]
        for outcome in outcomes:
            assert len(outcome.during) >= CLIENTS * FAULT_S / ANSWER_EVERY_S, outcome.figures()

        settled_in = wait_until_settled(database_url('orders', ROOT), SETTLE_TIMEOUT)
        assert_stock_conserved(products_stub, orders_stub, initial, timeout=5)
        for order_id, items in storm.placed.items():
            order = orders_stub.GetOrder(orders_pb2.GetOrderRequest(id=order_id), timeout=5)
            assert [(item.product_id, item.quantity) for item in order.items] == items, order
            if order_id in storm.cancelled:
                assert order.status == Status.CANCELLED, order
        assert_reservations_match_orders(database_url('orders', ROOT), database_url('products', ROOT), initial)
    # What went wrong is the network's doing, and each service says so in a warning, not with a traceback.
    errors = [line for name in ('products', 'orders') for line in shop.processes[name].log().splitlines()
              if '"level": "ERROR"' in line]
    assert not errors, errors[:3]
    for outcome in outcomes:
        figures(seed=seed, clients=CLIENTS, **outcome.figures())
    figures(seed=seed, requests=len(storm.answers), orders_acknowledged=len(storm.placed),
            cancellations_acknowledged=len(storm.cancelled), all_settled_after_storm_s=settled_in)
    return outcomes


def placing_again(storm, since):
    """Seconds from `since` to the first successful placement started after it; fails after BACK_WITHIN."""
    while True:
        placed = [answer.ended for answer in storm.between(since, time.monotonic())
                  if answer.call == 'place' and answer.code == 'OK']
        if placed:
            return min(placed) - since
        assert time.monotonic() - since < BACK_WITHIN, f'no placement succeeded within {BACK_WITHIN} s of the heal'
        assert not storm.over.is_set(), storm.unexpected[:5]
        time.sleep(0.05)


# Orders and Products cut off from each other on the SQLite pass; on the PostgreSQL pass, PostgreSQL from each
# service instead (the services' own link does not depend on the database: cut once, as the latency below is added).
CUTS = [('database', 'products'), ('database', 'orders')] if POSTGRES else [('orders', 'products')]


def test_links_cut_one_after_another_are_refused_cleanly_and_healed_by_themselves(
        network, database_url, tmp_path, figures):
    """Every packet on a link dropped for 10 s, both ways, one link after another during one storm: calls that need
    the link are refused as unavailable (Orders' deadline on Products is 1 s; a lost database connection is found
    within seconds, then calls are refused at once), and recovery gives back what they left."""
    seed = random.SystemRandom().randrange(10**6)
    faults = [Fault(f'{first}-{second} cut', functools.partial(network.cut, first, second),
                    functools.partial(network.heal, first, second)) for first, second in CUTS]
    with running_shop(network, database_url, tmp_path) as shop:
        outcomes = storm_through(shop, database_url, faults, figures, seed)
    for outcome in outcomes:  # each cut really bit
        placements = Counter(answer.code for answer in outcome.during if answer.call == 'place')
        assert placements['UNAVAILABLE'] + placements['DEADLINE_EXCEEDED'] >= CLIENTS, outcome.figures()


# Latency between the services adds to their calls, not to the database's round trips: the SQLite pass only, as the
# cut between them above.
@DATABASE_INDEPENDENT
def test_latency_from_orders_to_products_slows_placements_and_fails_none(network, database_url, tmp_path, figures):
    """200 ms added to everything Orders sends Products for 10 s (a relay on Orders' host: this kernel has no netem):
    within Orders' 1 s deadline on Products, so placements take longer and none fails."""
    seed = random.SystemRandom().randrange(10**6)
    with running_shop(network, database_url, tmp_path, slowed=True) as shop:
        relay = shop.processes['relay'].popen
        slow = Fault('orders-products +200 ms', functools.partial(relay.send_signal, signal.SIGUSR1),
                     functools.partial(relay.send_signal, signal.SIGUSR2))
        [outcome] = storm_through(shop, database_url, [slow], figures, seed)
    placements = [answer for answer in outcome.during if answer.call == 'place']
    assert {answer.code for answer in placements} <= {'OK', 'FAILED_PRECONDITION'}, outcome.figures()
    assert statistics.median(answer.ended - answer.started for answer in placements) >= LATENCY_S
