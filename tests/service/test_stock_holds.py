"""Holds of cart checkouts through a real in-process StockService: a hold takes its units for its cart, and either
becomes its order's reservation (ConvertHold) or is given back (released, or expired), each exactly once and each
recorded as a stock movement that ListStockMovements shows; and GetStockLevels, the products as they are now."""
import grpc
import pytest
from ecommerce.products.v1 import products_pb2, stock_pb2

from tests.conftest import new_product
from tests.rpc_errors import error_details, status_details
from tests.service.test_orders_service import rpc_error, stock
from tests.stock_checks import movements_total

Movement = products_pb2.StockMovement
CART = 7
ORDER = 42


def hold(stock_stub, reservation_id, *lines, cart_id=CART, request_id='checkout-1'):
    """Hold (product, quantity) lines for `cart_id` under `reservation_id`."""
    return stock_stub.ReserveStock(stock_pb2.ReserveStockRequest(
        reservation_id=reservation_id, cart_id=cart_id,
        lines=[stock_pb2.StockLine(product_id=product.id, quantity=quantity) for product, quantity in lines]),
        metadata=[('x-request-id', request_id)])


def release(stock_stub, reservation_id, expired=False, request_id='release-1'):
    return stock_stub.ReleaseStock(stock_pb2.ReleaseStockRequest(reservation_id=reservation_id, expired=expired),
                                   metadata=[('x-request-id', request_id)]).released_now


def convert(stock_stub, reservation_id, order_id=ORDER, request_id='complete-1'):
    return stock_stub.ConvertHold(stock_pb2.ConvertHoldRequest(reservation_id=reservation_id, order_id=order_id),
                                  metadata=[('x-request-id', request_id)]).converted_now


def history(products_stub, product):
    """A product's movements, newest first, as (reason, delta, stock after, cart, order, reservation, request)."""
    listed = products_stub.ListStockMovements(products_pb2.ListStockMovementsRequest(product_id=product.id))
    return [(m.reason, m.delta, m.stock_after, m.cart_id, m.order_id, m.reservation_id, m.request_id)
            for m in listed.movements]


def assert_movements_add_up(products_stub, *products):
    """Each product's movements add up to its stock now minus the stock it was created with."""
    for product in products:
        assert movements_total(products_stub, product.id) == stock(products_stub, product) - product.stock_quantity


def test_a_hold_takes_its_units_for_its_cart_and_a_replay_takes_nothing(stock_stub, products_stub):
    lamp, pen = new_product(products_stub, 'Lamp', '19.90', stock=10), new_product(products_stub, 'Pen', stock=5)
    held = hold(stock_stub, 'hold-1', (lamp, 3), (pen, 1))
    assert [(line.product_id, line.quantity, line.product_name, line.unit_price) for line in held.lines] == [
        (lamp.id, 3, 'Lamp', '19.90'), (pen.id, 1, 'Pen', '9.99')]
    assert hold(stock_stub, 'hold-1', (lamp, 3), (pen, 1), request_id='checkout-retry') == held
    assert stock(products_stub, lamp, pen) == (7, 4)
    assert history(products_stub, lamp) == [(Movement.HELD, -3, 7, CART, 0, 'hold-1', 'checkout-1')]
    assert history(products_stub, pen) == [(Movement.HELD, -1, 4, CART, 0, 'hold-1', 'checkout-1')]
    assert_movements_add_up(products_stub, lamp, pen)


def test_holds_batched_in_one_call_are_each_held_for_their_cart(stock_stub, products_stub):
    lamp = new_product(products_stub, stock=10)
    entries = [stock_pb2.StockReservation(request_id=f'checkout-{cart}', reservation=stock_pb2.ReserveStockRequest(
        reservation_id=f'hold-{cart}', cart_id=cart, lines=[stock_pb2.StockLine(product_id=lamp.id, quantity=2)]))
        for cart in (3, 4)]
    entries.append(stock_pb2.StockReservation(reservation=stock_pb2.ReserveStockRequest(
        reservation_id='hold-bad', cart_id=-1, lines=[stock_pb2.StockLine(product_id=lamp.id, quantity=1)])))
    outcomes = stock_stub.ReserveStocks(stock_pb2.ReserveStocksRequest(reservations=entries)).outcomes
    assert [outcome.WhichOneof('outcome') for outcome in outcomes] == ['reserved', 'reserved', 'refused']
    assert outcomes[2].refused.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert list(status_details(outcomes[2].refused).fields) == ['cart_id']
    assert history(products_stub, lamp) == [(Movement.HELD, -2, 6, 4, 0, 'hold-4', 'checkout-4'),
                                            (Movement.HELD, -2, 8, 3, 0, 'hold-3', 'checkout-3')]
    assert_movements_add_up(products_stub, lamp)


@pytest.mark.parametrize('expired, reason', [(False, Movement.RELEASED), (True, Movement.EXPIRED)])
def test_a_hold_given_back_returns_its_units_exactly_once(stock_stub, products_stub, expired, reason):
    lamp = new_product(products_stub, stock=10)
    hold(stock_stub, 'hold-1', (lamp, 3))
    assert release(stock_stub, 'hold-1', expired) is True
    assert release(stock_stub, 'hold-1', expired, request_id='release-2') is False
    assert stock(products_stub, lamp) == 10
    assert history(products_stub, lamp)[0] == (reason, 3, 10, CART, 0, 'hold-1', 'release-1')
    assert len(history(products_stub, lamp)) == 2
    assert convert(stock_stub, 'hold-1') is False  # too late: nothing moves, nothing is recorded
    assert stock(products_stub, lamp) == 10 and len(history(products_stub, lamp)) == 2
    assert_movements_add_up(products_stub, lamp)


