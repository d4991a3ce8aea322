"""Who may do what, from outside: every RPC × every kind of caller, through gRPC straight to the services and
through Envoy (REST where the RPC has a route, native gRPC where it has none), against the real processes started
with a JWKS. The expected table is written out here, not derived from services/auth.py, so that a change to the
access table that nobody meant shows up as a failure. The log prints the table as it was observed."""
import http.client
import json
import uuid

import grpc
import pytest
from ecommerce.orders.v1 import carts_pb2, carts_pb2_grpc, orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc, stock_pb2, stock_pb2_grpc

from bench.processes import DESCRIPTOR
from scripts import tokens
from scripts.exposure import read_api
from services import auth
from tests.tokens import bad_tokens_for

pytestmark = pytest.mark.e2e

ANN, BOB = 'ann@example.com', 'bob@example.com'
GOOD_CALLERS = ('anonymous', 'customer A', 'customer B', 'admin', 'service')
BAD_CALLERS = ('expired', 'unknown key', 'alg none', 'tampered')

OK, UNAUTH, DENIED, HIDDEN = 'OK', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND'
PUBLIC = (OK, OK, OK, OK, OK)
ADMIN_ONLY = (UNAUTH, DENIED, DENIED, OK, DENIED)
SERVICE_ONLY = (UNAUTH, DENIED, DENIED, DENIED, OK)
ANN_OR_ADMIN = (UNAUTH, OK, DENIED, OK, DENIED)  # names Ann's email: Bob is told no
ANNS_ORDER = (UNAUTH, OK, HIDDEN, OK, DENIED)  # names Ann's order by id: to Bob it does not exist
# The RPC, then what each of GOOD_CALLERS gets (in that order); every bad token gets UNAUTHENTICATED everywhere.
EXPECTED = {
    'GetProduct': PUBLIC,
    'ListProducts': PUBLIC,
    'SearchProducts': PUBLIC,
    'ListStockMovements': ADMIN_ONLY,
    'CreateProduct': ADMIN_ONLY,
    'UpdateProduct': ADMIN_ONLY,
    'DeleteProduct': ADMIN_ONLY,
    'ImportProducts': ADMIN_ONLY,
    'ReserveStock': SERVICE_ONLY,
    'ReserveStocks': SERVICE_ONLY,
    'ReleaseStock': SERVICE_ONLY,
    'ConvertHold': SERVICE_ONLY,
    'GetStockLevels': SERVICE_ONLY,
    'CreateOrder': ANN_OR_ADMIN,
    'GetOrdersByCustomer': ANN_OR_ADMIN,
    'WatchOrders': ANN_OR_ADMIN,
    'GetOrder': ANNS_ORDER,
    'ListOrderEvents': ANNS_ORDER,
    'CancelOrder': ANNS_ORDER,
    'WatchOrder': ANNS_ORDER,
    'ListOrders': ADMIN_ONLY,
    'UpdateOrderStatus': ADMIN_ONLY,
    'CreateCart': ANN_OR_ADMIN,
    'ListCarts': ANN_OR_ADMIN,
    'GetCart': ANNS_ORDER,
    'AddCartItem': ANNS_ORDER,
    'UpdateCartItem': ANNS_ORDER,
    'DeleteCartItem': ANNS_ORDER,
    'CheckoutCart': ANNS_ORDER,
    'CompleteCheckout': ANNS_ORDER,
    'AbandonCheckout': ANNS_ORDER,
}
HTTP_STATUS = {OK: 200, UNAUTH: 401, DENIED: 403, HIDDEN: 404}
# A REST create answers 201, a delete 204 (scripts/exposure.py).
REST_SUCCESS = {rpc.name: int(rpc.rest_answer['status']) for rpc in read_api(DESCRIPTOR).public() if rpc.rest_answer}
# StockService's: not routed by Envoy at all, refused there as a method that does not exist, whoever calls.
INTERNAL = ('ReserveStock', 'ReserveStocks', 'ReleaseStock', 'ConvertHold', 'GetStockLevels')


