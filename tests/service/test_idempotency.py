"""CreateOrder with a request_id (AIP-155): a retry returns the first call's order, its stock taken once."""
import datetime
import threading
import time
import uuid
from concurrent import futures

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, stock_pb2_grpc

from services.errors import Unavailable
from services.orders import rules
from services.orders.service import create_server as create_orders_server
from storage import orders as orders_storage
from storage.orders import Order as OrderRow
from tests.conftest import new_product
from tests.rpc_errors import error_details
from tests.servers import serving
from tests.service.test_orders_service import (
    desk_calling,
    order_count,
    order_request,
    order_rows,
    orders_through,
    rpc_error,
    stock,
)


def with_request_id(request_id, *items, **fields):
    request = order_request(*items, **fields)
    request.request_id = request_id
    return request


def test_a_retry_returns_the_same_order_and_takes_the_stock_once(orders_stub, products_stub):
    a, b = new_product(products_stub, name='A', stock=10), new_product(products_stub, name='B', stock=10)
    request = with_request_id(str(uuid.uuid4()), (a.id, 3), (b.id, 1))
    first = orders_stub.CreateOrder(request)
    again = orders_stub.CreateOrder(request)
    assert again == first
    assert stock(products_stub, a, b) == (7, 9)
    assert order_count(orders_stub) == 1


def test_a_retry_after_a_cancellation_returns_the_cancelled_order_and_takes_nothing(orders_stub, products_stub):
    product = new_product(products_stub, stock=5)
    request = with_request_id(str(uuid.uuid4()), (product.id, 2))
    placed = orders_stub.CreateOrder(request)
    orders_stub.CancelOrder(orders_pb2.CancelOrderRequest(id=placed.id))
    again = orders_stub.CreateOrder(request)
    assert (again.id, again.status) == (placed.id, orders_pb2.Order.CANCELLED)
    assert stock(products_stub, product) == 5


def test_the_request_id_matches_in_either_case(orders_stub, products_stub):
    product = new_product(products_stub, stock=5)
    request_id = str(uuid.uuid4())
    first = orders_stub.CreateOrder(with_request_id(request_id, (product.id, 1)))
    assert orders_stub.CreateOrder(with_request_id(request_id.upper(), (product.id, 1))).id == first.id
    assert stock(products_stub, product) == 4


def test_different_request_ids_place_different_orders(orders_stub, products_stub):
    product = new_product(products_stub, stock=5)
    ids = {orders_stub.CreateOrder(with_request_id(str(uuid.uuid4()), (product.id, 1))).id for _ in range(3)}
    assert len(ids) == 3
    assert stock(products_stub, product) == 2


@pytest.mark.parametrize('change', [
    {'items': ((1, 3),)}, {'items': ((1, 2), (2, 1))}, {'email': 'grace@example.com'}, {'name': 'Grace Hopper'},
    {'address': '2 Other Street'},
])
def test_the_same_request_id_for_a_different_order_is_refused_and_changes_nothing(orders_stub, products_stub, change):
    a, b = new_product(products_stub, name='A', stock=10), new_product(products_stub, name='B', stock=10)
    request_id = str(uuid.uuid4())
    first = orders_stub.CreateOrder(with_request_id(request_id, (a.id, 2)))
    items = [((a, b)[index - 1].id, quantity) for index, quantity in change.pop('items', ((1, 2),))]
    error = rpc_error(orders_stub.CreateOrder, with_request_id(request_id, *items, **change))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = error_details(error)
    assert details.reason == 'REQUEST_ID_REUSED'
    assert 'different order' in details.fields['request_id']
    assert stock(products_stub, a, b) == (8, 10)
    assert order_count(orders_stub) == 1
    assert orders_stub.GetOrder(orders_pb2.GetOrderRequest(id=first.id)) == first


def test_an_email_spelled_in_another_case_is_the_same_order(orders_stub, products_stub):
    product = new_product(products_stub, stock=5)
    request_id = str(uuid.uuid4())
    first = orders_stub.CreateOrder(with_request_id(request_id, (product.id, 1), email='Ada@Example.com'))
    assert orders_stub.CreateOrder(with_request_id(request_id, (product.id, 1), email='ada@example.com')) == first


