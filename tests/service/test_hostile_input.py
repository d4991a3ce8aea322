"""Every RPC of both servers against hostile input (hypothesis): a clear refusal or a correct answer, never a crash,
and a refused request changes no row of either database.

The servers are shared by a test's examples, so each test seeds a small store once and every example compares
every row of every table before and after; accepted calls are checked against the store and undone where they
would make it grow.
"""
import uuid
from decimal import Decimal

import grpc
import pytest
from ecommerce.orders.v1 import carts_pb2, carts_pb2_grpc, orders_pb2
from ecommerce.products.v1 import products_pb2, stock_pb2
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.orders.rules import MAX_QUANTITY
from services.pagination import MAX_PAGE_SIZE
from services.products.rules import EDITABLE_FIELDS, MAX_STOCK
from services.reflection import api_files
from services.settings import MAX_MESSAGE_BYTES
from storage import orders as orders_storage
from storage import products as products_storage
from tests.conftest import health_status, new_product
from tests.hostile import (
    OUTCOMES,
    assert_clear_refusal,
    enum_numbers,
    hostile_decimal,
    hostile_figures,  # noqa: F401 (an autouse fixture: this module's figures)
    hostile_text,
    int32s,
    int64s,
    page_tokens,
    spoiled,
)

Product = products_pb2.Product
Order = orders_pb2.Order
SERVING = health_pb2.HealthCheckResponse.SERVING
EMAIL = 'ada@example.com'
# More examples than the profile's: each takes milliseconds, and a rare value (a NUL in one field of five) needs them.
MANY = settings(max_examples=75)


class Probe:
    """Sends one request: an answer is returned; a refusal must be clear and leave every row of `storages` as it was."""

    def __init__(self, *storages):
        self.storages = storages

    def rows(self):
        """Every row of every table, in key order."""
        tables = {}
        for storage in self.storages:
            with storage.database.connection_context():
                for model in storage.MODELS:
                    tables[model._meta.table_name] = list(
                        model.select().order_by(model._meta.primary_key).tuples())
        return tables

    def send(self, method, request):
        """The answer, or None once the refusal has been checked."""
        return self.call(method, request)[0]

    def refusal(self, method, request):
        """The checked refusal of a request that must be refused."""
        answer, error = self.call(method, request)
        assert error is not None, f'accepted: {answer}'
        return error

    def call(self, method, request):
        before = self.rows()
        try:
            answer = method(request, timeout=30)
            OUTCOMES['grpc OK'] += 1
            return answer, None
        except grpc.RpcError as error:
            assert_clear_refusal(error)
            OUTCOMES[f'grpc {error.code().name}'] += 1
            assert self.rows() == before, f'refused with {error.code()} yet changed data'
            return None, error


@pytest.fixture
def catalogue(products_stub, products_address):
    """Three products, by id; afterwards, Products must still be serving."""
    products = [new_product(products_stub, name='Oak Desk', price='199.00', stock=50, category=Product.HOME),
                new_product(products_stub, name='Lamp 100%_off', price='0.01', stock=50, category=Product.OTHER),
                new_product(products_stub, name='Éclair Book', price='99999999.99', stock=50, category=Product.BOOKS)]
    yield {product.id: product for product in products}
    assert health_status(products_address) == SERVING


@pytest.fixture
def shop(orders_stub, orders_address, catalogue):
    """The catalogue and two pending orders of one customer, by id; afterwards, Orders must still be serving."""
    first, second = list(catalogue)[:2]
    orders = [orders_stub.CreateOrder(order_request('Ada', EMAIL, '1 Analytical Way', [(first, 1), (second, 2)])),
              orders_stub.CreateOrder(order_request('Ada', EMAIL, '1 Analytical Way', [(first, 3)]))]
    yield {order.id: order for order in orders}
    assert health_status(orders_address) == SERVING


@pytest.fixture
def products_probe(catalogue):
    return Probe(products_storage)


@pytest.fixture
def shop_probe(shop):
    return Probe(products_storage, orders_storage)


def order_request(name, email, address, items, request_id=''):
    return orders_pb2.CreateOrderRequest(
        customer_name=name, customer_email=email, shipping_address=address, request_id=request_id,
        items=[orders_pb2.OrderItemRequest(product_id=product_id, quantity=quantity) for product_id, quantity in items])


