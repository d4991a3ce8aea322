"""Each service's Prometheus metrics, scraped from the supervising process while two workers serve, and Envoy's: a
known workload moves every per-call and business counter by exactly what it did."""
import json
import os
import signal
import time

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from bench.processes import process_tree, running_system, start_service
from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import RestClient
from tests.metric_samples import Scrape

# The metrics' exposition and counting are the same whatever the services' database: the SQLite pass only.
pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]

PRODUCTS = 'ecommerce.products.v1.ProductService'
STOCK = 'ecommerce.products.v1.StockService'
ORDERS = 'ecommerce.orders.v1.OrderService'


@pytest.fixture(scope='module')
def system(tmp_path_factory, new_database):
    """The whole system, each service with two workers, and where each serves its metrics."""
    with running_system(tmp_path_factory.mktemp('metrics'), new_database('products'), new_database('orders'),
                        products_args=['--workers', '2'], orders_args=['--workers', '2']) as running:
        running.metrics = {name: f'127.0.0.1:{running.processes[name].wait_for_port(message="metrics")}'
                           for name in ('products', 'orders')}
        yield running


def handled(scrape, service, method, code='OK'):
    return scrape.value('grpc_server_handled_total', grpc_type='unary', grpc_service=service, grpc_method=method,
                        grpc_code=code)


def calls_in_flight(scrape, method):
    return scrape.value('grpc_server_calls_in_flight', grpc_type='server_stream', grpc_service=ORDERS,
                        grpc_method=method)


def wait_until(condition, timeout=15):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.1)


def workers(parent):
    return set(process_tree(parent)) - {parent}


def moved(before, after, name, **labels):
    return after.value(name, **labels) - before.value(name, **labels)


def test_a_known_workload_moves_each_counter_by_exactly_what_it_did(system):
    api = RestClient(system.gateway)
    product = api.post('/api/products', {'name': 'Metered Lamp', 'price': '5.00', 'stock_quantity': 10,
                                         'category': 'home'}).body
    path = f'/api/products/{product["id"]}'
    before = {name: Scrape(address) for name, address in system.metrics.items()}
    envoy_before = Scrape(system.admin, '/stats/prometheus')

    for _ in range(5):
        assert api.get(path).status == 200
    assert api.get('/api/products/999999').status == 404
    order = {'customer_name': 'Ada', 'customer_email': 'ada@example.com', 'shipping_address': 'x'}
    placed = [api.post('/api/orders', {**order, 'items': [{'product_id': product['id'], 'quantity': quantity}]})
              for quantity in (2, 3, 1)]
    assert [reply.status for reply in placed] == [201, 201, 201]
    refused = api.post('/api/orders', {**order, 'items': [{'product_id': product['id'], 'quantity': 50}]})
    assert refused.status == 400  # FAILED_PRECONDITION: 4 left
    assert api.post(f'/api/orders/{placed[0].body["id"]}/cancel').status == 200  # 2 units back
    assert api.patch(f'/api/orders/{placed[1].body["id"]}/status', {'status': 'cancelled'}).status == 200  # 3 back
    # Straight to Products, each call on a new connection, which lands on one worker or the other: the sums below
    # hold only if the scrape adds up both.
    log_offset = system.processes['products'].log_size()
    for _ in range(20):
        with grpc.insecure_channel(system.products) as channel:
            products_pb2_grpc.ProductServiceStub(channel).GetProduct(
                products_pb2.GetProductRequest(id=int(product['id'])))
    served_by = {json.loads(line)['pid'] for line in system.processes['products'].log_since(log_offset).splitlines()
                 if line.startswith('{') and '"rpc"' in line}
    assert served_by == workers(system.processes['products'].pid)

    after = {name: Scrape(address) for name, address in system.metrics.items()}
    products, orders = (before['products'], after['products']), (before['orders'], after['orders'])
    calls = [(products, PRODUCTS, 'GetProduct', 'OK', 25), (products, PRODUCTS, 'GetProduct', 'NOT_FOUND', 1),
             # One call each: the refused reservation is an outcome of its call, which succeeds.
             (products, STOCK, 'ReserveStocks', 'OK', 4),
             (products, STOCK, 'ReleaseStock', 'OK', 2), (orders, ORDERS, 'CreateOrder', 'OK', 3),
             (orders, ORDERS, 'CreateOrder', 'FAILED_PRECONDITION', 1), (orders, ORDERS, 'CancelOrder', 'OK', 1),
             (orders, ORDERS, 'UpdateOrderStatus', 'OK', 1)]
    assert [handled(after, service, method, code) - handled(before, service, method, code)
            for (before, after), service, method, code, _ in calls] == [count for *_, count in calls]
    assert moved(*products, 'grpc_server_handling_seconds_count', grpc_type='unary', grpc_service=PRODUCTS,
                 grpc_method='GetProduct') == 26
    assert after['products'].value('grpc_server_calls_in_flight', grpc_type='unary', grpc_service=PRODUCTS,
                                   grpc_method='GetProduct') == 0
    business = [(orders, 'ecommerce_orders_created_total', 3), (orders, 'ecommerce_orders_cancelled_total', 2),
                (products, 'ecommerce_stock_reservations_refused_total', 1),
                (products, 'ecommerce_stock_units_reserved_total', 6),
                (products, 'ecommerce_stock_units_released_total', 5)]
    assert [moved(*scrapes, name) for scrapes, name, _ in business] == [count for *_, count in business]
    for kind in ('placement_undone', 'cancellation_released'):
        assert moved(*orders, 'ecommerce_order_recovery_actions_total', kind=kind) == 0

    envoy_after = Scrape(system.admin, '/stats/prometheus')
    assert moved(envoy_before, envoy_after, 'envoy_cluster_upstream_rq_total', envoy_cluster_name='products') >= 6
    assert moved(envoy_before, envoy_after, 'envoy_cluster_upstream_rq_total', envoy_cluster_name='orders') >= 6


def test_a_dead_workers_open_calls_leave_the_in_flight_gauge(system):
    """An open watch counts as a call in flight until its worker dies: the parent then drops that worker's gauges."""
    parent = system.processes['orders'].pid
    with grpc.insecure_channel(system.orders) as channel:
        watch = orders_pb2_grpc.OrderServiceStub(channel).WatchOrders(orders_pb2.WatchOrdersRequest(), timeout=60)
        watch.initial_metadata()
        wait_until(lambda: calls_in_flight(Scrape(system.metrics['orders']), 'WatchOrders') == 1)
        killed = workers(parent)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(grpc.RpcError):
            next(watch)
    wait_until(lambda: len(workers(parent) - killed) == 2)
    assert calls_in_flight(Scrape(system.metrics['orders']), 'WatchOrders') == 0


def test_metrics_are_off_with_an_empty_address(tmp_path, database_url):
    process, _address = start_service('products', database_url('products'), tmp_path, ['--metrics-address', ''])
    try:
        assert '"metrics"' not in process.log()
    finally:
        process.stop()
