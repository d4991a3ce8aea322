"""The stock invariant, checked through the API: every unit is either on the shelf or in a live order.

For every product, at any quiet moment: stock >= 0 and
initial stock == current stock + units of it in orders that are not cancelled.
A moment is quiet once no order is left half-placed or half-cancelled (wait_until_settled).
"""
import time
from collections import Counter

from ecommerce.orders.v1 import orders_pb2
from ecommerce.products.v1 import products_pb2

from storage import orders as orders_storage
from storage import products as products_storage
from storage.orders import Order
from storage.products import Product, StockReservation, StockReservationLine
from tests.conftest import bound_storage

Status = orders_pb2.Order.Status


def order_request(items, email='buyer@example.com'):
    return orders_pb2.CreateOrderRequest(
        customer_name='Buyer', customer_email=email, shipping_address='1 Test Street',
        items=[orders_pb2.OrderItemRequest(product_id=product_id, quantity=quantity) for product_id, quantity in items])


def all_orders(orders_stub, timeout=None):
    orders, token = [], ''
    while True:
        page = orders_stub.ListOrders(orders_pb2.ListOrdersRequest(page_size=100, page_token=token), timeout=timeout)
        orders.extend(page.orders)
        token = page.next_page_token
        if not token:
            assert len(orders) == page.total_size
            return orders


def current_stock(products_stub, product_ids, timeout=None):
    return {product_id: products_stub.GetProduct(products_pb2.GetProductRequest(id=product_id),
                                                 timeout=timeout).stock_quantity
            for product_id in product_ids}


def movements_total(products_stub, product_id, timeout=None):
    """The sum of a product's stock movements, read page by page."""
    total, token = 0, ''
    while True:
        page = products_stub.ListStockMovements(products_pb2.ListStockMovementsRequest(
            product_id=product_id, page_size=100, page_token=token), timeout=timeout)
        total += sum(movement.delta for movement in page.movements)
        token = page.next_page_token
        if not token:
            return total


def assert_stock_conserved(products_stub, orders_stub, initial, timeout=None):
    """Check the invariants for the products in `initial` (id → stock when created): what is on the shelf and what
    live orders hold add up to it, and so do the recorded stock movements; return (stock, held)."""
    stock = current_stock(products_stub, initial, timeout)
    held = Counter()
    for order in all_orders(orders_stub, timeout):
        if order.status != Status.CANCELLED:
            for item in order.items:
                held[item.product_id] += item.quantity
    for product_id, start in initial.items():
        assert stock[product_id] >= 0, product_id
        assert start == stock[product_id] + held[product_id], (product_id, start, stock[product_id], held[product_id])
        assert movements_total(products_stub, product_id, timeout) == stock[product_id] - start, product_id
    return stock, held


def wait_until_settled(orders_url, timeout, created_before=None):
    """Wait until every order in the Orders database at `orders_url` (created before `created_before`, a naive UTC
    datetime, if given) is placed or has its stock back, as recovery leaves them (no placement or cancellation
    half-done); return the seconds it took."""
    started = time.monotonic()
    unsettled_orders = Order.select().where(Order.stock_state.not_in([Order.RESERVED, Order.RELEASED]))
    if created_before is not None:
        unsettled_orders = unsettled_orders.where(Order.created_at < created_before)
    with bound_storage(orders_storage, orders_url):
        while True:
            unsettled = unsettled_orders.count()
            if not unsettled:
                return round(time.monotonic() - started, 2)
            assert time.monotonic() - started < timeout, f'{unsettled} orders still unsettled after {timeout} s'
            time.sleep(0.2)


def assert_reservations_match_orders(orders_url, products_url, initial):
    """Products' reservations agree with Orders' rows: stock is held exactly for the orders that are placed and
    not cancelled, and every cancelled or undone placement gave its stock back once. Returns how many
    placements were undone (their reservation released, no order left)."""
    with bound_storage(orders_storage, orders_url):
        orders = {order.reservation_id: order for order in Order.select()}
        items = {order.reservation_id: sorted((item.product_id, item.quantity) for item in order.items)
                 for order in orders.values()}
    with bound_storage(products_storage, products_url):
        reservations = {reservation.reservation_id: reservation.state for reservation in StockReservation.select()}
        lines = {}
        for line in StockReservationLine.select(StockReservationLine, StockReservation).join(StockReservation):
            lines.setdefault(line.reservation.reservation_id, []).append((line.product_id, line.quantity))
        stock = {product.id: product.stock_quantity for product in Product.select()}

    for reservation_id, order in orders.items():
        live = order.status != 'cancelled'
        assert order.stock_state == (Order.RESERVED if live else Order.RELEASED), (order.id, order.stock_state)
        assert reservations.get(reservation_id) == (StockReservation.RESERVED if live else StockReservation.RELEASED), \
            (order.id, order.status, reservations.get(reservation_id))
        assert sorted(lines.get(reservation_id, [])) == items[reservation_id], order.id
    held = Counter()
    for reservation_id, state in reservations.items():
        if state == StockReservation.RESERVED:
            assert reservation_id in orders, ('stock held for an order that does not exist', reservation_id)
            for product_id, quantity in lines[reservation_id]:
                held[product_id] += quantity
    for product_id, start in initial.items():
        assert start == stock[product_id] + held[product_id], (product_id, start, stock[product_id])
    return sum(1 for reservation_id in reservations if reservation_id not in orders)