@pytest.fixture(scope='module')
def callers(auth_keys, tmp_path_factory):
    """{caller: the authorization header's value, or None}."""
    issuer = auth.TokenIssuer.from_config(auth_keys / tokens.SIGNING_KEY)
    good = {'anonymous': None,
            'customer A': issuer.issue([auth.CUSTOMER], email=ANN),
            'customer B': issuer.issue([auth.CUSTOMER], email=BOB),
            'admin': issuer.issue([auth.ADMIN]),
            'service': issuer.issue([auth.SERVICE])}
    bad = bad_tokens_for(issuer, tmp_path_factory.mktemp('stranger'))
    return {name: token and f'Bearer {token}' for name, token in {**good, **bad}.items()
            if name in GOOD_CALLERS + BAD_CALLERS}


class Shop:
    """Direct gRPC stubs to the secured services, and what the calls of the matrix need, made as admin."""

    def __init__(self, system, admin):
        self._channels = [grpc.insecure_channel(system.products), grpc.insecure_channel(system.orders),
                          grpc.insecure_channel(system.gateway)]
        self.products = products_pb2_grpc.ProductServiceStub(self._channels[0])
        self.stock = stock_pb2_grpc.StockServiceStub(self._channels[0])
        self.orders = orders_pb2_grpc.OrderServiceStub(self._channels[1])
        self.carts = carts_pb2_grpc.CartServiceStub(self._channels[1])
        self.gateway = (products_pb2_grpc.ProductServiceStub(self._channels[2]),
                        stock_pb2_grpc.StockServiceStub(self._channels[2]),
                        orders_pb2_grpc.OrderServiceStub(self._channels[2]),
                        carts_pb2_grpc.CartServiceStub(self._channels[2]))
        self._admin = (('authorization', admin),)
        self.product_id = self.new_product()

    def new_product(self):
        return self.products.CreateProduct(products_pb2.CreateProductRequest(product=products_pb2.Product(
            name='Lamp', price='19.90', stock_quantity=1000, category=products_pb2.Product.HOME)),
            metadata=self._admin).id

    def anns_order(self):
        return self.orders.CreateOrder(order_request(self.product_id, ANN), metadata=self._admin)

    def anns_cart(self, checked_out=False):
        """A new cart of Ann's holding one of the shop's product, its checkout under way if `checked_out`."""
        cart = self.carts.CreateCart(carts_pb2.CreateCartRequest(customer_email=ANN), metadata=self._admin)
        self.carts.AddCartItem(carts_pb2.AddCartItemRequest(cart_id=cart.id, product_id=self.product_id, quantity=1),
                               metadata=self._admin)
        if checked_out:
            self.carts.CheckoutCart(checkout_request(cart.id), metadata=self._admin)
        return cart.id

    def close(self):
        for channel in self._channels:
            channel.close()


def order_request(product_id, email):
    return orders_pb2.CreateOrderRequest(customer_name='Ann', customer_email=email, shipping_address='1 Road',
                                         items=[orders_pb2.OrderItemRequest(product_id=product_id, quantity=1)])


def checkout_request(cart_id):
    return carts_pb2.CheckoutCartRequest(id=cart_id, customer_name='Ann', shipping_address='1 Road')


# The RPCs that change the product, order or cart they name: each cell gets a new one.
CHANGES_A_PRODUCT = ('UpdateProduct', 'DeleteProduct')
NAMES_AN_ORDER = ('GetOrder', 'ListOrderEvents', 'CancelOrder', 'WatchOrder', 'UpdateOrderStatus')
NAMES_A_CART = ('GetCart', 'AddCartItem', 'UpdateCartItem', 'DeleteCartItem', 'CheckoutCart')
NAMES_A_CHECKOUT = ('CompleteCheckout', 'AbandonCheckout')


