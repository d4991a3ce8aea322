"""CartService through real in-process servers (Orders → real Products) over temp databases: lines, checkouts that
hold stock, completion into an order, abandonment, expiry with nobody calling, and the races between them."""
import contextlib
import threading
import time
from concurrent import futures

import grpc
import pytest
from ecommerce.orders.v1 import carts_pb2, carts_pb2_grpc, orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from google.protobuf import field_mask_pb2

from services.orders.service import create_server as create_orders_server
from services.products.service import create_server as create_products_server
from storage import orders as orders_storage
from storage import products as products_storage
from tests.conftest import new_product
from tests.metric_samples import in_process
from tests.rpc_errors import error_details
from tests.servers import event_loop, serving

Cart = carts_pb2.Cart
Line = carts_pb2.CartLine
Reason = products_pb2.StockMovement.Reason


class Shop:
    """Stubs of one Products and one Orders server, and helpers that speak for a shopper."""

    def __init__(self, products, orders, carts):
        self.products, self.orders, self.carts = products, orders, carts

    def cart(self, *lines, email='ada@example.com'):
        cart = self.carts.CreateCart(carts_pb2.CreateCartRequest(customer_email=email))
        for product_id, quantity in lines:
            cart = self.carts.AddCartItem(carts_pb2.AddCartItemRequest(cart_id=cart.id, product_id=product_id,
                                                                       quantity=quantity))
        return cart

    def checkout(self, cart_id):
        return self.carts.CheckoutCart(carts_pb2.CheckoutCartRequest(id=cart_id, customer_name='Ada Lovelace',
                                                                     shipping_address='1 Analytical Way'))

    def complete(self, cart_id):
        return self.carts.CompleteCheckout(carts_pb2.CompleteCheckoutRequest(id=cart_id))

    def get(self, cart_id):
        return self.carts.GetCart(carts_pb2.GetCartRequest(id=cart_id))

    def stock(self, product_id):
        return self.products.GetProduct(products_pb2.GetProductRequest(id=product_id)).stock_quantity

    def reasons(self, product_id):
        """The product's stock movements, oldest first: (reason, delta, cart_id, order_id)."""
        page = self.products.ListStockMovements(products_pb2.ListStockMovementsRequest(product_id=product_id,
                                                                                       page_size=100))
        return [(Reason.Name(movement.reason), movement.delta, movement.cart_id, movement.order_id)
                for movement in reversed(page.movements)]

    def assert_conserved(self, initial):
        """Every unit of each product in `initial` (id → stock at creation) is on the shelf, held by a checkout under
        way, or in an order that is not cancelled; and the product's movements add up to the difference."""
        held = {product_id: 0 for product_id in initial}
        for cart in self.carts.ListCarts(carts_pb2.ListCartsRequest(state=Cart.CHECKING_OUT, page_size=100)).carts:
            for line in cart.lines:
                held[line.product_id] += line.quantity
        for order in self.orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=100)).orders:
            if order.status != orders_pb2.Order.CANCELLED:
                for item in order.items:
                    held[item.product_id] = held.get(item.product_id, 0) + item.quantity
        for product_id, start in initial.items():
            stock = self.stock(product_id)
            assert start == stock + held[product_id], (product_id, start, stock, held[product_id])
            assert sum(delta for _, delta, _, _ in self.reasons(product_id)) == stock - start


@contextlib.contextmanager
def running_shop(database_url, hold_seconds=900):
    with event_loop() as loop, \
            serving(create_products_server('127.0.0.1:0', database_url('products')), loop) as (_, products_port, _h), \
            serving(create_orders_server('127.0.0.1:0', database_url('orders'), f'127.0.0.1:{products_port}',
                                         hold_seconds=hold_seconds), loop) as (_, orders_port, _health, background), \
            grpc.insecure_channel(f'127.0.0.1:{products_port}') as products_channel, \
            grpc.insecure_channel(f'127.0.0.1:{orders_port}') as orders_channel:
        loop.run(_started(background))
        try:
            yield Shop(products_pb2_grpc.ProductServiceStub(products_channel),
                       orders_pb2_grpc.OrderServiceStub(orders_channel), carts_pb2_grpc.CartServiceStub(orders_channel))
        finally:
            loop.run(background.stop())
    products_storage.database.close_all()
    orders_storage.database.close_all()


async def _started(background):
    background.start()


@pytest.fixture
def shop(database_url):
    with running_shop(database_url) as shop:
        yield shop


def refused(call, request):
    with pytest.raises(grpc.RpcError) as raised:
        call(request)
    return raised.value