def stocks(products_stub, product_ids):
    """{id: stock} of the products that exist among `product_ids`."""
    found = {}
    for product in all_products(products_stub):
        if product.id in product_ids:
            found[product.id] = product.stock_quantity
    return found


def all_products(products_stub):
    return products_stub.ListProducts(products_pb2.ListProductsRequest(page_size=MAX_PAGE_SIZE)).products


def first_page_token(method, request):
    """The next_page_token of a one-row first page: a valid token to mangle."""
    request.page_size = 1
    return method(request).next_page_token


def check_page(probe, method, request, known, rows, matches=lambda row: True):
    """A page no longer than asked, of stored rows that match the request's filters; or a clear refusal."""
    page = probe.send(method, request)
    if page is not None:
        assert len(getattr(page, rows)) <= page_bound(request.page_size)
        assert all(row == known[row.id] and matches(row) for row in getattr(page, rows))


def page_bound(page_size):
    return min(page_size or 20, MAX_PAGE_SIZE)


# --- ProductService --------------------------------------------------------------------------------

VALID_PRODUCT = {'name': 'Desk', 'description': 'oak', 'price': '19.99', 'stock_quantity': 5, 'category': Product.HOME}
product_fields = spoiled(VALID_PRODUCT, {
    'name': hostile_text(absent=True),
    'description': hostile_text(absent=True),
    'price': st.one_of(st.none(), hostile_decimal()),
    'stock_quantity': st.one_of(st.none(), int32s(MAX_STOCK, MAX_STOCK + 1)),
    'category': st.one_of(st.none(), enum_numbers(len(Product.Category.keys()))),
})
update_masks = st.one_of(st.none(), st.lists(st.one_of(
    st.sampled_from([*EDITABLE_FIELDS, '*', 'id', 'created_at', 'product.name', 'NAME', 'price ', '../price', '']),
    hostile_text()), max_size=4))


@MANY
@given(fields=product_fields)
def test_create_product(products_stub, products_probe, fields):
    created = products_probe.send(products_stub.CreateProduct,
                                  products_pb2.CreateProductRequest(product=Product(**fields)))
    if created is None:
        return
    assert products_stub.GetProduct(products_pb2.GetProductRequest(id=created.id)) == created
    assert (created.name, created.description, created.stock_quantity, created.category) == (
        fields['name'].strip(), fields.get('description', ''), fields.get('stock_quantity', 0), fields['category'])
    assert Decimal(created.price) == Decimal(fields['price'])
    products_stub.DeleteProduct(products_pb2.DeleteProductRequest(id=created.id))  # keep the store small


# Get by id, for each service: its probe, stub, method, request type and the fixture holding what is stored.
GETTERS = {'product': ('products_probe', 'products_stub', 'GetProduct', products_pb2.GetProductRequest, 'catalogue'),
           'order': ('shop_probe', 'orders_stub', 'GetOrder', orders_pb2.GetOrderRequest, 'shop')}


@pytest.mark.parametrize('kind', sorted(GETTERS))
@MANY
@given(data=st.data())
def test_get_by_any_id(request, kind, data):
    """The stored resource for a known id, else a clear refusal."""
    probe, stub, method, request_type, known = GETTERS[kind]
    known = request.getfixturevalue(known)
    resource_id = data.draw(int64s(*known))
    found = request.getfixturevalue(probe).send(getattr(request.getfixturevalue(stub), method),
                                                request_type(id=resource_id))
    assert found is None or found == known[resource_id]


@MANY
@given(data=st.data())
def test_delete_product_of_no_product(products_stub, products_probe, catalogue, data):
    product_id = data.draw(int64s().filter(lambda number: number not in catalogue))
    products_probe.refusal(products_stub.DeleteProduct, products_pb2.DeleteProductRequest(id=product_id))


@MANY
@given(data=st.data())
def test_list_products(products_stub, products_probe, catalogue, data):
    token = first_page_token(products_stub.ListProducts, products_pb2.ListProductsRequest())
    request = products_pb2.ListProductsRequest(page_size=data.draw(int32s()), page_token=data.draw(page_tokens(token)))
    check_page(products_probe, products_stub.ListProducts, request, catalogue, 'products')


