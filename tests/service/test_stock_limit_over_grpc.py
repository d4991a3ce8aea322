"""The stock limit through a real Products server: no sequence of calls stores a stock the API cannot carry, and a
row stored past it (by an older release, or by hand) is still read, at the limit, with a warning in the log."""
import logging

import grpc
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, stock_pb2

from services.orders.service import create_server as create_orders_server
from services.products.rules import MAX_STOCK
from storage import orders as orders_storage
from storage import products as products_storage
from storage.products import Product
from tests.conftest import TEST_DATABASE, new_product
from tests.hostile import assert_clear_refusal
from tests.servers import event_loop, serving

# What the issue's releases left in the row on SQLite; PostgreSQL's 32-bit column holds at most 2**31 - 1.
PAST_THE_LIMIT = 4_000_000_000 if TEST_DATABASE == 'sqlite' else 2**31 - 1


def answer(method, request):
    """'OK', or the code of a refusal that must be clear: the client's request or the state, never the server."""
    try:
        method(request)
    except grpc.RpcError as error:
        assert_clear_refusal(error)
        return error.code().name
    return 'OK'


def set_stock(quantity, product_id):
    return products_pb2.UpdateProductRequest(product=products_pb2.Product(id=product_id, stock_quantity=quantity),
                                             update_mask={'paths': ['stock_quantity']})


def every_product(products_stub):
    return {product.id: product for product in products_stub.ListProducts(
        products_pb2.ListProductsRequest(page_size=100)).products}


def force_stock(product_id, value):
    """Set a stock by SQL in the server's database, past every rule."""
    with products_storage.database.connection_context():
        Product.update(stock_quantity=value).where(Product.id == product_id).execute()


def unhandled(caplog):
    return [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]


def test_the_issues_releases_after_admin_resets_leave_every_read_working(products_stub, stock_stub, caplog):
    """Issue 17: three times, reserve the whole stock and reset it to the limit; then release all three. Before,
    the row ended at 4,000,000,000 and every read of it was INTERNAL (on PostgreSQL, the third release was)."""
    lamp = new_product(products_stub, name='Lamp', stock=MAX_STOCK)
    outcomes = []
    for number in (1, 2, 3):
        outcomes.append(answer(stock_stub.ReserveStock, stock_pb2.ReserveStockRequest(
            reservation_id=f'order-{number}', lines=[stock_pb2.StockLine(product_id=lamp.id, quantity=MAX_STOCK)])))
        outcomes.append(answer(products_stub.UpdateProduct, set_stock(MAX_STOCK, lamp.id)))
    for number in (1, 2, 3):
        release = stock_pb2.ReleaseStockRequest(reservation_id=f'order-{number}')
        outcomes.append(answer(stock_stub.ReleaseStock, release))
    # A release with no room gives nothing back: its units stay reserved until someone lowers the stock.
    assert outcomes == ['OK'] * 6 + ['FAILED_PRECONDITION'] * 3
    read = products_stub.GetProduct(products_pb2.GetProductRequest(id=lamp.id))
    assert read.stock_quantity == MAX_STOCK == every_product(products_stub)[lamp.id].stock_quantity
    assert answer(products_stub.UpdateProduct, set_stock(0, lamp.id)) == 'OK'
    released = stock_stub.ReleaseStock(stock_pb2.ReleaseStockRequest(reservation_id='order-1'))
    assert released.released_now
    assert products_stub.GetProduct(products_pb2.GetProductRequest(id=lamp.id)).stock_quantity == MAX_STOCK
    assert not unhandled(caplog)


def test_a_row_stored_past_the_limit_is_read_at_the_limit_with_a_warning(products_stub, caplog):
    lamp, other = new_product(products_stub, name='Lamp', stock=10), new_product(products_stub, name='Desk')
    force_stock(lamp.id, PAST_THE_LIMIT)
    with caplog.at_level(logging.WARNING, logger='services'):
        assert products_stub.GetProduct(products_pb2.GetProductRequest(id=lamp.id)).stock_quantity == MAX_STOCK
        listed = every_product(products_stub)
        found = products_stub.SearchProducts(products_pb2.SearchProductsRequest(q='lamp')).products
    assert (listed[lamp.id].stock_quantity, listed[other.id].stock_quantity) == (MAX_STOCK, other.stock_quantity)
    assert [product.stock_quantity for product in found] == [MAX_STOCK]
    warned = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert warned and all(record.fields['product_id'] == lamp.id and record.fields['stored'] == PAST_THE_LIMIT
                          for record in warned)
    assert not unhandled(caplog)
    # An admin brings it back within the limit, and its history still reads, within the limit too.
    assert answer(products_stub.UpdateProduct, set_stock(MAX_STOCK, lamp.id)) == 'OK'
    assert answer(products_stub.UpdateProduct, set_stock(7, lamp.id)) == 'OK'
    history = products_stub.ListStockMovements(products_pb2.ListStockMovementsRequest(product_id=lamp.id)).movements
    assert [(movement.stock_before, movement.delta, movement.stock_after) for movement in history] == [
        (MAX_STOCK, 7 - MAX_STOCK, 7), (MAX_STOCK, 0, MAX_STOCK)]





def test_a_release_products_refuses_leaves_the_cancellation_standing_for_recovery_to_finish(
        products_stub, products_address, database_url):
    """A release that would take a product past the limit is refused by Products, and the units stay reserved: the
    order is still cancelled (the caller gets it, not an error), a recovery pass meanwhile settles nothing and fails
    nothing, and once an admin lowers the stock, the next pass gives the units back."""
    build = create_orders_server('127.0.0.1:0', database_url('orders'), products_address)
    with event_loop() as loop, serving(build, loop) as (_server, port, _health, background), \
            grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
        orders = orders_pb2_grpc.OrderServiceStub(channel)
        product = new_product(products_stub, stock=5).id
        order = orders.CreateOrder(orders_pb2.CreateOrderRequest(
            customer_name='Ada', customer_email='ada@example.com', shipping_address='1 Analytical Way',
            items=[orders_pb2.OrderItemRequest(product_id=product, quantity=2)]))
        products_stub.UpdateProduct(set_stock(MAX_STOCK, product))
        assert orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id)).status == orders_pb2.Order.CANCELLED
        assert loop.run(background.recovery.run_once()) == 0
        products_stub.UpdateProduct(set_stock(10, product))
        assert loop.run(background.recovery.run_once()) == 1
        assert products_stub.GetProduct(products_pb2.GetProductRequest(id=product)).stock_quantity == 12
    orders_storage.database.close_all()
