"""No oversell, no lost stock: 32 shoppers at once, half over gRPC, half over REST through Envoy.

Each shopper places and cancels orders on products with little stock; afterwards every unit is either
on the shelf or in an order that is not cancelled, and exactly as many orders succeeded as the stock allowed.
"""
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc, stock_pb2, stock_pb2_grpc

from tests.conftest import new_product
from tests.e2e.clients import RestClient
from tests.stock_checks import Status, all_orders, assert_stock_conserved, order_request

pytestmark = pytest.mark.e2e

SHOPPERS = 32
PER_BATCH = 10  # reservations in each ReserveStocks call, taking from two products in turn
FAILED_PRECONDITION = 9  # google.rpc.Code in REST error bodies


class GrpcShopper:
    """Orders over gRPC straight to the Orders service."""
    path = 'grpc'

    def __init__(self, system):
        self._stub = orders_pb2_grpc.OrderServiceStub(grpc.insecure_channel(system.orders))

    def place(self, items, email):
        """The new order's id, or None when the stock was too low."""
        try:
            return self._stub.CreateOrder(order_request(items, email)).id
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
            return None

    def cancel(self, order_id, via_status):
        """True if cancelled now, False if the order had already left the cancellable statuses."""
        try:
            if via_status:
                self._stub.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(id=order_id, status=Status.CANCELLED))
            else:
                self._stub.CancelOrder(orders_pb2.CancelOrderRequest(id=order_id))
            return True
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
            return False

    def advance(self, order_id):
        try:
            self._stub.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(id=order_id, status=Status.PROCESSING))
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error


class RestShopper:
    """The same through Envoy's REST routes."""
    path = 'rest'

    def __init__(self, system):
        self._api = RestClient(system.gateway)

    def place(self, items, email):
        reply = self._api.post('/api/orders', {
            'customer_name': 'Buyer', 'customer_email': email, 'shipping_address': '1 Test Street',
            'items': [{'product_id': product_id, 'quantity': quantity} for product_id, quantity in items]})
        return int(reply.body['id']) if self._succeeded(reply) else None

    def cancel(self, order_id, via_status):
        if via_status:
            return self._succeeded(self._api.patch(f'/api/orders/{order_id}/status', {'status': 'cancelled'}))
        return self._succeeded(self._api.post(f'/api/orders/{order_id}/cancel'))

    def advance(self, order_id):
        self._succeeded(self._api.patch(f'/api/orders/{order_id}/status', {'status': 'processing'}))

    @staticmethod
    def _succeeded(reply):
        if reply.status in (200, 201):  # 201 for a placement
            return True
        assert (reply.status, reply.body['code']) == (400, FAILED_PRECONDITION), reply
        return False


@pytest.fixture(scope='module')
def stubs(system):
    with grpc.insecure_channel(system.products) as products, grpc.insecure_channel(system.orders) as orders:
        yield products_pb2_grpc.ProductServiceStub(products), orders_pb2_grpc.OrderServiceStub(orders)


def shoppers(system):
    return [(GrpcShopper if index % 2 else RestShopper)(system) for index in range(SHOPPERS)]


def run_together(work, crowd):
    """work(index, shopper) for every shopper at once, started together; returns their results."""
    start = threading.Barrier(len(crowd))

    def run(index):
        start.wait()
        return work(index, crowd[index])

    with ThreadPoolExecutor(len(crowd)) as pool:
        return list(pool.map(run, range(len(crowd))))


def test_32_shoppers_sell_exactly_the_stock_and_not_one_unit_more(system, stubs, figures):
    products_stub, orders_stub = stubs
    initial = {new_product(products_stub, name=f'Scarce {stock}', stock=stock).id: stock for stock in (7, 5, 9, 3)}

    def buy_one_of_each(index, shopper):
        """Every shopper tries every product once, so each product is asked for 32 times: more than it has."""
        wanted = list(initial)
        random.Random(index).shuffle(wanted)
        return [(shopper.path, shopper.place([(product_id, 1)], f'shopper{index}@example.com') is not None)
                for product_id in wanted]

    attempts = [attempt for attempts in run_together(buy_one_of_each, shoppers(system)) for attempt in attempts]
    placed = Counter(path for path, succeeded in attempts if succeeded)
    stock, held = assert_stock_conserved(products_stub, orders_stub, initial)
    assert sum(placed.values()) == sum(initial.values()) == 24
    assert stock == dict.fromkeys(initial, 0)
    assert dict(held) == initial
    figures(shoppers=SHOPPERS, attempts=len(attempts), placed_grpc=placed['grpc'], placed_rest=placed['rest'],
            refused=len(attempts) - sum(placed.values()), units=sum(initial.values()),
            invariant='stock 0 everywhere, every unit in an order')


