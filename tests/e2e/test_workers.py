"""--workers N: N processes serve one port, die with their parent, and are replaced when one dies; Orders' calls to
Products are spread over several connections, which the kernel hands to its workers."""
import contextlib
import os
import signal
import time
from pathlib import Path

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from services.orders.service import PRODUCTS_CONNECTIONS
from tests.conftest import new_product
from tests.stock_checks import order_request

pytestmark = pytest.mark.e2e


def children(pid):
    """Pids of the live child processes of `pid`."""
    found = set()
    for task in Path(f'/proc/{pid}/task').glob('*'):
        with contextlib.suppress(OSError):
            found.update(int(child) for child in (task / 'children').read_text().split())
    return found


def alive(pid):
    try:
        return Path(f'/proc/{pid}/stat').read_text().split(') ')[1][0] != 'Z'
    except OSError:
        return False


def wait_until(condition, timeout=15):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.fixture
def two_workers(run_service, database_url):
    service = run_service('products', database_url('products'), ['--workers', '2'])
    wait_until(lambda: len(children(service.process.popen.pid)) == 2
               and len({entry['pid'] for entry in service.log_entries() if entry.get('message') == 'serving'}) == 2)
    return service


def serving_pids(service):
    return {entry['pid'] for entry in service.log_entries() if entry.get('message') == 'rpc'}


def test_both_workers_serve_the_one_port(two_workers):
    for _ in range(40):  # each new connection lands on one worker or the other
        with grpc.insecure_channel(two_workers.address) as channel:
            products_pb2_grpc.ProductServiceStub(channel).ListProducts(products_pb2.ListProductsRequest())
    assert serving_pids(two_workers) == children(two_workers.process.popen.pid)


def test_orders_calls_products_over_several_connections_in_turn(run_service, database_url):
    """The kernel hands each connection to one of Products' workers: over a single connection, every stock call of
    an Orders worker would go to the same Products worker."""
    products = run_service('products', database_url('products'), ['--workers', '1'])
    orders = run_service('orders', database_url('orders'), ['--workers', '1', '--products-address', products.address])
    with grpc.insecure_channel(products.address) as channel:
        product = new_product(products_pb2_grpc.ProductServiceStub(channel), stock=100)
    with grpc.insecure_channel(orders.address) as channel:
        for _ in range(2 * PRODUCTS_CONNECTIONS):
            orders_pb2_grpc.OrderServiceStub(channel).CreateOrder(order_request([(product.id, 1)]), timeout=10)
    peers = [entry['peer'] for entry in products.log_entries()
             if entry.get('message') == 'rpc' and entry['method'].endswith('/ReserveStocks')]
    assert len(peers) == 2 * PRODUCTS_CONNECTIONS
    assert len(set(peers)) == PRODUCTS_CONNECTIONS > 1


def test_a_worker_that_dies_is_replaced(two_workers):
    parent = two_workers.process.popen.pid
    first, second = sorted(children(parent))
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: len(children(parent)) == 2 and first not in children(parent))
    assert second in children(parent)
    assert any(entry.get('message') == 'worker died; starting another' for entry in two_workers.log_entries())
    with grpc.insecure_channel(two_workers.address) as channel:
        assert products_pb2_grpc.ProductServiceStub(channel).ListProducts(
            products_pb2.ListProductsRequest(), timeout=10).total_size == 0


def test_workers_die_with_a_killed_parent(two_workers):
    parent = two_workers.process.popen.pid
    workers = children(parent)
    os.kill(parent, signal.SIGKILL)  # not Process.stop(), which would also clear the parent's session
    wait_until(lambda: not any(alive(pid) for pid in workers))


def test_sigterm_stops_every_worker_and_exits_0(two_workers):
    workers = children(two_workers.process.popen.pid)
    assert two_workers.stop() == 0
    assert not any(alive(pid) for pid in workers)
    stopped = [entry['pid'] for entry in two_workers.log_entries() if entry.get('message') == 'stopped']
    assert sorted(stopped) == sorted(workers)
