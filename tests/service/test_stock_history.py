"""A product's stock movements (ListStockMovements) through real in-process servers: each reservation, release and
stock update recorded once, with the request that made it (an order's own request id, passed on by Orders), adding
up to the stock now minus the stock the product was created with."""
import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2
from ecommerce.products.v1 import products_pb2

from tests.conftest import new_product
from tests.rpc_errors import error_details
from tests.service.test_orders_service import order_request, rpc_error
from tests.stock_checks import movements_total

Movement = products_pb2.StockMovement


def movements(products_stub, product, **fields):
    return products_stub.ListStockMovements(products_pb2.ListStockMovementsRequest(product_id=product.id, **fields))


def set_stock(products_stub, product, quantity, request_id='adjust-1'):
    return products_stub.UpdateProduct(products_pb2.UpdateProductRequest(
        product=products_pb2.Product(id=product.id, stock_quantity=quantity),
        update_mask={'paths': ['stock_quantity']}),
        metadata=[('x-request-id', request_id)])


def test_an_order_and_its_cancellation_move_the_stock_under_the_orders_own_request_id(orders_stub, products_stub):
    lamp = new_product(products_stub, stock=10)
    order = orders_stub.CreateOrder(order_request((lamp.id, 3)), metadata=[('x-request-id', 'order-5c1e')])
    orders_stub.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=[('x-request-id', 'cancel-9a51')])
    listed = movements(products_stub, lamp)
    assert [(m.reason, m.delta, m.stock_before, m.stock_after, m.request_id) for m in listed.movements] == [
        (Movement.RELEASED, 3, 7, 10, 'cancel-9a51'), (Movement.RESERVED, -3, 10, 7, 'order-5c1e')]
    assert listed.movements[0].reservation_id == listed.movements[1].reservation_id != ''
    assert listed.total_size == 2


def test_an_update_of_the_stock_is_an_adjustment_and_other_updates_move_nothing(products_stub):
    lamp = new_product(products_stub, stock=10)
    set_stock(products_stub, lamp, 25, request_id='restock-1')
    set_stock(products_stub, lamp, 25)  # the same value: nothing moved
    products_stub.UpdateProduct(products_pb2.UpdateProductRequest(
        product=products_pb2.Product(id=lamp.id, price='1.50'), update_mask={'paths': ['price']}))
    set_stock(products_stub, lamp, 4, request_id='count-2')
    assert [(m.reason, m.delta, m.stock_after, m.request_id, m.reservation_id)
            for m in movements(products_stub, lamp).movements] == [
        (Movement.ADJUSTED, -21, 4, 'count-2', ''), (Movement.ADJUSTED, 15, 25, 'restock-1', '')]


def test_a_refused_order_moves_nothing(orders_stub, products_stub):
    lamp, pen = new_product(products_stub, stock=5), new_product(products_stub, stock=1)
    error = rpc_error(orders_stub.CreateOrder, order_request((lamp.id, 2), (pen.id, 2)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert movements(products_stub, lamp).total_size == movements(products_stub, pen).total_size == 0


def test_movements_add_up_to_the_stock_now_minus_the_stock_at_creation(orders_stub, products_stub):
    lamp = new_product(products_stub, stock=40)
    placed = [orders_stub.CreateOrder(order_request((lamp.id, quantity))) for quantity in (1, 2, 3, 4)]
    orders_stub.CancelOrder(orders_pb2.CancelOrderRequest(id=placed[1].id))
    set_stock(products_stub, lamp, 50)
    orders_stub.CreateOrder(order_request((lamp.id, 5)))
    now = products_stub.GetProduct(products_pb2.GetProductRequest(id=lamp.id)).stock_quantity
    assert now == 45  # 40 - (1 + 2 + 3 + 4) + 2 given back, set to 50, - 5
    assert movements_total(products_stub, lamp.id) == now - 40
    page = movements(products_stub, lamp, page_size=4)
    rest = movements(products_stub, lamp, page_size=4, page_token=page.next_page_token)
    stock_afters = [m.stock_after for m in list(page.movements) + list(rest.movements)]
    assert stock_afters[0] == now and len(stock_afters) == page.total_size == 7


@pytest.mark.parametrize('product_id, code, field', [
    (987654, grpc.StatusCode.NOT_FOUND, None), (0, grpc.StatusCode.INVALID_ARGUMENT, 'product_id')])
def test_movements_of_an_unknown_or_missing_product_are_refused(products_stub, product_id, code, field):
    error = rpc_error(products_stub.ListStockMovements, products_pb2.ListStockMovementsRequest(product_id=product_id))
    assert error.code() == code
    if field:
        assert list(error_details(error).fields) == [field]