def test_a_cart_shows_current_prices_and_availability_and_checks_out_into_one_order(shop):
    lamp = new_product(shop.products, name='Lamp', price='24.90', stock=5)
    pen = new_product(shop.products, name='Pen', price='1.50', stock=1)
    cart = shop.cart((lamp.id, 2), (pen.id, 1), (lamp.id, 1))
    assert cart.state == Cart.OPEN and (cart.total_amount, cart.currency_code) == ('76.20', 'USD')
    assert [(line.product_name, line.quantity, line.unit_price, line.subtotal, Line.Availability.Name(
        line.availability), line.available_quantity) for line in cart.lines] == [
        ('Lamp', 3, '24.90', '74.70', 'IN_STOCK', 5), ('Pen', 1, '1.50', '1.50', 'IN_STOCK', 1)]

    held = shop.checkout(cart.id)
    assert held.state == Cart.CHECKING_OUT and held.hold_expires_at.seconds > time.time() + 800
    assert [Line.Availability.Name(line.availability) for line in held.lines] == ['HELD', 'HELD']
    assert (shop.stock(lamp.id), shop.stock(pen.id)) == (2, 0)  # held units are nobody else's
    shop.products.UpdateProduct(products_pb2.UpdateProductRequest(
        product=products_pb2.Product(id=lamp.id, price='99.00'), update_mask=field_mask_pb2.FieldMask(paths=['price'])))
    assert shop.get(cart.id).total_amount == '76.20'  # the prices are locked
    error = refused(shop.carts.AddCartItem, carts_pb2.AddCartItemRequest(cart_id=cart.id, product_id=pen.id,
                                                                         quantity=1))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and error_details(error).reason == 'CART_LOCKED'

    order = shop.complete(cart.id)
    assert (order.total_amount, order.currency_code, order.customer_name) == ('76.20', 'USD', 'Ada Lovelace')
    assert [(item.product_id, item.quantity, item.price) for item in order.items] == [
        (lamp.id, 3, '24.90'), (pen.id, 1, '1.50')]
    assert shop.complete(cart.id).id == order.id  # a retry returns the same order
    completed = shop.get(cart.id)
    assert (completed.state, completed.order_id) == (Cart.COMPLETED, order.id)
    assert (shop.stock(lamp.id), shop.stock(pen.id)) == (2, 0)  # no second reservation
    assert shop.reasons(lamp.id) == [('HELD', -3, cart.id, 0), ('ORDERED', 0, cart.id, order.id)]
    shop.assert_conserved({lamp.id: 5, pen.id: 1})

    shop.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id))
    assert shop.stock(lamp.id) == 5 and shop.reasons(lamp.id)[-1] == ('RELEASED', 3, cart.id, 0)
    shop.assert_conserved({lamp.id: 5, pen.id: 1})


def test_a_checkout_short_of_stock_names_every_short_line_and_holds_nothing(shop):
    lamp = new_product(shop.products, name='Lamp', stock=2)
    pen = new_product(shop.products, name='Pen', stock=10)
    ink = new_product(shop.products, name='Ink', stock=0)
    cart = shop.cart((lamp.id, 3), (pen.id, 1), (ink.id, 2))
    assert [Line.Availability.Name(line.availability) for line in cart.lines] == [
        'INSUFFICIENT_STOCK', 'IN_STOCK', 'INSUFFICIENT_STOCK']
    error = refused(shop.checkout, cart.id)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == (f'not enough stock for 2 lines of the cart: product {lamp.id} (Lamp): 3 in the cart, '
                               f'2 available; product {ink.id} (Ink): 2 in the cart, 0 available; nothing is held')
    assert error_details(error).metadata == {'product_ids': f'{lamp.id},{ink.id}', 'requested': '3,2',
                                             'available': '2,0'}
    assert (shop.stock(lamp.id), shop.stock(pen.id), shop.stock(ink.id)) == (2, 10, 0)
    assert shop.get(cart.id).state == Cart.OPEN
    shop.carts.UpdateCartItem(carts_pb2.UpdateCartItemRequest(cart_id=cart.id, product_id=lamp.id, quantity=2))
    shop.carts.DeleteCartItem(carts_pb2.DeleteCartItemRequest(cart_id=cart.id, product_id=ink.id))
    assert shop.checkout(cart.id).state == Cart.CHECKING_OUT
    shop.assert_conserved({lamp.id: 2, pen.id: 10, ink.id: 0})


def checkouts(step):
    return in_process('ecommerce_checkouts_total', step=step)


def test_an_abandoned_checkout_gives_its_stock_back_and_the_cart_can_change_again(shop):
    lamp = new_product(shop.products, name='Lamp', stock=4)
    cart = shop.cart((lamp.id, 3))
    before = {step: checkouts(step) for step in ('held', 'abandoned', 'completed')}
    shop.checkout(cart.id)
    abandoned = shop.carts.AbandonCheckout(carts_pb2.AbandonCheckoutRequest(id=cart.id))
    assert abandoned.state == Cart.ABANDONED and shop.stock(lamp.id) == 4
    error = refused(shop.complete, cart.id)
    assert error_details(error).reason == 'CART_NOT_CHECKING_OUT'
    again = shop.carts.UpdateCartItem(carts_pb2.UpdateCartItemRequest(cart_id=cart.id, product_id=lamp.id,
                                                                      quantity=4))
    assert again.state == Cart.OPEN and again.total_amount == '39.96'
    order = (shop.checkout(cart.id), shop.complete(cart.id))[1]
    assert shop.stock(lamp.id) == 0 and order.items[0].quantity == 4
    assert [reason for reason, *_ in shop.reasons(lamp.id)] == ['HELD', 'RELEASED', 'HELD', 'ORDERED']
    assert {step: checkouts(step) - count for step, count in before.items()} == {
        'held': 2, 'abandoned': 1, 'completed': 1}


