"""OrderService through real in-process servers (Orders → real Products) over temp SQLite files."""
import contextlib
import datetime
import socket
import threading
import time
import uuid
from concurrent import futures
from decimal import Decimal

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, stock_pb2, stock_pb2_grpc
from grpc_health.v1 import health_pb2

from services.errors import FailedPrecondition, Unavailable
from services.orders import rules
from services.orders.service import create_server as create_orders_server
from services.orders.stock_client import StockClient
from services.orders.workflow import RECOVERY_CALLS_AT_ONCE, OrderDesk
from services.pagination import EXACT_BELOW, LONGEST_REUSE_S, PageRequest
from services.server import DatabaseSteps
from storage import orders as orders_storage
from storage.database import utcnow
from storage.orders import Order as OrderRow
from storage.orders import OrderItem
from tests.conftest import health_status, new_product
from tests.metric_samples import in_process
from tests.rpc_errors import error_details
from tests.servers import Blocking, serving

Status = orders_pb2.Order.Status


def rpc_error(call, request):
    with pytest.raises(grpc.RpcError) as raised:
        call(request)
    return raised.value


def order_request(*items, name='Ada Lovelace', email='ada@example.com', address='1 Analytical Way'):
    return orders_pb2.CreateOrderRequest(
        customer_name=name, customer_email=email, shipping_address=address,
        items=[orders_pb2.OrderItemRequest(product_id=product_id, quantity=quantity) for product_id, quantity in items])


def place(stub, *items, **fields):
    return stub.CreateOrder(order_request(*items, **fields))


def stock(products_stub, *products):
    values = [products_stub.GetProduct(products_pb2.GetProductRequest(id=p.id)).stock_quantity for p in products]
    return values[0] if len(values) == 1 else tuple(values)


def order_count(orders_stub, status=Status.STATUS_UNSPECIFIED):
    return orders_stub.ListOrders(orders_pb2.ListOrdersRequest(status=status)).total_size


def order_rows():
    """Every row of the orders table, placed or not: a refused order must leave nothing behind."""
    with orders_storage.database.connection_context():
        return OrderRow.select().count()


def get_order(orders_stub, order_id):
    return orders_stub.GetOrder(orders_pb2.GetOrderRequest(id=order_id))


def set_status(orders_stub, order_id, status):
    return orders_stub.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(id=order_id, status=status))


def cancel(orders_stub, order_id):
    return orders_stub.CancelOrder(orders_pb2.CancelOrderRequest(id=order_id))


# --- placing --------------------------------------------------------------------------------------

def test_order_snapshots_products_and_computes_exact_totals(orders_stub, products_stub):
    pencil = new_product(products_stub, name='Pencil', price='0.10', stock=10)
    book = new_product(products_stub, name='Book', price='19.99', stock=8)
    order = place(orders_stub, (pencil.id, 3), (book.id, 7), name='  Ada ', email=' Ada@Example.COM ')
    assert order.id > 0
    assert (order.customer_name, order.customer_email, order.shipping_address) == \
           ('Ada', 'ada@example.com', '1 Analytical Way')
    assert order.status == Status.PENDING
    assert [(i.product_id, i.product_name, i.price, i.quantity, i.subtotal) for i in order.items] == [
        (pencil.id, 'Pencil', '0.10', 3, '0.30'), (book.id, 'Book', '19.99', 7, '139.93')]
    assert order.total_amount == '140.23'
    assert Decimal(order.total_amount) == sum(Decimal(i.subtotal) for i in order.items)
    assert stock(products_stub, pencil, book) == (7, 1)
    assert get_order(orders_stub, order.id) == order