def call_for(shop, rpc):
    """(gRPC request, REST method, path and body; None without a REST route) for one cell of the matrix: an
    allowed write in one cell leaves the next one a product or order of its own."""
    product = shop.new_product() if rpc in CHANGES_A_PRODUCT else shop.product_id
    order = shop.anns_order().id if rpc in NAMES_AN_ORDER else 0
    cart = shop.anns_cart(checked_out=rpc in NAMES_A_CHECKOUT) if rpc in NAMES_A_CART + NAMES_A_CHECKOUT else 0
    new_product = products_pb2.Product(name='Lamp', price='19.90', stock_quantity=1, category=products_pb2.Product.HOME)
    made = {
        'GetProduct': lambda: (products_pb2.GetProductRequest(id=product), ('GET', f'/api/products/{product}', None)),
        'ListProducts': lambda: (products_pb2.ListProductsRequest(), ('GET', '/api/products', None)),
        'SearchProducts': lambda: (products_pb2.SearchProductsRequest(q='lam'),
                                   ('GET', '/api/products/search?q=lam', None)),
        'ListStockMovements': lambda: (products_pb2.ListStockMovementsRequest(product_id=product),
                                       ('GET', f'/api/products/{product}/stock-movements', None)),
        'CreateProduct': lambda: (products_pb2.CreateProductRequest(product=new_product), ('POST', '/api/products', {
            'name': 'Lamp', 'price': '19.90', 'stock_quantity': 1, 'category': 'home'})),
        'UpdateProduct': lambda: (
            products_pb2.UpdateProductRequest(product=products_pb2.Product(id=product, stock_quantity=7),
                                              update_mask={'paths': ['stock_quantity']}),
            ('PATCH', f'/api/products/{product}', {'stock_quantity': 7})),
        'DeleteProduct': lambda: (products_pb2.DeleteProductRequest(id=product),
                                  ('DELETE', f'/api/products/{product}', None)),
        'ImportProducts': lambda: ([products_pb2.ImportProductsRequest(products=[new_product])], None),
        'ReserveStock': lambda: (stock_pb2.ReserveStockRequest(reservation_id=uuid.uuid4().hex, lines=[
            stock_pb2.StockLine(product_id=product, quantity=1)]), None),
        'ReserveStocks': lambda: (stock_pb2.ReserveStocksRequest(reservations=[stock_pb2.StockReservation(
            reservation=stock_pb2.ReserveStockRequest(reservation_id=uuid.uuid4().hex, lines=[
                stock_pb2.StockLine(product_id=product, quantity=1)]))]), None),
        'ReleaseStock': lambda: (stock_pb2.ReleaseStockRequest(reservation_id=uuid.uuid4().hex), None),
        'ConvertHold': lambda: (stock_pb2.ConvertHoldRequest(reservation_id=uuid.uuid4().hex, order_id=1), None),
        'GetStockLevels': lambda: (stock_pb2.GetStockLevelsRequest(product_ids=[product]), None),
        'CreateOrder': lambda: (order_request(product, ANN), ('POST', '/api/orders', {
            'customer_name': 'Ann', 'customer_email': ANN, 'shipping_address': '1 Road',
            'items': [{'product_id': product, 'quantity': 1}]})),
        'GetOrdersByCustomer': lambda: (orders_pb2.GetOrdersByCustomerRequest(email=ANN),
                                        ('GET', f'/api/orders/customer/{ANN}', None)),
        'WatchOrders': lambda: (orders_pb2.WatchOrdersRequest(customer_email=ANN),
                                ('GET', f'/api/orders/watch?customer_email={ANN}', None)),
        'GetOrder': lambda: (orders_pb2.GetOrderRequest(id=order), ('GET', f'/api/orders/{order}', None)),
        'ListOrderEvents': lambda: (orders_pb2.ListOrderEventsRequest(order_id=order),
                                    ('GET', f'/api/orders/{order}/events', None)),
        'CancelOrder': lambda: (orders_pb2.CancelOrderRequest(id=order), ('POST', f'/api/orders/{order}/cancel', {})),
        'WatchOrder': lambda: (orders_pb2.WatchOrderRequest(id=order), ('GET', f'/api/orders/{order}/watch', None)),
        'ListOrders': lambda: (orders_pb2.ListOrdersRequest(), ('GET', '/api/orders', None)),
        'UpdateOrderStatus': lambda: (
            orders_pb2.UpdateOrderStatusRequest(id=order, status=orders_pb2.Order.PROCESSING),
            ('PATCH', f'/api/orders/{order}/status', {'status': 'processing'})),
        'CreateCart': lambda: (carts_pb2.CreateCartRequest(customer_email=ANN),
                               ('POST', '/api/carts', {'customer_email': ANN})),
        'ListCarts': lambda: (carts_pb2.ListCartsRequest(customer_email=ANN),
                              ('GET', f'/api/carts?customer_email={ANN}', None)),
        'GetCart': lambda: (carts_pb2.GetCartRequest(id=cart), ('GET', f'/api/carts/{cart}', None)),
        'AddCartItem': lambda: (carts_pb2.AddCartItemRequest(cart_id=cart, product_id=product, quantity=1),
                                ('POST', f'/api/carts/{cart}/items', {'product_id': product, 'quantity': 1})),
        'UpdateCartItem': lambda: (carts_pb2.UpdateCartItemRequest(cart_id=cart, product_id=product, quantity=2),
                                   ('PATCH', f'/api/carts/{cart}/items/{product}', {'quantity': 2})),
        'DeleteCartItem': lambda: (carts_pb2.DeleteCartItemRequest(cart_id=cart, product_id=product),
                                   ('DELETE', f'/api/carts/{cart}/items/{product}', None)),
        'CheckoutCart': lambda: (checkout_request(cart), ('POST', f'/api/carts/{cart}/checkout', {
            'customer_name': 'Ann', 'shipping_address': '1 Road'})),
        'CompleteCheckout': lambda: (carts_pb2.CompleteCheckoutRequest(id=cart),
                                     ('POST', f'/api/carts/{cart}/complete', {})),
        'AbandonCheckout': lambda: (carts_pb2.AbandonCheckoutRequest(id=cart),
                                    ('POST', f'/api/carts/{cart}/abandon', {})),
    }
    return made[rpc]()


