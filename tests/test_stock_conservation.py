"""Stock is conserved: whatever mix of calls arrives, every unit is either on the shelf or in a live order
(the invariant of tests/stock_checks.py), and the shelf matches a model of the calls.
"""
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2

from tests.conftest import new_product
from tests.stock_checks import Status, all_orders, assert_stock_conserved, current_stock, order_request

NEXT = {Status.PENDING: Status.PROCESSING, Status.PROCESSING: Status.SHIPPED, Status.SHIPPED: Status.DELIVERED}
CANCELLABLE = {Status.PENDING, Status.PROCESSING}


@pytest.mark.parametrize('seed', [1, 2, 3])
def test_random_sequence_conserves_stock_and_matches_a_model(products_stub, orders_stub, seed):
    rng = random.Random(seed)
    initial = {}
    for i, stock in enumerate([0] + [rng.randint(4, 15) for _ in range(3)]):  # one product is sold out
        initial[new_product(products_stub, name=f'P{i}', stock=stock).id] = stock
    product_ids = list(initial)
    shelf = dict(initial)  # the model's stock
    statuses = {}  # the model's order statuses
    codes = Counter()

    for _step in range(150):
        kind = rng.choices(['create', 'cancel', 'status', 'invalid'], weights=[5, 2, 4, 1])[0]
        if kind in ('cancel', 'status') and not statuses:
            kind = 'create'
        if kind == 'create':
            chosen = rng.sample(product_ids, rng.randint(1, 3))
            items = [(product_id, rng.randint(1, 4)) for product_id in chosen]
            fits = all(shelf[product_id] >= quantity for product_id, quantity in items)
            try:
                order = orders_stub.CreateOrder(order_request(items))
            except grpc.RpcError as error:
                codes['create refused'] += 1
                assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and not fits, (items, shelf, error)
                continue
            assert fits, (items, shelf)
            assert [(item.product_id, item.quantity) for item in order.items] == items
            for product_id, quantity in items:
                shelf[product_id] -= quantity
            statuses[order.id] = Status.PENDING
            codes['created'] += 1
        elif kind in ('cancel', 'status'):
            order_id = rng.choice(list(statuses))
            current = statuses[order_id]
            if kind == 'cancel':
                target = Status.CANCELLED
                call = partial(orders_stub.CancelOrder, orders_pb2.CancelOrderRequest(id=order_id))
            else:
                target = rng.choice([Status.PENDING, Status.PROCESSING, Status.SHIPPED, Status.DELIVERED,
                                     Status.CANCELLED, NEXT.get(current, Status.CANCELLED)])
                call = partial(orders_stub.UpdateOrderStatus,
                               orders_pb2.UpdateOrderStatusRequest(id=order_id, status=target))
            allowed = NEXT.get(current) == target or (target == Status.CANCELLED and current in CANCELLABLE)
            try:
                moved = call()
            except grpc.RpcError as error:
                codes['move refused'] += 1
                assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and not allowed, (current, target, error)
                continue
            assert allowed, (current, target)
            assert moved.status == target
            statuses[order_id] = target
            codes['moved'] += 1
            if target == Status.CANCELLED:
                for item in moved.items:
                    shelf[item.product_id] += item.quantity
        else:
            bad = rng.choice([
                order_request([(product_ids[0], 0)]),
                order_request([(product_ids[0], 1), (product_ids[0], 1)]),
                order_request([(max(product_ids) + 1000, 1)]),
                order_request([(product_ids[1], 1)], email='not-an-email'),
                order_request([]),
            ])
            with pytest.raises(grpc.RpcError) as raised:
                orders_stub.CreateOrder(bad)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            codes['invalid'] += 1

        if _step % 25 == 0:
            assert current_stock(products_stub, product_ids) == shelf

    # the sequence exercised every outcome, not just one kind
    assert min(codes[key] for key in ('created', 'create refused', 'moved', 'move refused', 'invalid')) >= 5, codes
    stock, _held = assert_stock_conserved(products_stub, orders_stub, initial)
    assert stock == shelf
    assert {order.id: order.status for order in all_orders(orders_stub)} == statuses


def test_concurrent_orders_sell_exactly_the_stock(products_stub, orders_stub):
    initial = {new_product(products_stub, name=f'P{i}', stock=stock).id: stock for i, stock in enumerate((5, 3, 4))}
    product_ids = list(initial)
    start = threading.Barrier(16)

    def buyer(index):
        rng = random.Random(index)
        start.wait()
        placed = 0
        for product_id in rng.sample(product_ids * 3, 9):  # 144 attempts for 12 units
            try:
                orders_stub.CreateOrder(order_request([(product_id, 1)], email=f'buyer{index}@example.com'))
                placed += 1
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
        return placed

    with ThreadPoolExecutor(16) as pool:
        placed = sum(pool.map(buyer, range(16)))
    assert placed == sum(initial.values()) == 12
    stock, held = assert_stock_conserved(products_stub, orders_stub, initial)
    assert stock == {product_id: 0 for product_id in product_ids}
    assert dict(held) == initial


def test_concurrent_placing_and_cancelling_conserves_stock(products_stub, orders_stub):
    initial = {new_product(products_stub, name=f'P{i}', stock=stock).id: stock for i, stock in enumerate((6, 4, 5))}
    product_ids = list(initial)
    start = threading.Barrier(16)
    mine = [[] for _ in range(16)]

    def customer(index):
        rng = random.Random(100 + index)
        start.wait()
        for _ in range(8):
            action = rng.random()
            if action < 0.55 or not mine[index]:
                items = [(product_id, rng.randint(1, 2)) for product_id in rng.sample(product_ids, rng.randint(1, 3))]
                try:
                    mine[index].append(orders_stub.CreateOrder(order_request(items)).id)
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
            else:
                # Cancel an order, sometimes one that a neighbour may be cancelling at the same moment.
                pool = mine[index] + mine[(index + 1) % 16]
                order_id = rng.choice(pool)
                try:
                    if action < 0.8:
                        orders_stub.CancelOrder(orders_pb2.CancelOrderRequest(id=order_id))
                    else:
                        orders_stub.UpdateOrderStatus(
                            orders_pb2.UpdateOrderStatusRequest(id=order_id, status=Status.CANCELLED))
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(customer, range(16)))
    orders = all_orders(orders_stub)
    assert len(orders) == sum(len(ids) for ids in mine)
    assert any(order.status == Status.CANCELLED for order in orders)
    assert_stock_conserved(products_stub, orders_stub, initial)