@MANY
@given(data=st.data())
def test_search_products(products_stub, products_probe, catalogue, data):
    request = products_pb2.SearchProductsRequest(**data.draw(spoiled(
        {'q': 'desk', 'category': Product.HOME, 'min_price': '1', 'max_price': '200', 'page_size': 10}, {
            'q': st.one_of(st.sampled_from(['', '100%_', 'ÉCLAIR', 'eclair']), hostile_text()),
            'category': enum_numbers(len(Product.Category.keys())),
            'min_price': st.one_of(st.none(), hostile_decimal()), 'max_price': st.one_of(st.none(), hostile_decimal()),
            'page_size': int32s()})))
    request.page_token = data.draw(page_tokens(first_page_token(products_stub.SearchProducts,
                                                                products_pb2.SearchProductsRequest())))
    page = products_probe.send(products_stub.SearchProducts, request)
    if page is None:
        return
    assert len(page.products) <= page_bound(request.page_size) and page.total_size >= len(page.products)
    for product in page.products:
        assert product == catalogue[product.id]
        assert request.q.strip().casefold() in product.name.casefold()
        assert request.category in (0, product.category)
        assert not request.min_price or Decimal(request.min_price) <= Decimal(product.price)
        assert not request.max_price or Decimal(product.price) <= Decimal(request.max_price)


@MANY
@given(data=st.data())
def test_update_product(products_stub, products_probe, catalogue, data):
    product_id = data.draw(int64s(*catalogue))
    fields, mask = data.draw(product_fields), data.draw(update_masks)
    request = products_pb2.UpdateProductRequest(product=Product(id=product_id, **fields))
    if mask is not None:
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=mask))
    updated = products_probe.send(products_stub.UpdateProduct, request)
    if updated is None:
        return
    assert products_stub.GetProduct(products_pb2.GetProductRequest(id=product_id)) == updated
    changed = set(EDITABLE_FIELDS) if mask and '*' in mask else set(mask or fields)
    for field in set(EDITABLE_FIELDS) - changed:
        assert getattr(updated, field) == getattr(catalogue[product_id], field), f'{field} changed unasked'
    catalogue[product_id] = updated


# --- StockService ----------------------------------------------------------------------------------

def stock_lines(catalogue):
    line = st.builds(stock_pb2.StockLine, product_id=int64s(*catalogue), quantity=int32s(2, 50, 51))
    return st.one_of(st.lists(line, max_size=3), st.lists(line, min_size=101, max_size=101))


@MANY
@given(data=st.data())
def test_reserve_stock(products_stub, stock_stub, products_probe, catalogue, data):
    request = stock_pb2.ReserveStockRequest(**data.draw(spoiled(
        {'reservation_id': data.draw(st.uuids()).hex,
         'lines': [stock_pb2.StockLine(product_id=product_id, quantity=1) for product_id in catalogue]},
        {'reservation_id': hostile_text(), 'lines': stock_lines(catalogue)})))
    before = stocks(products_stub, catalogue)
    reserved = products_probe.send(stock_stub.ReserveStock, request)
    if reserved is None:
        return
    taken = {line.product_id: line.quantity for line in request.lines}
    assert stocks(products_stub, catalogue) == {pid: stock - taken.get(pid, 0) for pid, stock in before.items()}
    released = stock_stub.ReleaseStock(stock_pb2.ReleaseStockRequest(reservation_id=request.reservation_id))
    assert released.released_now and stocks(products_stub, catalogue) == before


@MANY
@given(data=st.data())
def test_reserve_stocks(products_stub, stock_stub, products_probe, catalogue, data):
    """A batch whose entries are spoiled one by one: each is taken whole or refused alone, and the call never fails
    for one of them."""
    entries = []
    for _ in range(data.draw(st.integers(0, 3))):
        valid = {'reservation_id': data.draw(st.uuids()).hex,
                 'lines': [stock_pb2.StockLine(product_id=product_id, quantity=1) for product_id in catalogue]}
        fields = data.draw(spoiled(valid, {'reservation_id': hostile_text(), 'lines': stock_lines(catalogue)})
                           if data.draw(st.booleans()) else st.just(valid))
        entries.append(stock_pb2.StockReservation(
            reservation=stock_pb2.ReserveStockRequest(**fields), request_id=data.draw(hostile_text()),
            actor=data.draw(hostile_text())))
    request = stock_pb2.ReserveStocksRequest(reservations=entries)
    before = stocks(products_stub, catalogue)
    answered = products_probe.send(stock_stub.ReserveStocks, request)
    if answered is None:
        assert stocks(products_stub, catalogue) == before
        return
    assert len(answered.outcomes) == len(request.reservations)
    taken, granted = dict.fromkeys(before, 0), set()
    for entry_, outcome in zip(request.reservations, answered.outcomes, strict=True):
        if outcome.HasField('reserved') and entry_.reservation.reservation_id not in granted:
            granted.add(entry_.reservation.reservation_id)
            for line in entry_.reservation.lines:
                taken[line.product_id] += line.quantity
    assert stocks(products_stub, catalogue) == {pid: stock - taken[pid] for pid, stock in before.items()}
    for reservation_id in granted:
        stock_stub.ReleaseStock(stock_pb2.ReleaseStockRequest(reservation_id=reservation_id))
    assert stocks(products_stub, catalogue) == before


