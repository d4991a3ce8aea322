"""Carts and checkouts through the real Envoy's REST: the storefront's flow, shoppers racing for scarce stock, holds
expiring with nobody calling, completion racing expiry, and retries of a completion. A checkout here holds its stock
HOLD_SECONDS, so that expiry happens within the test; after each scenario every unit is on the shelf, held by a
checkout under way, or in a live order."""
import threading
import time
from concurrent import futures

import grpc
import pytest
from ecommerce.orders.v1 import carts_pb2_grpc, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2_grpc

from bench.processes import running_system
from tests.e2e.clients import RestClient
from tests.stock_checks import assert_reservations_match_orders, assert_stock_conserved, wait_until_settled

pytestmark = pytest.mark.e2e

HOLD_SECONDS = 3
SHOPPERS = 64
SLASHES = pytest.mark.parametrize('slash', ['', '/'], ids=['no-slash', 'trailing-slash'])


class Storefront:
    """The shop as a storefront reaches it (REST through Envoy), and native stubs to check the invariants with."""

    def __init__(self, system, urls):
        self.api = RestClient(system.gateway)
        self.urls = urls
        self._channels = [grpc.insecure_channel(system.products), grpc.insecure_channel(system.orders)]
        self.products = products_pb2_grpc.ProductServiceStub(self._channels[0])
        self.orders = orders_pb2_grpc.OrderServiceStub(self._channels[1])
        self.carts = carts_pb2_grpc.CartServiceStub(self._channels[1])
        self.initial = {}  # product id -> stock when created

    def close(self):
        for channel in self._channels:
            channel.close()

    def product(self, stock, name='Lamp', price='24.90'):
        reply = self.api.post('/api/products', {'name': name, 'price': price, 'stock_quantity': stock,
                                                'category': 'home'})
        assert reply.status == 201, reply
        self.initial[int(reply.body['id'])] = stock
        return int(reply.body['id'])

    def cart(self, *lines, email='ada@example.com'):
        reply = self.api.post('/api/carts', {'customer_email': email})
        assert reply.status == 201, reply
        cart_id = int(reply.body['id'])
        for product_id, quantity in lines:
            added = self.api.post(f'/api/carts/{cart_id}/items', {'product_id': product_id, 'quantity': quantity})
            assert added.status == 200, added
        return cart_id

    def checkout(self, cart_id, slash=''):
        return self.api.post(f'/api/carts/{cart_id}/checkout{slash}', {'customer_name': 'Ada Lovelace',
                                                                       'shipping_address': '1 Analytical Way'})

    def complete(self, cart_id, slash=''):
        return self.api.post(f'/api/carts/{cart_id}/complete{slash}', {})

    def get(self, cart_id):
        reply = self.api.get(f'/api/carts/{cart_id}')
        assert reply.status == 200, reply
        return reply.body

    def stock(self, product_id):
        return self.api.get(f'/api/products/{product_id}').body['stock_quantity']

    def assert_conserved(self, holds_ended=False):
        """Once every checkout has settled (with `holds_ended`, every hold has ended too, as one expiring between the
        reads of both services would look like units lost): the extended invariant, through the API and in both
        databases."""
        wait_until_settled(self.urls['orders'], timeout=30, holds_ended=holds_ended)
        assert_stock_conserved(self.products, self.orders, self.initial, timeout=10, carts_stub=self.carts)
        assert_reservations_match_orders(self.urls['orders'], self.urls['products'], self.initial)


@pytest.fixture(scope='module')
def shop(tmp_path_factory, new_database):
    urls = {'products': new_database('checkout_products'), 'orders': new_database('checkout_orders')}
    with running_system(tmp_path_factory.mktemp('checkout'), urls['products'], urls['orders'],
                        orders_args=['--checkout-hold', str(HOLD_SECONDS)]) as system:
        storefront = Storefront(system, urls)
        try:
            yield storefront
        finally:
            storefront.close()


def reason(reply):
    """The ErrorInfo reason of an error reply's google.rpc.Status body."""
    return next(detail['reason'] for detail in reply.body['details'] if 'reason' in detail)


