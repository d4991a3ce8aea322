"""The standard grpc.health.v1 service on both servers, and what SIGTERM does to a running service."""
import signal
import threading
import time
from concurrent import futures

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import stock_pb2, stock_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import DATABASE_INDEPENDENT, start_service

pytestmark = pytest.mark.e2e

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PRODUCTS = 'ecommerce.products.v1.ProductService'
ORDERS = 'ecommerce.orders.v1.OrderService'
GRACE_SECONDS = 10  # the services' default --grace


@pytest.fixture
def health_of():
    """health_of(address): a Health stub on its own channel, closed after the test."""
    channels = []

    def stub(address):
        channels.append(grpc.insecure_channel(address))
        return health_pb2_grpc.HealthStub(channels[-1])

    yield stub
    for channel in channels:
        channel.close()


# Health answers the same whatever the database: the SQLite pass only (the only tests here that start `system`).
@DATABASE_INDEPENDENT
@pytest.mark.parametrize('server, service', [('products', PRODUCTS), ('orders', ORDERS)])
def test_health_is_serving_for_the_server_and_for_its_service(system, health_of, server, service):
    health = health_of(getattr(system, server))
    for name in ('', service):
        response = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert response.status == SERVING, name


@DATABASE_INDEPENDENT
@pytest.mark.parametrize('server, unknown', [
    ('products', 'ecommerce.products.v1.NoSuchService'),
    ('products', ORDERS),  # each server answers for its own service only
    ('orders', PRODUCTS),
])
def test_health_of_an_unknown_service_is_not_found(system, health_of, server, unknown):
    with pytest.raises(grpc.RpcError) as raised:
        health_of(getattr(system, server)).Check(health_pb2.HealthCheckRequest(service=unknown), timeout=5)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def next_status(watch, timeout=10):
    """The next status a Watch stream sends, or a failure after `timeout` seconds."""
    with futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(next, watch).result(timeout).status


def test_sigterm_reports_not_serving_then_exits_0(tmp_path, database_url, health_of):
    # One worker: this is the protocol of one server (tests/e2e/test_workers.py stops several).
    process, address = start_service('products', database_url('products'), tmp_path, ['--workers', '1'])
    try:
        health = health_of(address)
        watches = [health.Watch(health_pb2.HealthCheckRequest(service=name)) for name in ('', PRODUCTS)]
        assert [next_status(watch) for watch in watches] == [SERVING, SERVING]

        started = time.monotonic()
        process.popen.send_signal(signal.SIGTERM)
        assert [next_status(watch) for watch in watches] == [NOT_SERVING, NOT_SERVING]
        for watch in watches:
            watch.cancel()  # an open Watch is a call in flight: the server would wait the grace period for it
        assert process.popen.wait(GRACE_SECONDS + 5) == 0, process.log()
        assert time.monotonic() - started < GRACE_SECONDS
        assert '"stopped"' in process.log()
    finally:
        process.stop()


class SlowProducts(stock_pb2_grpc.StockServiceServicer):
    """A stand-in Products whose ReserveStocks holds until the test lets it answer."""

    def __init__(self):
        self.entered = threading.Event()
        self.proceed = threading.Event()

    def ReserveStocks(self, request, context):
        self.entered.set()
        self.proceed.wait(30)
        return stock_pb2.ReserveStocksResponse(outcomes=[stock_pb2.ReservationOutcome(
            reserved=stock_pb2.ReserveStockResponse(reservation_id=entry.reservation.reservation_id, lines=[
                stock_pb2.ReservedLine(product_id=line.product_id, quantity=line.quantity,
                                       product_name='Slow Lamp', unit_price='12.50')
                for line in entry.reservation.lines])) for entry in request.reservations])


@pytest.fixture
def slow_products():
    servicer = SlowProducts()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    stock_pb2_grpc.add_StockServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port('127.0.0.1:0')
    server.start()
    yield servicer, f'127.0.0.1:{port}'
    servicer.proceed.set()
    server.stop(0).wait()