@MANY
@given(reservation_id=hostile_text())
def test_release_stock_of_no_reservation(products_stub, stock_stub, products_probe, catalogue, reservation_id):
    before = all_products(products_stub)
    released = products_probe.send(stock_stub.ReleaseStock,
                                   stock_pb2.ReleaseStockRequest(reservation_id=reservation_id))
    if released is not None:
        assert not released.released_now and all_products(products_stub) == before


# --- OrderService ----------------------------------------------------------------------------------

emails = st.one_of(st.sampled_from([EMAIL, ' ADA@Example.COM ', 'ada@example', '@example.com', 'ada@@example.com',
                                    'a' * 250 + '@example.com', "o'brien@example.com", 'ada@example.com\x00']),
                   hostile_text())


# AIP-155 request ids in the forms a client may write them, each a fresh UUID: a repeated one would replay an order.
request_ids = st.sampled_from([str, lambda value: str(value).upper(), lambda value: f'{{{value}}}',
                               lambda value: value.urn, lambda value: value.hex]).map(lambda form: form(uuid.uuid4()))


@MANY
@given(data=st.data())
def test_create_order(orders_stub, products_stub, shop_probe, catalogue, data):
    item = st.tuples(int64s(*catalogue), int32s(2, MAX_QUANTITY, MAX_QUANTITY + 1))
    fields = data.draw(spoiled(
        {'name': 'Ada', 'email': EMAIL, 'address': '1 Analytical Way', 'items': [(next(iter(catalogue)), 2)]}, {
            'name': hostile_text(), 'email': emails, 'address': hostile_text(),
            'items': st.one_of(st.lists(item, max_size=3), st.lists(item, min_size=101, max_size=101)),
            'request_id': st.one_of(request_ids, hostile_text())}))
    request = order_request(**{key: fields.get(key, '') for key in ('name', 'email', 'address')},
                            items=fields['items'], request_id=fields.get('request_id', ''))
    before = stocks(products_stub, catalogue)
    order = shop_probe.send(orders_stub.CreateOrder, request)
    if order is None:
        return
    assert orders_stub.GetOrder(orders_pb2.GetOrderRequest(id=order.id)) == order
    assert (order.customer_name, order.customer_email, order.shipping_address, order.status) == (
        request.customer_name.strip(), request.customer_email.strip().lower(), request.shipping_address.strip(),
        Order.PENDING)
    taken = {item.product_id: item.quantity for item in request.items}
    assert [(item.product_id, item.quantity) for item in order.items] == list(taken.items())
    assert stocks(products_stub, catalogue) == {pid: stock - taken.get(pid, 0) for pid, stock in before.items()}
    orders_stub.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id))  # gives the stock back for later examples
    assert stocks(products_stub, catalogue) == before


@MANY
@given(data=st.data())
def test_list_orders(orders_stub, shop_probe, shop, data):
    token = first_page_token(orders_stub.ListOrders, orders_pb2.ListOrdersRequest())
    request = orders_pb2.ListOrdersRequest(page_size=data.draw(int32s()), page_token=data.draw(page_tokens(token)),
                                           status=data.draw(enum_numbers(len(Order.Status.keys()))))
    check_page(shop_probe, orders_stub.ListOrders, request, shop, 'orders',
               lambda order: request.status in (0, order.status))