def test_a_converted_hold_keeps_its_units_once_and_its_orders_cancellation_gives_them_back(stock_stub,
                                                                                          products_stub):
    lamp, pen = new_product(products_stub, stock=10), new_product(products_stub, stock=5)
    hold(stock_stub, 'hold-1', (lamp, 3), (pen, 2))
    assert convert(stock_stub, 'hold-1') is True
    assert convert(stock_stub, 'hold-1', request_id='complete-retry') is False
    assert stock(products_stub, lamp, pen) == (7, 3)
    assert history(products_stub, lamp) == [(Movement.ORDERED, 0, 7, CART, ORDER, 'hold-1', 'complete-1'),
                                            (Movement.HELD, -3, 7, CART, 0, 'hold-1', 'checkout-1')]
    assert history(products_stub, pen)[0] == (Movement.ORDERED, 0, 3, CART, ORDER, 'hold-1', 'complete-1')

    # The order's now: its hold cannot expire under it, only the order's cancellation gives its units back.
    assert release(stock_stub, 'hold-1', expired=True) is False
    assert stock(products_stub, lamp, pen) == (7, 3)
    assert release(stock_stub, 'hold-1', request_id='cancel-1') is True
    assert release(stock_stub, 'hold-1', request_id='cancel-2') is False
    assert stock(products_stub, lamp, pen) == (10, 5)
    assert history(products_stub, lamp)[0] == (Movement.RELEASED, 3, 10, CART, 0, 'hold-1', 'cancel-1')
    assert [reason for reason, *_ in history(products_stub, pen)] == [Movement.RELEASED, Movement.ORDERED,
                                                                      Movement.HELD]
    assert_movements_add_up(products_stub, lamp, pen)


def test_only_a_hold_converts(stock_stub, products_stub):
    lamp = new_product(products_stub, stock=10)
    stock_stub.ReserveStock(stock_pb2.ReserveStockRequest(
        reservation_id='order-1', lines=[stock_pb2.StockLine(product_id=lamp.id, quantity=2)]))
    assert convert(stock_stub, 'order-1') is False  # an order's reservation, never a hold
    assert convert(stock_stub, 'never-taken') is False
    assert stock(products_stub, lamp) == 8
    assert [(reason, cart) for reason, _, _, cart, *_ in history(products_stub, lamp)] == [(Movement.RESERVED, 0)]
    assert_movements_add_up(products_stub, lamp)


def test_a_hold_of_a_product_deleted_since_still_converts(stock_stub, products_stub):
    lamp, pen = new_product(products_stub, stock=10), new_product(products_stub, stock=5)
    hold(stock_stub, 'hold-1', (lamp, 3), (pen, 2))
    products_stub.DeleteProduct(products_pb2.DeleteProductRequest(id=pen.id))
    assert convert(stock_stub, 'hold-1') is True
    assert history(products_stub, lamp)[0] == (Movement.ORDERED, 0, 7, CART, ORDER, 'hold-1', 'complete-1')
    assert_movements_add_up(products_stub, lamp)


def test_stock_levels_are_the_products_now_in_the_requests_order(stock_stub, products_stub):
    lamp, pen = new_product(products_stub, 'Lamp', '19.90', stock=10), new_product(products_stub, 'Pen', '1.50')
    hold(stock_stub, 'hold-1', (lamp, 4))
    levels = stock_stub.GetStockLevels(stock_pb2.GetStockLevelsRequest(
        product_ids=[pen.id, 987654, lamp.id, pen.id])).levels
    assert [(level.product_id, level.found, level.product_name, level.unit_price, level.currency_code,
             level.stock_quantity) for level in levels] == [
        (pen.id, True, 'Pen', '1.50', 'USD', 10), (987654, False, '', '', '', 0),
        (lamp.id, True, 'Lamp', '19.90', 'USD', 6), (pen.id, True, 'Pen', '1.50', 'USD', 10)]
    assert_movements_add_up(products_stub, lamp, pen)


@pytest.mark.parametrize('product_ids, field', [
    ([], 'product_ids'), (list(range(1, 1002)), 'product_ids'), ([5, 0], 'product_ids[1]'),
    ([-3], 'product_ids[0]')])
def test_stock_levels_of_a_bad_list_are_refused_naming_the_field(stock_stub, product_ids, field):
    error = rpc_error(stock_stub.GetStockLevels, stock_pb2.GetStockLevelsRequest(product_ids=product_ids))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == [field]


@pytest.mark.parametrize('call, asking, field', [
    ('ConvertHold', lambda lamp: stock_pb2.ConvertHoldRequest(reservation_id='hold-1'), 'order_id'),
    ('ConvertHold', lambda lamp: stock_pb2.ConvertHoldRequest(reservation_id='hold-1', order_id=-5), 'order_id'),
    ('ConvertHold', lambda lamp: stock_pb2.ConvertHoldRequest(order_id=ORDER), 'reservation_id'),
    ('ReserveStock', lambda lamp: stock_pb2.ReserveStockRequest(reservation_id='hold-1', cart_id=-1, lines=[
        stock_pb2.StockLine(product_id=lamp.id, quantity=1)]), 'cart_id'),
], ids=['no order', 'negative order', 'no reservation id', 'negative cart'])
def test_a_bad_conversion_or_hold_is_refused_naming_the_field(stock_stub, products_stub, call, asking, field):
    lamp = new_product(products_stub, stock=10)
    hold(stock_stub, 'hold-1', (lamp, 2))
    error = rpc_error(getattr(stock_stub, call), asking(lamp))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == [field]
    assert stock(products_stub, lamp) == 8 and len(history(products_stub, lamp)) == 1