@SLASHES
def test_a_storefront_fills_a_cart_checks_it_out_and_completes_it(shop, slash):
    lamp, pen = shop.product(5), shop.product(3, name='Pen', price='1.50')
    created = shop.api.post(f'/api/carts{slash}', {'customer_email': 'Ada@Example.com'})
    assert created.status == 201 and created.headers['location'] == f'/api/carts/{created.body["id"]}', created
    assert (created.body['state'], created.body['customer_email'], created.body['lines']) == (
        'OPEN', 'ada@example.com', [])
    cart = created.body['id']
    assert shop.api.post(f'/api/carts/{cart}/items{slash}', {'product_id': lamp, 'quantity': 1}).status == 200
    assert shop.api.post(f'/api/carts/{cart}/items{slash}', {'product_id': pen, 'quantity': 3}).status == 200
    changed = shop.api.patch(f'/api/carts/{cart}/items/{lamp}{slash}', {'quantity': 2})
    assert [(line['product_id'], line['quantity'], line['availability']) for line in changed.body['lines']] == [
        (str(lamp), 2, 'IN_STOCK'), (str(pen), 3, 'IN_STOCK')]
    removed = shop.api.delete(f'/api/carts/{cart}/items/{pen}{slash}')
    assert removed.status == 204 and removed.text == '', removed
    assert (shop.get(cart)['total_amount'], shop.get(cart)['currency_code']) == ('49.80', 'USD')

    held = shop.checkout(cart, slash)
    assert held.status == 200 and held.body['state'] == 'CHECKING_OUT' and held.body['hold_expires_at'], held
    assert shop.stock(lamp) == 3
    order = shop.complete(cart, slash)
    assert order.status == 200 and (order.body['total_amount'], order.body['status']) == ('49.80', 'PENDING'), order
    assert shop.complete(cart, slash).body['id'] == order.body['id']
    assert shop.api.get(f'/api/orders/{order.body["id"]}').body['items'][0]['quantity'] == 2
    assert (shop.get(cart)['state'], shop.get(cart)['order_id']) == ('COMPLETED', order.body['id'])
    assert shop.stock(lamp) == 3
    listed = shop.api.get(f'/api/carts{slash}?customer_email=ada@example.com&state=COMPLETED').body['carts']
    assert order.body['id'] in [listed_cart['order_id'] for listed_cart in listed]
    shop.assert_conserved()


def test_64_shoppers_racing_for_scarce_stock_hold_no_more_than_there_is(shop):
    lamp = shop.product(20)
    wanted = {shop.cart((lamp, 1 + index % 2), email=f'shopper{index}@example.com'): 1 + index % 2
              for index in range(SHOPPERS)}
    start = threading.Barrier(SHOPPERS)

    def check_out(cart_id):
        start.wait()
        return cart_id, shop.checkout(cart_id)
    with futures.ThreadPoolExecutor(SHOPPERS) as pool:
        replies = dict(pool.map(check_out, wanted))
    held = {cart_id for cart_id, reply in replies.items() if reply.status == 200}
    refused = {cart_id: reply for cart_id, reply in replies.items() if reply.status != 200}
    assert 0 < sum(wanted[cart_id] for cart_id in held) <= 20
    for cart_id, reply in refused.items():  # each refused one names what was left, and holds nothing
        assert reply.status == 400 and reason(reply) == 'INSUFFICIENT_STOCK', reply
        assert int(reply.body['details'][0]['metadata']['available']) < wanted[cart_id], reply
        cart = shop.get(cart_id)
        assert (cart['state'], cart.get('hold_expires_at')) == ('OPEN', None), cart
    shop.assert_conserved(holds_ended=True)


def test_a_hold_expires_at_its_time_with_nobody_calling(shop):
    lamp = shop.product(4)
    cart = shop.cart((lamp, 3))
    assert shop.checkout(cart).status == 200 and shop.stock(lamp) == 1
    deadline = time.monotonic() + HOLD_SECONDS + 5
    while shop.stock(lamp) != 4:
        assert time.monotonic() < deadline, 'the hold did not expire'
        time.sleep(0.1)
    assert shop.get(cart)['state'] == 'EXPIRED'
    late = shop.complete(cart)
    assert late.status == 400 and reason(late) == 'CHECKOUT_EXPIRED' and 'checkout expired' in late.body['message']
    movements = shop.api.get(f'/api/products/{lamp}/stock-movements').body['movements']
    assert [(movement['reason'], movement['delta'], movement['cart_id']) for movement in movements[:2]] == [
        ('EXPIRED', 3, str(cart)), ('HELD', -3, str(cart))]
    shop.assert_conserved()


def test_completion_racing_expiry_ends_one_way_only(shop):
    lamp = shop.product(50)
    carts = [shop.cart((lamp, 1), email=f'racer{index}@example.com') for index in range(16)]
    for cart in carts:
        assert shop.checkout(cart).status == 200
    time.sleep(HOLD_SECONDS - 0.3)  # the completions land around each hold's expiry
    with futures.ThreadPoolExecutor(len(carts)) as pool:
        replies = dict(zip(carts, pool.map(shop.complete, carts), strict=True))
    shop.assert_conserved()
    for cart, reply in replies.items():
        final = shop.get(cart)
        if reply.status == 200:
            assert (final['state'], final['order_id']) == ('COMPLETED', reply.body['id'])
        else:
            assert reply.status == 400 and reason(reply) == 'CHECKOUT_EXPIRED', reply
            assert final['state'] == 'EXPIRED' and final['order_id'] == '0'
    completed = sum(reply.status == 200 for reply in replies.values())
    assert shop.stock(lamp) == 50 - completed


def test_concurrent_retries_of_a_completion_place_one_order(shop):
    lamp = shop.product(5)
    cart = shop.cart((lamp, 2))
    assert shop.checkout(cart).status == 200
    with futures.ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: shop.complete(cart), range(16)))
    assert {reply.status for reply in replies} == {200}
    assert len({reply.body['id'] for reply in replies}) == 1
    assert shop.stock(lamp) == 3
    shop.assert_conserved()