@MANY
@given(data=st.data())
def test_get_orders_by_customer(orders_stub, shop_probe, shop, data):
    token = first_page_token(orders_stub.GetOrdersByCustomer, orders_pb2.GetOrdersByCustomerRequest(email=EMAIL))
    request = orders_pb2.GetOrdersByCustomerRequest(email=data.draw(emails), page_size=data.draw(int32s()),
                                                    page_token=data.draw(page_tokens(token)))
    check_page(shop_probe, orders_stub.GetOrdersByCustomer, request, shop, 'orders',
               lambda order: order.customer_email == request.email.strip().lower())


@MANY
@given(data=st.data())
def test_update_order_status(orders_stub, shop_probe, shop, data):
    request = orders_pb2.UpdateOrderStatusRequest(id=data.draw(int64s(*shop)),
                                                  status=data.draw(enum_numbers(len(Order.Status.keys()))))
    updated = shop_probe.send(orders_stub.UpdateOrderStatus, request)
    if updated is not None:
        assert updated.status == request.status and updated.items == shop[request.id].items
        assert orders_stub.GetOrder(orders_pb2.GetOrderRequest(id=request.id)) == updated
        shop[request.id] = updated


@MANY
@given(data=st.data())
def test_cancel_order(orders_stub, shop_probe, shop, data):
    order_id = data.draw(int64s(*shop))
    cancelled = shop_probe.send(orders_stub.CancelOrder, orders_pb2.CancelOrderRequest(id=order_id))
    if cancelled is not None:
        assert shop[order_id].status in (Order.PENDING, Order.PROCESSING) and cancelled.status == Order.CANCELLED
        assert orders_stub.GetOrder(orders_pb2.GetOrderRequest(id=order_id)) == cancelled
        shop[order_id] = cancelled


# --- CartService ---------------------------------------------------------------------------------------

@pytest.fixture
def carts_stub(orders_address):
    with grpc.insecure_channel(orders_address) as channel:
        yield carts_pb2_grpc.CartServiceStub(channel)


@pytest.fixture
def carts(carts_stub, shop):
    """Ada's carts, by id: one open with a line, one being checked out, one completed."""
    product_id = next(iter(shop.values())).items[0].product_id
    made = []
    for steps in ((), ('checkout',), ('checkout', 'complete')):
        cart = carts_stub.CreateCart(carts_pb2.CreateCartRequest(customer_email=EMAIL))
        carts_stub.AddCartItem(carts_pb2.AddCartItemRequest(cart_id=cart.id, product_id=product_id, quantity=1))
        if 'checkout' in steps:
            carts_stub.CheckoutCart(carts_pb2.CheckoutCartRequest(id=cart.id, customer_name='Ada',
                                                                  shipping_address='1 Analytical Way'))
        if 'complete' in steps:
            carts_stub.CompleteCheckout(carts_pb2.CompleteCheckoutRequest(id=cart.id))
        made.append(cart.id)
    return made


@MANY
@given(data=st.data())
def test_cart_lines(carts_stub, shop_probe, carts, catalogue, data):
    """Adding, setting and removing lines with hostile ids and quantities: a clear refusal, or the line as asked."""
    method = data.draw(st.sampled_from(['AddCartItem', 'UpdateCartItem', 'DeleteCartItem']))
    fields = {'cart_id': data.draw(int64s(*carts)), 'product_id': data.draw(int64s(*catalogue))}
    if method != 'DeleteCartItem':
        fields['quantity'] = data.draw(int32s(MAX_QUANTITY, MAX_QUANTITY + 1))
    answer = shop_probe.send(getattr(carts_stub, method), getattr(carts_pb2, f'{method}Request')(**fields))
    if answer is not None and method != 'DeleteCartItem':
        line = next(line for line in answer.lines if line.product_id == fields['product_id'])
        assert 1 <= line.quantity <= MAX_QUANTITY and answer.state == carts_pb2.Cart.OPEN


@MANY
@given(data=st.data())
def test_cart_checkouts(carts_stub, shop_probe, carts, data):
    """Checking out, completing and abandoning with hostile ids and shipping details."""
    method = data.draw(st.sampled_from(['CheckoutCart', 'CompleteCheckout', 'AbandonCheckout']))
    fields = {'id': data.draw(int64s(*carts))}
    if method == 'CheckoutCart':
        fields.update(data.draw(spoiled({'customer_name': 'Ada', 'shipping_address': '1 Analytical Way'}, {
            'customer_name': hostile_text(absent=True), 'shipping_address': hostile_text(absent=True)})))
    shop_probe.send(getattr(carts_stub, method), getattr(carts_pb2, f'{method}Request')(**fields))