@pytest.mark.parametrize('request_field, value, field', [
    ('quantity', 0, 'quantity'), ('quantity', 1001, 'quantity'), ('product_id', 0, 'product_id'),
    ('product_id', 10 ** 9, 'product_id'), ('cart_id', -1, 'cart_id')])
def test_a_bad_line_names_its_field_and_changes_nothing(shop, request_field, value, field):
    lamp = new_product(shop.products, stock=4)
    cart = shop.cart((lamp.id, 1))
    request = {'cart_id': cart.id, 'product_id': lamp.id, 'quantity': 1, request_field: value}
    error = refused(shop.carts.AddCartItem, carts_pb2.AddCartItemRequest(**request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and list(error_details(error).fields) == [field]
    assert [(line.product_id, line.quantity) for line in shop.get(cart.id).lines] == [(lamp.id, 1)]


def test_unknown_carts_lines_and_empty_checkouts_are_refused(shop):
    assert refused(shop.get, 999).code() == grpc.StatusCode.NOT_FOUND
    empty = shop.cart()
    error = refused(shop.checkout, empty.id)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and error_details(error).reason == 'CART_EMPTY'
    assert shop.get(empty.id).state == Cart.OPEN
    error = refused(shop.carts.DeleteCartItem, carts_pb2.DeleteCartItemRequest(cart_id=empty.id, product_id=5))
    assert error.code() == grpc.StatusCode.NOT_FOUND and error_details(error).reason == 'CART_LINE_NOT_FOUND'
    error = refused(shop.carts.CheckoutCart, carts_pb2.CheckoutCartRequest(id=empty.id, customer_name='Ada'))
    assert list(error_details(error).fields) == ['shipping_address']


def wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.05)


def test_a_hold_expires_at_its_time_with_nobody_calling(database_url):
    with running_shop(database_url, hold_seconds=1) as shop:
        lamp = new_product(shop.products, name='Lamp', stock=3)
        cart = shop.cart((lamp.id, 2))
        expires = shop.checkout(cart.id).hold_expires_at.ToDatetime()
        assert shop.stock(lamp.id) == 1
        wait_for(lambda: shop.stock(lamp.id) == 3)
        expired = shop.get(cart.id)
        assert expired.state == Cart.EXPIRED and expired.hold_expires_at.ToDatetime() == expires
        error = refused(shop.complete, cart.id)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and error_details(error).reason == 'CHECKOUT_EXPIRED'
        assert 'checkout expired' in error.details()
        assert shop.reasons(lamp.id)[-2:] == [('HELD', -2, cart.id, 0), ('EXPIRED', 2, cart.id, 0)]
        shop.assert_conserved({lamp.id: 3})


def test_completion_racing_expiry_ends_one_way_only(database_url):
    with running_shop(database_url, hold_seconds=1) as shop:
        lamp = new_product(shop.products, name='Lamp', stock=100)
        carts = [shop.cart((lamp.id, 1), email=f'racer{index}@example.com') for index in range(12)]
        for cart in carts:
            shop.checkout(cart.id)
        time.sleep(0.8)  # the completions below land around each hold's expiry

        def complete(cart):
            try:
                return shop.complete(cart.id).id
            except grpc.RpcError as error:
                assert error_details(error).reason == 'CHECKOUT_EXPIRED', error.details()
                return None
        with futures.ThreadPoolExecutor(len(carts)) as pool:
            outcomes = list(pool.map(complete, carts))
        wait_for(lambda: all(shop.get(cart.id).state != Cart.CHECKING_OUT for cart in carts))
        for cart, order_id in zip(carts, outcomes, strict=True):
            final = shop.get(cart.id)
            assert (final.state, final.order_id) == ((Cart.COMPLETED, order_id) if order_id else (Cart.EXPIRED, 0))
        ordered = sum(order_id is not None for order_id in outcomes)
        assert shop.stock(lamp.id) == 100 - ordered
        shop.assert_conserved({lamp.id: 100})


def test_concurrent_retries_of_a_completion_place_one_order(shop):
    lamp = new_product(shop.products, name='Lamp', stock=5)
    cart = shop.cart((lamp.id, 2))
    shop.checkout(cart.id)
    start = threading.Barrier(8)

    def complete(_):
        start.wait()
        return shop.complete(cart.id).id
    with futures.ThreadPoolExecutor(8) as pool:
        order_ids = set(pool.map(complete, range(8)))
    assert len(order_ids) == 1
    assert shop.orders.ListOrders(orders_pb2.ListOrdersRequest()).total_size == 1
    assert shop.stock(lamp.id) == 3
    shop.assert_conserved({lamp.id: 5})