def test_32_shoppers_placing_and_cancelling_lose_no_stock(system, stubs, figures):
    products_stub, orders_stub = stubs
    initial = {new_product(products_stub, name=f'Busy {stock}', stock=stock).id: stock for stock in (25, 20, 30, 15)}
    placed_ids = [[] for _ in range(SHOPPERS)]
    outcome = Counter()
    count = threading.Lock()

    def shop(index, shopper):
        rng = random.Random(1000 + index)
        for _ in range(10):
            action = rng.random()
            if action < 0.5 or not placed_ids[index]:
                items = [(product_id, rng.randint(1, 3)) for product_id in rng.sample(list(initial), rng.randint(1, 3))]
                order_id = shopper.place(items, f'busy{index}@example.com')
                if order_id is not None:
                    placed_ids[index].append(order_id)
                key = 'placed' if order_id is not None else 'refused'
            elif action < 0.6:
                shopper.advance(rng.choice(placed_ids[index]))  # a processing order can still be cancelled
                key = 'advanced'
            else:
                # Cancel one of ours or of the neighbour's, who may be cancelling it at the same moment.
                order_id = rng.choice(placed_ids[index] + placed_ids[(index + 1) % SHOPPERS])
                key = 'cancelled' if shopper.cancel(order_id, via_status=action > 0.8) else 'cancel_refused'
            with count:
                outcome[key] += 1

    run_together(shop, shoppers(system))
    ours = {order.id: order for order in all_orders_of(orders_stub, initial)}
    assert sorted(ours) == sorted(order_id for ids in placed_ids for order_id in ids)
    cancelled = sum(order.status == Status.CANCELLED for order in ours.values())
    assert cancelled == outcome['cancelled'] > 0  # each cancellation counted once, though some raced
    assert outcome['refused'] and outcome['cancel_refused'], outcome
    stock, held = assert_stock_conserved(products_stub, orders_stub, initial)
    figures(shoppers=SHOPPERS, calls=sum(outcome.values()), **outcome,
            units_on_shelf=sum(stock.values()), units_in_live_orders=sum(held.values()),
            invariant='initial == shelf + live orders, per product')


def test_reservation_batches_taking_the_same_products_in_opposite_orders_never_deadlock(system, stubs, figures):
    """Two ReserveStocks calls at once, one listing A's reservation before B's and the other B's before A's, on the
    Products workers: on PostgreSQL each would hold one row and wait for the other's, unless a batch locks its rows
    in id order first."""
    products_stub, _orders_stub = stubs
    first, second = (new_product(products_stub, stock=10_000).id for _ in range(2))
    rounds = 30

    def batches(index):
        order = (first, second) if index % 2 else (second, first)
        outcomes = []
        for round_ in range(rounds):
            request = stock_pb2.ReserveStocksRequest(reservations=[
                stock_pb2.StockReservation(reservation=stock_pb2.ReserveStockRequest(
                    reservation_id=f'opposite-{index}-{round_}-{position}',
                    lines=[stock_pb2.StockLine(product_id=order[position % 2], quantity=1)]))
                for position in range(PER_BATCH)])
            # A connection of its own each time (channels share one otherwise), which the kernel gives to one Products
            # worker or the other.
            with grpc.insecure_channel(system.products, [('grpc.use_local_subchannel_pool', 1)]) as channel:
                response = stock_pb2_grpc.StockServiceStub(channel).ReserveStocks(request, timeout=30)
            outcomes.extend(outcome.WhichOneof('outcome') for outcome in response.outcomes)
        return outcomes

    with ThreadPoolExecutor(4) as pool:
        outcomes = [outcome for each in pool.map(batches, range(4)) for outcome in each]
    assert outcomes == ['reserved'] * (4 * rounds * PER_BATCH)
    stock = {product_id: products_stub.GetProduct(products_pb2.GetProductRequest(id=product_id)).stock_quantity
             for product_id in (first, second)}
    taken_each = 4 * rounds * PER_BATCH // 2
    assert stock == {first: 10_000 - taken_each, second: 10_000 - taken_each}
    with grpc.insecure_channel(system.products) as channel:
        stock_stub = stock_pb2_grpc.StockServiceStub(channel)
        for reservation_id in (f'opposite-{index}-{round_}-{position}' for index in range(4)
                               for round_ in range(rounds) for position in range(PER_BATCH)):
            # No order holds them: back on the shelf.
            stock_stub.ReleaseStock(stock_pb2.ReleaseStockRequest(reservation_id=reservation_id))
    figures(batches=4 * rounds, reservations=len(outcomes), invariant='every reservation taken, none deadlocked')


def all_orders_of(orders_stub, products):
    return [order for order in all_orders(orders_stub) if any(item.product_id in products for item in order.items)]