def test_a_refused_placement_is_not_remembered(orders_stub, products_stub):
    product = new_product(products_stub, stock=1)
    request = with_request_id(str(uuid.uuid4()), (product.id, 2))
    assert rpc_error(orders_stub.CreateOrder, request).code() == grpc.StatusCode.FAILED_PRECONDITION
    assert order_rows() == 0
    products_stub.UpdateProduct(products_pb2.UpdateProductRequest(
        product=products_pb2.Product(id=product.id, stock_quantity=5)))
    placed = orders_stub.CreateOrder(request)
    assert [(item.product_id, item.quantity) for item in placed.items] == [(product.id, 2)]
    assert stock(products_stub, product) == 3


@pytest.mark.parametrize('bad', [
    'not-a-uuid', '0b3f2c645c1e4d6b9a517f6fb2b4c0de', '{0b3f2c64-5c1e-4d6b-9a51-7f6fb2b4c0de}',
    'urn:uuid:0b3f2c64-5c1e-4d6b-9a51-7f6fb2b4c0de', '00000000-0000-0000-0000-000000000000',
    '0b3f2c64-5c1e-4d6b-9a51-7f6fb2b4c0de ', "'; DROP TABLE orders;--", 'x' * 10_000,
])
def test_a_request_id_that_is_not_a_uuid_is_refused(orders_stub, products_stub, bad):
    product = new_product(products_stub, stock=5)
    error = rpc_error(orders_stub.CreateOrder, with_request_id(bad, (product.id, 1)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'must be a UUID' in error_details(error).fields['request_id']
    assert stock(products_stub, product) == 5
    assert order_rows() == 0


def test_concurrent_retries_place_one_order(orders_stub, products_stub, figures):
    product = new_product(products_stub, stock=50)
    request = with_request_id(str(uuid.uuid4()), (product.id, 3))
    start = threading.Barrier(16)

    def client(_):
        start.wait()
        return orders_stub.CreateOrder(request)

    with futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(client, range(16)))
    assert len({answer.id for answer in answers}) == 1
    assert stock(products_stub, product) == 47
    assert order_count(orders_stub) == 1
    figures(clients=16, same_request_id=True, orders_placed=1, units_taken=3,
            invariant='16 answers, one order, stock taken once')


class DelayedProducts(stock_pb2_grpc.StockServiceServicer):
    """Forwards to the real Products; each reservation's answer comes back `delay` seconds late."""

    def __init__(self, real, delay):
        self.real = real
        self.delay = delay
        self.reservations = 0

    def ReserveStocks(self, request, context):
        response = self.real.ReserveStocks(request)
        self.reservations += len(request.reservations)
        time.sleep(self.delay)
        return response

    def ReleaseStock(self, request, context):
        return self.real.ReleaseStock(request)


@pytest.fixture
def slow_orders_stub(database_url, stock_stub):
    """An Orders server whose calls to the real Products take half a second to answer."""
    proxy = DelayedProducts(stock_stub, delay=0.5)
    with orders_through(proxy, database_url('orders'), products_timeout=5.0) as stub:
        yield stub, proxy


def test_a_retry_after_the_client_timed_out_returns_the_order_the_first_call_placed(slow_orders_stub, products_stub,
                                                                                     figures):
    orders_stub, proxy = slow_orders_stub
    product = new_product(products_stub, stock=10)
    request = with_request_id(str(uuid.uuid4()), (product.id, 4))
    timed_out = rpc_error(lambda r: orders_stub.CreateOrder(r, timeout=0.1), request)
    assert timed_out.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    retried = orders_stub.CreateOrder(request)  # while the first call is still placing the order
    assert [(item.product_id, item.quantity) for item in retried.items] == [(product.id, 4)]
    time.sleep(0.6)  # the first call has finished too
    assert proxy.reservations == 2  # both calls reserved, under one reservation id
    assert stock(products_stub, product) == 6
    assert orders_stub.ListOrders(orders_pb2.ListOrdersRequest()).orders == [retried]
    figures(first_call='DEADLINE_EXCEEDED after 0.1 s', reservations_sent=2, orders_placed=1, units_taken=4,
            invariant='a retry during the timed-out call gets its order; stock taken once')


def test_a_placement_whose_client_gave_up_is_finished_all_the_same(slow_orders_stub, products_stub):
    """The client's deadline passes while Products is reserving: the order is placed anyway, not left half done with
    its stock held until recovery."""
    orders_stub, proxy = slow_orders_stub
    product = new_product(products_stub, stock=10)
    timed_out = rpc_error(lambda r: orders_stub.CreateOrder(r, timeout=0.1), order_request((product.id, 4)))
    assert timed_out.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(0.8)  # Products answers after 0.5 s
    assert proxy.reservations == 1
    placed = orders_stub.ListOrders(orders_pb2.ListOrdersRequest())
    assert placed.total_size == 1
    assert [(item.product_id, item.quantity) for item in placed.orders[0].items] == [(product.id, 4)]
    assert stock(products_stub, product) == 6


def test_a_retry_after_a_restart_returns_the_order_placed_before(database_url, products_address, products_stub):
    product = new_product(products_stub, stock=10)
    request = with_request_id(str(uuid.uuid4()), (product.id, 2))
    answers = []
    for _restart in range(2):
        with serving(create_orders_server('127.0.0.1:0', database_url('orders'),
                                          products_address)) as (_server, port, _health, _background):
            with grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
                answers.append(orders_pb2_grpc.OrderServiceStub(channel).CreateOrder(request))
        orders_storage.database.close_all()
    assert answers[0] == answers[1]
    assert stock(products_stub, product) == 8


# --- a try cut off by a crash, as the database holds it after kill -9 (workflow level) -------------

@pytest.fixture
def desk(loop, products_address, orders_db):
    return desk_calling(loop, products_address, 2.0, settle_wait=1.0)


def crashed_try(new_order, stock_state=OrderRow.RESERVING):
    """The row a placement leaves when its process dies before confirming."""
    return OrderRow.create(reservation_id=uuid.uuid4().hex, request_id=new_order.request_id,
                           request_digest=new_order.digest(), customer_name=new_order.customer_name,
                           customer_email=new_order.customer_email, shipping_address=new_order.shipping_address,
                           status='pending', stock_state=stock_state)


@pytest.mark.parametrize('reserved_before_crash', [True, False])
def test_a_retry_carries_on_a_try_cut_off_by_a_crash(desk, products_stub, reserved_before_crash):
    product = new_product(products_stub, stock=10)
    new_order = rules.new_order('Ada', 'ada@example.com', 'x', [(product.id, 3)], str(uuid.uuid4()))
    crashed = crashed_try(new_order)
    if reserved_before_crash:
        desk._stock.reserve(crashed.reservation_id, new_order.items)
    placed = desk.place(new_order)
    assert placed.order.id == crashed.id
    assert [(item.product_id, item.quantity) for item in placed.items] == [(product.id, 3)]
    assert stock(products_stub, product) == 7
    assert desk.recover(datetime.timedelta(0)) == 0  # nothing left to settle



def test_a_retry_waits_while_an_earlier_try_is_undone_then_places_the_order(desk, products_stub):
    product = new_product(products_stub, stock=10)
    new_order = rules.new_order('Ada', 'ada@example.com', 'x', [(product.id, 3)], str(uuid.uuid4()))
    abandoned = crashed_try(new_order, OrderRow.ABANDONED)
    desk._stock.reserve(abandoned.reservation_id, new_order.items)
    recovery = threading.Timer(0.3, desk.recover, [datetime.timedelta(0)])
    recovery.start()
    placed = desk.place(new_order)
    recovery.join()
    assert placed.order.id != abandoned.id
    assert stock(products_stub, product) == 7
    assert OrderRow.select().count() == 1


def test_a_retry_gives_up_when_an_earlier_try_stays_half_undone(desk, products_stub):
    product = new_product(products_stub, stock=10)
    new_order = rules.new_order('Ada', 'ada@example.com', 'x', [(product.id, 3)], str(uuid.uuid4()))
    crashed_try(new_order, OrderRow.ABANDONED)
    started = time.monotonic()
    with pytest.raises(Unavailable) as raised:
        desk.place(new_order)
    assert 1.0 <= time.monotonic() - started < 3
    assert 'still being undone' in raised.value.message
    assert stock(products_stub, product) == 10