def assert_new_calls_refused(address, timeout=5):
    """New calls fail UNAVAILABLE once the server stops accepting them, which follows NOT_SERVING closely."""
    deadline = time.monotonic() + timeout
    while True:
        with grpc.insecure_channel(address) as channel:
            try:
                orders_pb2_grpc.OrderServiceStub(channel).GetOrder(orders_pb2.GetOrderRequest(id=1), timeout=2)
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
        if code == grpc.StatusCode.UNAVAILABLE:
            return
        assert time.monotonic() < deadline, f'new calls still answered ({code}) {timeout} s after SIGTERM'
        time.sleep(0.05)


def test_a_call_in_flight_at_sigterm_finishes(tmp_path, database_url, health_of, slow_products):
    slow, products_address = slow_products
    process, address = start_service('orders', database_url('orders'), tmp_path,
                                     ['--products-address', products_address, '--workers', '1'])
    try:
        watch = health_of(address).Watch(health_pb2.HealthCheckRequest(service=ORDERS))
        assert next_status(watch) == SERVING
        with grpc.insecure_channel(address) as channel:
            in_flight = orders_pb2_grpc.OrderServiceStub(channel).CreateOrder.future(orders_pb2.CreateOrderRequest(
                customer_name='Ada', customer_email='ada@example.com', shipping_address='12 Analytical Row',
                items=[orders_pb2.OrderItemRequest(product_id=7, quantity=2)]), timeout=30)
            assert slow.entered.wait(10), process.log()

            process.popen.send_signal(signal.SIGTERM)
            assert next_status(watch) == NOT_SERVING
            watch.cancel()
            assert not in_flight.done()
            assert_new_calls_refused(address)  # while the one in flight may still finish
            assert process.popen.poll() is None

            slow.proceed.set()
            order = in_flight.result(timeout=15)
        assert (order.status, order.total_amount) == (orders_pb2.Order.PENDING, '25.00')
        assert [(item.product_name, item.quantity, item.subtotal) for item in order.items] == [
            ('Slow Lamp', 2, '25.00')]
        assert process.popen.wait(GRACE_SECONDS + 5) == 0, process.log()
    finally:
        process.stop()
    # The order answered during shutdown was stored: a new Orders process over the same database has it.
    restarted, address = start_service('orders', database_url('orders'), tmp_path,
                                       ['--products-address', products_address])
    try:
        with grpc.insecure_channel(address) as channel:
            assert orders_pb2_grpc.OrderServiceStub(channel).GetOrder(orders_pb2.GetOrderRequest(id=order.id)) == order
    finally:
        restarted.stop()


def test_sigterm_ends_open_watches_at_once_telling_them_where_to_resume(tmp_path, database_url):
    """A watch never ends by itself: at SIGTERM it ends with UNAVAILABLE and the event id to resume from, so the
    service stops without waiting out its grace period and the client watches again elsewhere."""
    process, address = start_service('orders', database_url('orders'), tmp_path,
                                     ['--products-address', '127.0.0.1:1', '--workers', '1'])
    try:
        with grpc.insecure_channel(address) as channel:
            watch = orders_pb2_grpc.OrderServiceStub(channel).WatchOrders(orders_pb2.WatchOrdersRequest(), timeout=60)
            watch.initial_metadata()  # the watch is under way
            started = time.monotonic()
            process.popen.send_signal(signal.SIGTERM)
            with pytest.raises(grpc.RpcError) as raised:
                next(watch)
            ended = time.monotonic() - started
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert 'watch again with after_event_id=0' in raised.value.details()
        assert ended < 3
        assert process.popen.wait(GRACE_SECONDS) == 0, process.log()
        assert time.monotonic() - started < GRACE_SECONDS / 2
    finally:
        process.stop()