@MANY
@given(data=st.data())
def test_create_and_list_carts(carts_stub, shop_probe, carts, data):
    if data.draw(st.booleans()):
        cart = shop_probe.send(carts_stub.CreateCart, carts_pb2.CreateCartRequest(customer_email=data.draw(emails)))
        assert cart is None or (cart.state, cart.lines) == (carts_pb2.Cart.OPEN, [])
        return
    token = first_page_token(carts_stub.ListCarts, carts_pb2.ListCartsRequest(customer_email=EMAIL))
    request = carts_pb2.ListCartsRequest(customer_email=data.draw(emails), page_size=data.draw(int32s()),
                                         page_token=data.draw(page_tokens(token)),
                                         state=data.draw(enum_numbers(len(carts_pb2.Cart.State.keys()))))
    page = shop_probe.send(carts_stub.ListCarts, request)
    if page is not None:
        assert len(page.carts) <= page_bound(request.page_size)
        assert all(cart.customer_email == request.customer_email.strip().lower() for cart in page.carts)


# --- bytes that are not the request message ----------------------------------------------------------

SERVICES = [service for file in api_files() for service in file.services_by_name.values()]
RPCS = [(service.full_name, method.name) for service in SERVICES for method in service.methods]
STREAMING = {(service.full_name, method.name) for service in SERVICES for method in service.methods
             if method.server_streaming}


def first_of_stream(open_stream):
    """A server-streaming RPC called like a unary one: its first message, or None when the stream is open but
    waiting for a change (a watch of every order); a refusal comes before any message, as an RpcError."""
    def call(request, timeout):
        stream = open_stream(request, timeout=min(timeout, 1.0))
        try:
            return next(stream, None)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return None
            raise
        finally:
            stream.cancel()
    return call


@pytest.fixture
def raw_rpc(products_address, orders_address):
    """raw_rpc(service, method): a callable sending bytes as they are to that RPC on its server."""
    with grpc.insecure_channel(products_address) as products, grpc.insecure_channel(orders_address) as orders:
        channels = {service.full_name: orders if service.file.package.startswith('ecommerce.orders.') else products
                    for service in SERVICES}

        def rpc(service, method):
            if (service, method) in STREAMING:
                return first_of_stream(channels[service].unary_stream(f'/{service}/{method}'))
            return channels[service].unary_unary(f'/{service}/{method}')
        yield rpc


@MANY
@given(data=st.data())
def test_bytes_that_are_no_valid_message(raw_rpc, shop_probe, data):
    """Random bytes, and strings that are not UTF-8 (Envoy passes them on from a %-encoded path), to every RPC."""
    service, method = data.draw(st.sampled_from(RPCS))
    raw = data.draw(st.one_of(st.binary(max_size=60), st.sampled_from([
        b'\x0a\x02\xc3\x28', b'\x0a\x01\xff', b'\x12\x03\xed\xa0\x80', b'\x0a\x80', b'\xff' * 10,
        b'\x08' + b'\xff' * 11])))
    shop_probe.send(raw_rpc(service, method), raw)


# --- the message size limit --------------------------------------------------------------------------

@pytest.mark.parametrize('size, code', [(MAX_MESSAGE_BYTES + 1, grpc.StatusCode.RESOURCE_EXHAUSTED),
                                        (MAX_MESSAGE_BYTES - 100, grpc.StatusCode.INVALID_ARGUMENT)],
                         ids=['over-the-limit', 'under-the-limit'])
def test_a_message_over_the_limit_is_refused_before_it_is_read(products_stub, orders_stub, shop_probe, size, code):
    """Over MAX_MESSAGE_BYTES: RESOURCE_EXHAUSTED from grpc itself (a client mistake, not INTERNAL); just under it,
    the service reads the request and refuses the value as usual. Either way nothing changes and both serve on."""
    huge = 'x' * size
    for method, request in [
            (products_stub.CreateProduct, products_pb2.CreateProductRequest(
                product=Product(name=huge, price='1.00', category=Product.HOME))),
            (orders_stub.CreateOrder, order_request(huge, EMAIL, '1 Way', [(1, 1)]))]:
        error = shop_probe.refusal(method, request)
        assert error.code() == code, error.details()