def test_insufficient_stock_for_a_later_item_takes_nothing_and_creates_nothing(orders_stub, products_stub):
    plenty = new_product(products_stub, name='Plenty', stock=10)
    scarce = new_product(products_stub, name='Scarce', stock=2)
    place(orders_stub, (plenty.id, 1))
    error = rpc_error(orders_stub.CreateOrder, order_request((plenty.id, 4), (scarce.id, 3)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert 'Scarce' in error.details() and str(scarce.id) in error.details()
    details = error_details(error)
    assert details.reason == 'INSUFFICIENT_STOCK'
    assert (details.metadata['product_id'], details.metadata['requested'], details.metadata['available']) == \
           (str(scarce.id), '3', '2')
    assert order_count(orders_stub) == 1
    assert order_rows() == 1
    assert stock(products_stub, plenty, scarce) == (9, 2)


def test_largest_order_keeps_every_cent(orders_stub, products_stub):
    """100 items of up to 1,000 units at 8-digit prices: 15-digit totals, still exact to the cent."""
    items, expected = [], Decimal('0.00')
    for i in range(100):
        price = f'{99999999 - i * 7919}.{(i * 37 + 1) % 100:02d}'
        quantity = 1000 - i
        product = new_product(products_stub, name=f'P{i}', price=price, stock=quantity)
        items.append((product.id, quantity))
        expected += Decimal(price) * quantity
    order = place(orders_stub, *items)
    assert len(expected.as_tuple().digits) == 15
    for item, (_product_id, quantity) in zip(order.items, items, strict=True):
        assert Decimal(item.subtotal) == Decimal(item.price) * quantity
    assert order.total_amount == str(expected)
    assert get_order(orders_stub, order.id).total_amount == str(expected)
    listed = orders_stub.ListOrders(orders_pb2.ListOrdersRequest()).orders[0]
    assert listed.total_amount == str(expected)


def test_unknown_product_is_an_invalid_item(orders_stub, products_stub):
    known = new_product(products_stub, stock=5)
    error = rpc_error(orders_stub.CreateOrder, order_request((known.id, 1), (known.id + 100, 1)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = error_details(error)
    assert list(details.fields) == ['items[1].product_id']
    assert details.reason == 'PRODUCT_NOT_FOUND'
    assert str(known.id + 100) in error.details()
    assert order_count(orders_stub) == 0
    assert order_rows() == 0
    assert stock(products_stub, known) == 5


@pytest.mark.parametrize('fields, items, field', [
    ({'email': 'no-at'}, [(1, 1)], 'customer_email'),
    ({'email': 'a@b'}, [(1, 1)], 'customer_email'),
    ({'email': ''}, [(1, 1)], 'customer_email'),
    ({'name': ' '}, [(1, 1)], 'customer_name'),
    ({'address': ''}, [(1, 1)], 'shipping_address'),
    ({}, [], 'items'),
    ({}, [(1, 0)], 'items[0].quantity'),
    ({}, [(1, 1), (2, -2)], 'items[1].quantity'),
    ({}, [(1, 1001)], 'items[0].quantity'),
    ({}, [(1, 1), (1, 2)], 'items[1].product_id'),
    ({}, [(0, 1)], 'items[0].product_id'),
])
def test_invalid_order_names_the_field_and_takes_nothing(orders_stub, products_stub, fields, items, field):
    product = new_product(products_stub, stock=5)
    items = [(product.id if product_id == 1 else product_id, quantity) for product_id, quantity in items]
    error = rpc_error(orders_stub.CreateOrder, order_request(*items, **fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f'{field}: ')
    assert list(error_details(error).fields) == [field]
    assert order_count(orders_stub) == 0
    assert order_rows() == 0
    assert stock(products_stub, product) == 5


def test_unknown_order_is_not_found(orders_stub):
    error = rpc_error(orders_stub.GetOrder, orders_pb2.GetOrderRequest(id=31337))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == 'order 31337 not found'
    assert error_details(error).reason == 'ORDER_NOT_FOUND'
    for call, request in ((orders_stub.CancelOrder, orders_pb2.CancelOrderRequest(id=31337)),
                          (orders_stub.UpdateOrderStatus,
                           orders_pb2.UpdateOrderStatusRequest(id=31337, status=Status.PROCESSING))):
        assert rpc_error(call, request).code() == grpc.StatusCode.NOT_FOUND


def test_non_positive_order_id_is_invalid(orders_stub):
    error = rpc_error(orders_stub.GetOrder, orders_pb2.GetOrderRequest(id=0))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['id']


# --- status workflow ------------------------------------------------------------------------------

FORWARD = [Status.PENDING, Status.PROCESSING, Status.SHIPPED, Status.DELIVERED]


def test_status_moves_forward_one_step_at_a_time(orders_stub, products_stub):
    product = new_product(products_stub, stock=5)
    order = place(orders_stub, (product.id, 2))
    for step, current in enumerate(FORWARD):
        allowed = FORWARD[step + 1] if step + 1 < len(FORWARD) else None
        for target in [s for s in FORWARD if s != allowed]:  # staying, going back, skipping ahead
            error = rpc_error(orders_stub.UpdateOrderStatus,
                              orders_pb2.UpdateOrderStatusRequest(id=order.id, status=target))
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, (current, target)
            details = error_details(error)
            assert details.reason == 'INVALID_STATUS_TRANSITION'
            assert details.metadata == {'current': Status.Name(current).lower(),
                                        'requested': Status.Name(target).lower()}
            assert get_order(orders_stub, order.id).status == current
        if allowed is not None:
            moved = set_status(orders_stub, order.id, allowed)
            assert moved.status == allowed
            assert moved.items == order.items and moved.total_amount == order.total_amount
            assert moved.updated_at.ToDatetime() >= order.updated_at.ToDatetime()
            assert get_order(orders_stub, order.id).status == allowed
    assert stock(products_stub, product) == 3  # delivering gives nothing back


@pytest.mark.parametrize('status', [Status.STATUS_UNSPECIFIED, 42])
def test_status_must_be_a_known_value(orders_stub, products_stub, status):
    order = place(orders_stub, (new_product(products_stub).id, 1))
    error = rpc_error(orders_stub.UpdateOrderStatus, orders_pb2.UpdateOrderStatusRequest(id=order.id, status=status))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['status']
    assert get_order(orders_stub, order.id).status == Status.PENDING


# --- cancelling -----------------------------------------------------------------------------------

@pytest.mark.parametrize('how', ['CancelOrder', 'UpdateOrderStatus'])
@pytest.mark.parametrize('from_status', [Status.PENDING, Status.PROCESSING])
def test_cancel_gives_every_item_back_exactly_once(orders_stub, products_stub, how, from_status):
    a, b = new_product(products_stub, name='A', stock=5), new_product(products_stub, name='B', stock=4)
    order = place(orders_stub, (a.id, 2), (b.id, 4))
    if from_status == Status.PROCESSING:
        set_status(orders_stub, order.id, Status.PROCESSING)

    def do_cancel():
        if how == 'CancelOrder':
            return cancel(orders_stub, order.id)
        return set_status(orders_stub, order.id, Status.CANCELLED)

    assert stock(products_stub, a, b) == (3, 0)
    cancelled = do_cancel()
    assert cancelled.status == Status.CANCELLED
    assert cancelled.items == order.items
    assert stock(products_stub, a, b) == (5, 4)
    with pytest.raises(grpc.RpcError) as raised:
        do_cancel()
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(raised.value).reason == 'INVALID_STATUS_TRANSITION'
    # neither the other way of cancelling nor any status move revives it or returns stock again
    for target in (Status.PENDING, Status.PROCESSING, Status.CANCELLED):
        assert rpc_error(orders_stub.UpdateOrderStatus, orders_pb2.UpdateOrderStatusRequest(
            id=order.id, status=target)).code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rpc_error(orders_stub.CancelOrder, orders_pb2.CancelOrderRequest(id=order.id)).code() == \
           grpc.StatusCode.FAILED_PRECONDITION
    assert stock(products_stub, a, b) == (5, 4)
    assert get_order(orders_stub, order.id).status == Status.CANCELLED


@pytest.mark.parametrize('reached', [Status.SHIPPED, Status.DELIVERED])
def test_cancel_after_shipping_is_refused(orders_stub, products_stub, reached):
    product = new_product(products_stub, stock=5)
    order = place(orders_stub, (product.id, 2))
    for status in FORWARD[1:FORWARD.index(reached) + 1]:
        set_status(orders_stub, order.id, status)
    error = rpc_error(orders_stub.CancelOrder, orders_pb2.CancelOrderRequest(id=order.id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert 'cannot be cancelled' in error.details()
    error = rpc_error(orders_stub.UpdateOrderStatus,
                      orders_pb2.UpdateOrderStatusRequest(id=order.id, status=Status.CANCELLED))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert get_order(orders_stub, order.id).status == reached
    assert stock(products_stub, product) == 3


def test_order_outlives_its_product_and_can_still_be_cancelled(orders_stub, products_stub):
    gone = new_product(products_stub, name='Discontinued', price='12.34', stock=5)
    kept = new_product(products_stub, name='Kept', price='1.00', stock=5)
    order = place(orders_stub, (gone.id, 2), (kept.id, 1))
    products_stub.UpdateProduct(products_pb2.UpdateProductRequest(
        product=products_pb2.Product(id=kept.id, name='Renamed', price='2.00')))
    products_stub.DeleteProduct(products_pb2.DeleteProductRequest(id=gone.id))
    read = get_order(orders_stub, order.id)
    assert [(i.product_id, i.product_name, i.price, i.subtotal) for i in read.items] == [
        (gone.id, 'Discontinued', '12.34', '24.68'), (kept.id, 'Kept', '1.00', '1.00')]
    assert read.total_amount == '25.68'
    cancelled = cancel(orders_stub, order.id)
    assert cancelled.status == Status.CANCELLED
    assert stock(products_stub, kept) == 5


# --- listing --------------------------------------------------------------------------------------

def all_pages(call, make_request):
    seen, token, sizes = [], '', set()
    while True:
        page = call(make_request(token))
        seen.extend(page.orders)
        sizes.add(page.total_size)
        token = page.next_page_token
        if not token:
            return seen, sizes


def test_list_orders_newest_first_with_status_filter_and_paging(orders_stub, products_stub):
    product = new_product(products_stub, stock=100)
    ids = [place(orders_stub, (product.id, 1)).id for _ in range(7)]
    for order_id in ids[1:4]:
        set_status(orders_stub, order_id, Status.PROCESSING)
    cancel(orders_stub, ids[5])

    orders, sizes = all_pages(orders_stub.ListOrders,
                              lambda token: orders_pb2.ListOrdersRequest(page_size=3, page_token=token))
    assert [o.id for o in orders] == sorted(ids, reverse=True)
    assert sizes == {7}
    assert all(len(o.items) == 1 for o in orders)

    processing, sizes = all_pages(orders_stub.ListOrders, lambda token: orders_pb2.ListOrdersRequest(
        page_size=2, page_token=token, status=Status.PROCESSING))
    assert [o.id for o in processing] == sorted(ids[1:4], reverse=True)
    assert all(o.status == Status.PROCESSING for o in processing) and sizes == {3}
    assert [o.id for o in orders_stub.ListOrders(orders_pb2.ListOrdersRequest(status=Status.CANCELLED)).orders] \
           == [ids[5]]
    assert order_count(orders_stub, Status.DELIVERED) == 0

    first = orders_stub.ListOrders(orders_pb2.ListOrdersRequest(page_size=2, status=Status.PROCESSING))
    error = rpc_error(orders_stub.ListOrders, orders_pb2.ListOrdersRequest(
        page_size=2, page_token=first.next_page_token, status=Status.PENDING))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['page_token']


def test_orders_by_customer_match_email_case_insensitively_and_paginate(orders_stub, products_stub):
    product = new_product(products_stub, stock=100)
    alice = [place(orders_stub, (product.id, 1), email=email).id
             for email in ('alice@example.com', 'Alice@Example.com', 'ALICE@EXAMPLE.COM')]
    place(orders_stub, (product.id, 1), email='bob@example.com')
    place(orders_stub, (product.id, 1), email='alice@example.org')
    orders, sizes = all_pages(orders_stub.GetOrdersByCustomer, lambda token: orders_pb2.GetOrdersByCustomerRequest(
        email=' aLiCe@example.COM', page_size=2, page_token=token))
    assert [o.id for o in orders] == sorted(alice, reverse=True)
    assert {o.customer_email for o in orders} == {'alice@example.com'}
    assert sizes == {3}
    assert orders_stub.GetOrdersByCustomer(orders_pb2.GetOrdersByCustomerRequest(
        email='nobody@example.com')).total_size == 0

    first = orders_stub.GetOrdersByCustomer(orders_pb2.GetOrdersByCustomerRequest(
        email='alice@example.com', page_size=1))
    error = rpc_error(orders_stub.GetOrdersByCustomer, orders_pb2.GetOrdersByCustomerRequest(
        email='bob@example.com', page_size=1, page_token=first.next_page_token))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['page_token']
    error = rpc_error(orders_stub.GetOrdersByCustomer, orders_pb2.GetOrdersByCustomerRequest(email='not-an-email'))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['email']


def customer_count(orders_stub, email):
    return orders_stub.GetOrdersByCustomer(orders_pb2.GetOrdersByCustomerRequest(email=email)).total_size


def test_a_short_listings_total_size_follows_every_order_placed_and_changed_at_once(orders_stub, products_stub):
    product = new_product(products_stub, stock=100)
    ada = [place(orders_stub, (product.id, 1)).id for _ in range(2)]
    place(orders_stub, (product.id, 1), email='bob@example.com')
    assert (order_count(orders_stub), order_count(orders_stub, Status.PENDING)) == (3, 3)
    assert (customer_count(orders_stub, 'ada@example.com'), customer_count(orders_stub, 'bob@example.com')) == (2, 1)

    set_status(orders_stub, ada[0], Status.PROCESSING)
    assert (order_count(orders_stub, Status.PENDING), order_count(orders_stub, Status.PROCESSING)) == (2, 1)
    cancel(orders_stub, ada[1])
    assert (order_count(orders_stub, Status.PENDING), order_count(orders_stub, Status.CANCELLED)) == (1, 1)
    place(orders_stub, (product.id, 1))
    assert (order_count(orders_stub), order_count(orders_stub, Status.PENDING)) == (4, 2)
    assert customer_count(orders_stub, 'ada@example.com') == 3


def test_a_long_listings_total_size_catches_up_within_its_reuse(orders_stub, products_stub):
    """A long listing's count may be reused, for at most LONGEST_REUSE_S: the order placed shows in it by then."""
    now = utcnow()
    placed = dict(customer_name='Ada', customer_email='ada@example.com', shipping_address='x', total_amount=1,
                  status='pending', stock_state=OrderRow.RESERVED, created_at=now, updated_at=now)
    with orders_storage.database.connection_context(), orders_storage.database.atomic():
        OrderRow.insert_many([{**placed, 'reservation_id': uuid.uuid4().hex} for _ in range(EXACT_BELOW)]).execute()
    assert order_count(orders_stub, Status.PENDING) == customer_count(orders_stub, 'ada@example.com') == EXACT_BELOW

    place(orders_stub, (new_product(products_stub).id, 1))
    deadline = time.monotonic() + LONGEST_REUSE_S + 5
    while (order_count(orders_stub, Status.PENDING), customer_count(orders_stub, 'ada@example.com')) != \
            (EXACT_BELOW + 1,) * 2:
        assert time.monotonic() < deadline, 'a total_size older than the longest reuse'
        time.sleep(0.01)


def test_health_reports_serving(orders_address):
    for service in ('', 'ecommerce.orders.v1.OrderService'):
        assert health_status(orders_address, service) == health_pb2.HealthCheckResponse.SERVING


# --- Products unreachable -------------------------------------------------------------------------

@pytest.fixture
def dead_address():
    """An address where nothing listens: the port stays bound (so no one else takes it) but never listens."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        yield f'127.0.0.1:{sock.getsockname()[1]}'


def test_products_down_gives_unavailable_quickly_and_leaves_no_order(database_url, dead_address):
    with serving(create_orders_server('127.0.0.1:0', database_url('orders'), dead_address,
                                      products_timeout=1.0)) as (_server, port, _health, _background):
        with grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
            stub = orders_pb2_grpc.OrderServiceStub(channel)
            started = time.monotonic()
            error = rpc_error(lambda r: stub.CreateOrder(r, timeout=10), order_request((1, 1)))
            elapsed = time.monotonic() - started
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert error_details(error).reason == 'PRODUCTS_UNAVAILABLE'
            assert elapsed < 5
            assert stub.ListOrders(orders_pb2.ListOrdersRequest()).total_size == 0
            assert stub.GetOrdersByCustomer(orders_pb2.GetOrdersByCustomerRequest(
                email='ada@example.com')).total_size == 0
    orders_storage.database.close_all()


class AnswerLostProducts(stock_pb2_grpc.StockServiceServicer):
    """Forwards to the real Products, but a reservation's answer never gets back: it is held until the
    caller gives up, after the stock was really taken."""

    def __init__(self, real):
        self.real = real
        self.reservations = []

    def ReserveStocks(self, request, context):
        response = self.real.ReserveStocks(request)
        self.reservations.extend(entry.reservation.reservation_id for entry in request.reservations)
        caller_gone = threading.Event()
        context.add_callback(caller_gone.set)
        caller_gone.wait()
        return response

    def ReleaseStock(self, request, context):
        return self.real.ReleaseStock(request)


@contextlib.contextmanager
def orders_through(products_servicer, orders_url, products_timeout):
    """A real Orders server whose Products is `products_servicer` (a StockService stand-in in front of the real
    one); yields a stub of it."""
    products_proxy = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    stock_pb2_grpc.add_StockServiceServicer_to_server(products_servicer, products_proxy)
    proxy_port = products_proxy.add_insecure_port('127.0.0.1:0')
    products_proxy.start()
    try:
        with serving(create_orders_server('127.0.0.1:0', orders_url, f'127.0.0.1:{proxy_port}',
                                          products_timeout=products_timeout)) as (_server, port, _health, _background):
            with grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
                yield orders_pb2_grpc.OrderServiceStub(channel)
    finally:
        products_proxy.stop(0).wait()
        orders_storage.database.close_all()


def test_stock_taken_but_answer_lost_is_given_back_at_once(database_url, products_stub, stock_stub):
    product = new_product(products_stub, stock=5)
    proxy = AnswerLostProducts(stock_stub)
    with orders_through(proxy, database_url('orders'), products_timeout=1.0) as stub:
        started = time.monotonic()
        error = rpc_error(lambda r: stub.CreateOrder(r, timeout=10), order_request((product.id, 3)))
        assert time.monotonic() - started < 5
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert len(proxy.reservations) == 1  # the stock really was taken ...
        assert stock(products_stub, product) == 5  # ... and given back before the client heard
        assert stub.ListOrders(orders_pb2.ListOrdersRequest()).total_size == 0
        late = rpc_error(stock_stub.ReserveStock, stock_pb2.ReserveStockRequest(
            reservation_id=proxy.reservations[0], lines=[stock_pb2.StockLine(product_id=product.id, quantity=3)]))
        assert error_details(late).reason == 'RESERVATION_RELEASED'
        assert stock(products_stub, product) == 5


# --- recovery (workflow level, real Products server) ----------------------------------------------

def desk_calling(loop, products_address, products_timeout, **settings):
    """An OrderDesk over this test's orders database whose Products is at `products_address`, called from the test's
    thread."""
    async def build():
        stock = StockClient([grpc.aio.insecure_channel(products_address)], products_timeout)
        return OrderDesk(stock, DatabaseSteps(orders_storage.database), **settings)
    return Blocking(loop.run(build()), loop)


@pytest.fixture
def desk(loop, products_address, orders_db):
    return desk_calling(loop, products_address, 2.0)


@pytest.fixture
def stock_client(desk):
    return desk._stock


@pytest.fixture
def dead_desk(loop, dead_address, orders_db):
    """The same orders database, but Products cannot be reached."""
    return desk_calling(loop, dead_address, 1.0)


def recovery_actions(kind):
    return in_process('ecommerce_order_recovery_actions_total', kind=kind)


def test_recover_undoes_a_placement_that_crashed_after_reserving(desk, stock_client, products_stub):
    product = new_product(products_stub, stock=10)
    crashed = OrderRow.create(reservation_id=uuid.uuid4().hex, customer_name='Ada', customer_email='ada@example.com',
                              shipping_address='x', status='pending', stock_state=OrderRow.RESERVING,
                              created_at=utcnow() - datetime.timedelta(minutes=5))
    in_flight = OrderRow.create(reservation_id=uuid.uuid4().hex, customer_name='Bob', customer_email='b@example.com',
                                shipping_address='y', status='pending', stock_state=OrderRow.RESERVING)
    stock_client.reserve(crashed.reservation_id, [(product.id, 3)])
    stock_client.reserve(in_flight.reservation_id, [(product.id, 2)])
    assert stock(products_stub, product) == 5
    undone = recovery_actions('placement_undone')

    assert desk.recover(datetime.timedelta(seconds=1)) == 1
    assert recovery_actions('placement_undone') == undone + 1
    assert stock(products_stub, product) == 8
    assert OrderRow.get_or_none(OrderRow.id == crashed.id) is None
    # a placement younger than the cutoff may still be in flight: left alone
    assert OrderRow.get_by_id(in_flight.id).stock_state == OrderRow.RESERVING
    assert desk.recover(datetime.timedelta(seconds=1)) == 0
    assert stock(products_stub, product) == 8


def test_recover_forgets_a_placement_that_crashed_before_reserving_and_blocks_its_late_reservation(
        desk, stock_client, products_stub):
    product = new_product(products_stub, stock=10)
    crashed = OrderRow.create(reservation_id=uuid.uuid4().hex, customer_name='Ada', customer_email='ada@example.com',
                              shipping_address='x', status='pending', stock_state=OrderRow.RESERVING,
                              created_at=utcnow() - datetime.timedelta(minutes=5))
    assert desk.recover(datetime.timedelta(seconds=1)) == 1
    assert OrderRow.get_or_none(OrderRow.id == crashed.id) is None
    # the reservation request that was still on the wire arrives now: it must take nothing
    with pytest.raises(FailedPrecondition) as raised:
        stock_client.reserve(crashed.reservation_id, [(product.id, 3)])
    assert raised.value.reason == 'RESERVATION_RELEASED'
    assert stock(products_stub, product) == 10


def test_recover_gives_back_stock_of_an_order_cancelled_while_products_was_down(desk, dead_desk, products_stub):
    a, b = new_product(products_stub, name='A', stock=6), new_product(products_stub, name='B', stock=6)
    placed = desk.place(rules.new_order('Ada', 'ada@example.com', 'x', [(a.id, 2), (b.id, 5)]))
    assert stock(products_stub, a, b) == (4, 1)

    cancelled = dead_desk.cancel(placed.order.id)
    assert cancelled.order.status == 'cancelled'
    assert OrderRow.get_by_id(placed.order.id).stock_state == OrderRow.RELEASING
    assert stock(products_stub, a, b) == (4, 1)
    released = recovery_actions('cancellation_released')
    assert dead_desk.recover(datetime.timedelta(seconds=1)) == 0  # still down: nothing settled
    assert OrderRow.get_by_id(placed.order.id).stock_state == OrderRow.RELEASING
    assert recovery_actions('cancellation_released') == released

    assert desk.recover(datetime.timedelta(seconds=1)) == 1
    assert recovery_actions('cancellation_released') == released + 1
    assert stock(products_stub, a, b) == (6, 6)
    assert OrderRow.get_by_id(placed.order.id).stock_state == OrderRow.RELEASED
    assert desk.recover(datetime.timedelta(seconds=1)) == 0
    assert stock(products_stub, a, b) == (6, 6)
    assert desk.get(placed.order.id).order.status == 'cancelled'


def test_a_placement_whose_undoing_was_cut_short_is_finished_by_the_next_recovery(
        desk, dead_desk, stock_client, products_stub):
    product = new_product(products_stub, stock=10)
    crashed = OrderRow.create(reservation_id=uuid.uuid4().hex, customer_name='Ada', customer_email='ada@example.com',
                              shipping_address='x', status='pending', stock_state=OrderRow.RESERVING)
    stock_client.reserve(crashed.reservation_id, [(product.id, 3)])

    assert dead_desk.recover(datetime.timedelta(0)) == 0  # judged stale, but Products cannot take the stock back
    assert OrderRow.get_by_id(crashed.id).stock_state == OrderRow.ABANDONED
    assert desk.list(PageRequest(10, None)).total_size == 0  # an abandoned placement is not an order
    assert stock(products_stub, product) == 7

    assert desk.recover(datetime.timedelta(hours=1)) == 1  # abandoned: finished whatever its age
    assert stock(products_stub, product) == 10
    assert OrderRow.get_or_none(OrderRow.id == crashed.id) is None


class CountingStock:
    """A StockClient that counts how many releases it has under way at once."""

    def __init__(self, stock):
        self.stock = stock
        self.releasing = self.most_at_once = 0

    async def release(self, reservation_id):
        self.releasing += 1
        self.most_at_once = max(self.most_at_once, self.releasing)
        try:
            return await self.stock.release(reservation_id)
        finally:
            self.releasing -= 1


def test_a_recovery_pass_gives_back_the_stock_of_many_orders_at_once(loop, desk, stock_client, products_stub):
    """An outage leaves hundreds of orders to settle: one release after another took seconds."""
    product = new_product(products_stub, stock=100)
    cancelled = [OrderRow.create(reservation_id=uuid.uuid4().hex, customer_name='Ada', customer_email='a@example.com',
                                 shipping_address='x', status='cancelled', stock_state=OrderRow.RELEASING)
                 for _ in range(2 * RECOVERY_CALLS_AT_ONCE)]
    for order in cancelled:
        stock_client.reserve(order.reservation_id, [(product.id, 1)])
    assert stock(products_stub, product) == 100 - len(cancelled)
    counting = CountingStock(desk._target._stock)
    recovering = Blocking(OrderDesk(counting, desk._target._steps), loop)

    assert recovering.recover(datetime.timedelta(seconds=1)) == len(cancelled)
    assert counting.most_at_once == RECOVERY_CALLS_AT_ONCE
    assert stock(products_stub, product) == 100
    assert {OrderRow.get_by_id(order.id).stock_state for order in cancelled} == {OrderRow.RELEASED}


class StallingStock:
    """A StockClient whose reservation answers only after recovery has already judged the order stale."""

    def __init__(self, stock):
        self.stock = stock
        self.desk = None

    async def reserve(self, reservation_id, lines):
        reserved = await self.stock.reserve(reservation_id, lines)
        assert await self.desk.recover(datetime.timedelta(0)) == 1
        return reserved

    async def release(self, reservation_id):
        return await self.stock.release(reservation_id)


def test_placement_undone_by_recovery_while_stalled_fails_cleanly(loop, products_address, orders_db, products_stub):
    product = new_product(products_stub, stock=5)

    async def build():
        stalling = StallingStock(StockClient([grpc.aio.insecure_channel(products_address)], 2.0))
        stalling.desk = OrderDesk(stalling, DatabaseSteps(orders_storage.database))
        return stalling.desk

    desk = Blocking(loop.run(build()), loop)
    with pytest.raises(Unavailable) as raised:
        desk.place(rules.new_order('Ada', 'ada@example.com', 'x', [(product.id, 2)]))
    assert 'undone' in raised.value.message
    assert stock(products_stub, product) == 5
    assert OrderRow.select().count() == 0
    assert OrderItem.select().count() == 0