def grpc_code(stub, rpc, request, authorization):
    """The status name a gRPC call gets; a stream that starts counts as OK."""
    metadata = (('authorization', authorization),) if authorization else ()
    method = getattr(stub, rpc)
    try:
        if rpc.startswith('Watch'):
            call = method(request, metadata=metadata, timeout=10)
            call.initial_metadata()
            if call.done():
                return call.code().name
            call.cancel()
            return OK
        if rpc == 'ImportProducts':
            method(iter(request), metadata=metadata, timeout=10)
        else:
            method(request, metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        return error.code().name
    return OK


def http_status(gateway, rest, authorization):
    """The HTTP status Envoy answers a REST call with (for a watch, as soon as it starts)."""
    verb, path, body = rest
    connection = http.client.HTTPConnection(gateway, timeout=10)
    try:
        headers = {'content-type': 'application/json'}
        if authorization:
            headers['authorization'] = authorization
        connection.request(verb, path, body=json.dumps(body) if body is not None else None, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def stub_for(stubs, rpc):
    """The one of `stubs` whose service has `rpc`."""
    return next(stub for stub in stubs if hasattr(stub, rpc))


def test_every_rpc_and_caller_gets_exactly_the_expected_status(secure_system, callers):
    assert sorted(EXPECTED) == sorted(rpc.name for rpc in read_api(DESCRIPTOR).ours())  # a new RPC needs its row
    shop = Shop(secure_system, callers['admin'])
    wrong, table = [], []
    try:
        for rpc, expected_by_caller in EXPECTED.items():
            expected = dict(zip(GOOD_CALLERS, expected_by_caller, strict=True)) | dict.fromkeys(BAD_CALLERS, UNAUTH)
            row = [rpc]
            for caller, authorization in callers.items():
                request, rest = call_for(shop, rpc)
                direct = grpc_code(stub_for((shop.products, shop.stock, shop.orders, shop.carts), rpc), rpc, request,
                                   authorization)
                if rest is None:  # through Envoy as native gRPC
                    gateway_expected = 'UNIMPLEMENTED' if rpc in INTERNAL else expected[caller]
                    request, _ = call_for(shop, rpc)
                    via_envoy = grpc_code(stub_for(shop.gateway, rpc), rpc, request, authorization)
                else:
                    gateway_expected = (REST_SUCCESS.get(rpc, 200) if expected[caller] == OK
                                        else HTTP_STATUS[expected[caller]])
                    via_envoy = http_status(secure_system.gateway, call_for(shop, rpc)[1], authorization)
                if (direct, via_envoy) != (expected[caller], gateway_expected):
                    wrong.append(f'{rpc} as {caller}: gRPC {direct}, Envoy {via_envoy}; expected '
                                 f'{expected[caller]}, {gateway_expected}')
                row.append(f'{SHORT.get(direct, direct)} / {SHORT.get(via_envoy, via_envoy)}')
            table.append(row)
    finally:
        shop.close()
    print_table(['RPC', *callers], table)
    assert not wrong, '\n'.join(wrong)


SHORT = {UNAUTH: 'UNAUTHN', DENIED: 'DENIED', 'UNIMPLEMENTED': 'UNIMPL'}


def print_table(header, rows):
    widths = [max(len(str(row[column])) for row in [header, *rows]) for column in range(len(header))]
    print('\nauthorization matrix: gRPC direct / through Envoy (HTTP status, or gRPC status where no REST route); '
          'UNAUTHN = UNAUTHENTICATED, DENIED = PERMISSION_DENIED, UNIMPL = UNIMPLEMENTED (not routed)')
    for row in [header, *rows]:
        print('  '.join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


def test_another_customers_order_is_as_missing_as_one_that_does_not_exist_and_stays_as_it_was(
        secure_system, callers):
    shop = Shop(secure_system, callers['admin'])
    try:
        order = shop.anns_order()
        bob = (('authorization', callers['customer B']),)
        for request_for in (lambda id_: (shop.orders.GetOrder, orders_pb2.GetOrderRequest(id=id_)),
                            lambda id_: (shop.orders.CancelOrder, orders_pb2.CancelOrderRequest(id=id_))):
            answers = []
            for order_id in (order.id, order.id + 10_000):
                method, request = request_for(order_id)
                with pytest.raises(grpc.RpcError) as refused:
                    method(request, metadata=bob, timeout=10)
                answers.append((refused.value.code(), refused.value.details().replace(str(order_id), 'N')))
            assert answers[0] == answers[1] == (grpc.StatusCode.NOT_FOUND, 'order N not found')
        admin = (('authorization', callers['admin']),)
        after = shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id), metadata=admin)
        assert after.status == orders_pb2.Order.PENDING
        product = shop.products.GetProduct(products_pb2.GetProductRequest(id=shop.product_id))
        ann = (('authorization', callers['customer A']),)
        cancelled = shop.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=ann)
        assert cancelled.status == orders_pb2.Order.CANCELLED
        restored = shop.products.GetProduct(products_pb2.GetProductRequest(id=shop.product_id))
        assert restored.stock_quantity == product.stock_quantity + 1
    finally:
        shop.close()


