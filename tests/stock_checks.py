"""The stock invariant, checked through the API: every unit is on the shelf, held by a checkout under way, or in a
live order.

For every product, at any quiet moment: stock >= 0 and
initial stock == current stock + units of it in live holds + units of it in orders that are not cancelled.
A moment is quiet once no order is left half-placed or half-cancelled, and no checkout half-started, half-ended or
past its expiry (wait_until_settled).
"""
import time
from collections import Counter

from ecommerce.orders.v1 import carts_pb2, orders_pb2
from ecommerce.products.v1 import products_pb2

from storage import orders as orders_storage
from storage import products as products_storage
from storage.database import utcnow
from storage.orders import Checkout, Order
from storage.products import Product, StockMovement, StockReservation, StockReservationLine
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


def checkouts_under_way(carts_stub, timeout=None):
    """Every cart being checked out (its stock held), read page by page."""
    carts, token = [], ''
    while True:
        page = carts_stub.ListCarts(carts_pb2.ListCartsRequest(state=carts_pb2.Cart.CHECKING_OUT, page_size=100,
                                                               page_token=token), timeout=timeout)
        carts.extend(page.carts)
        token = page.next_page_token
        if not token:
            return carts


def assert_stock_conserved(products_stub, orders_stub, initial, timeout=None, carts_stub=None):
    """Check the invariants for the products in `initial` (id → stock when created): what is on the shelf, what
    live orders hold and (with `carts_stub`) what checkouts under way hold add up to it, and so do the recorded stock
    movements; return (stock, held)."""
    stock = current_stock(products_stub, initial, timeout)
    held = Counter()
    for cart in checkouts_under_way(carts_stub, timeout) if carts_stub else ():
        for line in cart.lines:
            held[line.product_id] += line.quantity
    for order in all_orders(orders_stub, timeout):
        if order.status != Status.CANCELLED:
            for item in order.items:
                held[item.product_id] += item.quantity
    for product_id, start in initial.items():
        assert stock[product_id] >= 0, product_id
        assert start == stock[product_id] + held[product_id], (product_id, start, stock[product_id], held[product_id])
        assert movements_total(products_stub, product_id, timeout) == stock[product_id] - start, product_id
    return stock, held


def wait_until_settled(orders_url, timeout, created_before=None, holds_ended=False):
    """Wait until every order in the Orders database at `orders_url` (created before `created_before`, a naive UTC
    datetime, if given) is placed or has its stock back, as recovery leaves them (no placement or cancellation
    half-done), and every checkout is held (and not past its expiry), converted into its order or released; with
    `holds_ended`, until no hold is left at all, so that none expires while the invariant is read. Returns the
    seconds it took."""
    started = time.monotonic()
    unsettled_orders = Order.select().where(Order.stock_state.not_in([Order.RESERVED, Order.RELEASED]))
    if created_before is not None:
        unsettled_orders = unsettled_orders.where(Order.created_at < created_before)
    with bound_storage(orders_storage, orders_url):
        while True:
            live_holds = (Checkout.stock_state == Checkout.HELD) if holds_ended else (
                (Checkout.stock_state == Checkout.HELD) & (Checkout.expires_at <= utcnow()))
            unsettled = unsettled_orders.count() + Checkout.select().where(
                Checkout.stock_state.in_([Checkout.HOLDING, Checkout.RELEASING, Checkout.CONVERTING])
                | live_holds).count()
            if not unsettled:
                return round(time.monotonic() - started, 2)
            assert time.monotonic() - started < timeout, \
                f'{unsettled} orders or checkouts still unsettled after {timeout} s'
            time.sleep(0.2)


def assert_reservations_match_orders(orders_url, products_url, initial):
    """Products' reservations agree with Orders' rows: stock is taken exactly for the orders that are placed and not
    cancelled and held exactly for the checkouts under way, and every cancelled or undone placement and every ended
    checkout gave its stock back once. Returns how many placements were undone (their reservation released, no
    order left)."""
    with bound_storage(orders_storage, orders_url):
        orders = {order.reservation_id: order for order in Order.select()}
        items = {order.reservation_id: sorted((item.product_id, item.quantity) for item in order.items)
                 for order in orders.values()}
        checkouts = {checkout.reservation_id: checkout for checkout in Checkout.select()}
        held_lines = {checkout.reservation_id: sorted((line.product_id, line.quantity) for line in checkout.lines)
                      for checkout in checkouts.values()}
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
    for reservation_id, checkout in checkouts.items():
        expected = {Checkout.HELD: StockReservation.HELD, Checkout.RELEASED: StockReservation.RELEASED}
        if checkout.stock_state in expected:  # a converted one is its order's, checked above
            assert reservations.get(reservation_id) == expected[checkout.stock_state], \
                (checkout.id, checkout.stock_state, reservations.get(reservation_id))
        if checkout.stock_state == Checkout.HELD:
            assert sorted(lines[reservation_id]) == held_lines[reservation_id], checkout.id
    held = Counter()
    for reservation_id, state in reservations.items():
        if state == StockReservation.RESERVED:
            assert reservation_id in orders, ('stock taken for an order that does not exist', reservation_id)
        if state == StockReservation.HELD:
            assert checkouts[reservation_id].stock_state == Checkout.HELD, ('a hold no checkout holds', reservation_id)
        if state in (StockReservation.RESERVED, StockReservation.HELD):
            for product_id, quantity in lines[reservation_id]:
                held[product_id] += quantity
    for product_id, start in initial.items():
        assert start == stock[product_id] + held[product_id], (product_id, start, stock[product_id])
    return sum(1 for reservation_id in reservations if reservation_id not in orders and reservation_id not in checkouts)


def assert_holds_released_once(orders_url, products_url):
    """No reservation gave a product's units back twice, and every ended checkout gave each of its held lines back
    exactly once: EXPIRED if its hold expired, RELEASED otherwise. Returns how many holds expired."""
    with bound_storage(orders_storage, orders_url):
        ended = {checkout.reservation_id: checkout.outcome
                 for checkout in Checkout.select().where(Checkout.stock_state == Checkout.RELEASED)}
    with bound_storage(products_storage, products_url):
        given_back = Counter((movement.reservation_id, movement.product_id, movement.reason)
                             for movement in StockMovement.select().where(StockMovement.reason.in_(
                                 [StockMovement.RELEASED, StockMovement.EXPIRED])))
        held = {}
        for line in StockReservationLine.select(StockReservationLine, StockReservation).join(StockReservation):
            held.setdefault(line.reservation.reservation_id, []).append(line.product_id)
    per_line = Counter((reservation_id, product_id) for reservation_id, product_id, _ in given_back.elements())
    assert max(per_line.values(), default=1) == 1, [key for key, count in per_line.items() if count > 1][:5]
    for reservation_id, outcome in ended.items():
        reason = StockMovement.EXPIRED if outcome == 'expired' else StockMovement.RELEASED
        for product_id in held.get(reservation_id, []):  # none if its hold never reached Products
            assert given_back[(reservation_id, product_id, reason)] == 1, (reservation_id, product_id, outcome)
    return sum(outcome == 'expired' for outcome in ended.values())