def test_a_service_says_at_start_whether_it_checks_tokens(secure_system, system):
    warning = 'authentication is off'
    for name in ('products', 'orders'):
        assert warning not in secure_system.processes[name].log()
        assert warning in system.processes[name].log()


def test_the_history_names_who_made_each_change_and_the_customer_an_orders_stock_moved_for(
        secure_system, auth_keys):
    issuer = auth.TokenIssuer.from_config(auth_keys / tokens.SIGNING_KEY)
    admin = (('authorization', f'Bearer {issuer.issue([auth.ADMIN], subject="ops-jane")}'),)
    ann = (('authorization', f'Bearer {issuer.issue([auth.CUSTOMER], email=ANN)}'),)
    # A service token naming someone else: only Orders' own calls may say whom they act for.
    forged_actor = (*ann, ('x-ecommerce-actor', 'ops-jane'))
    shop = Shop(secure_system, admin[0][1])
    try:
        order = shop.orders.CreateOrder(order_request(shop.product_id, ANN), metadata=forged_actor)
        shop.orders.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(
            id=order.id, status=orders_pb2.Order.PROCESSING), metadata=admin)
        shop.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=admin)
        events = shop.orders.ListOrderEvents(orders_pb2.ListOrderEventsRequest(order_id=order.id), metadata=ann)
        assert [(orders_pb2.Order.Status.Name(event.to_status), event.actor) for event in events.events] == [
            ('CANCELLED', 'ops-jane'), ('PROCESSING', 'ops-jane'), ('PENDING', ANN)]
        movements = shop.products.ListStockMovements(products_pb2.ListStockMovementsRequest(
            product_id=shop.product_id), metadata=admin).movements
        by_reason = {products_pb2.StockMovement.Reason.Name(movement.reason): movement.actor
                     for movement in movements if movement.reservation_id}
        assert by_reason == {'RESERVED': ANN, 'RELEASED': 'ops-jane'}
    finally:
        shop.close()
