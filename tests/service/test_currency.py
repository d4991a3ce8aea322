"""The shop's currency: every price and amount states it, a client cannot send another, and a shop that changes its
currency sells a product again only once it has a price in the new one."""
import contextlib

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from google.protobuf import field_mask_pb2

from services.orders.service import create_server as create_orders_server
from services.products.service import create_server as create_products_server
from storage import orders as orders_storage
from storage import products as products_storage
from tests.rpc_errors import error_details
from tests.servers import event_loop, serving

Product = products_pb2.Product


def product(name='Pen', price='1.50', stock=10, **fields):
    return Product(name=name, price=price, stock_quantity=stock, category=Product.OTHER, **fields)


def refused(call, request):
    with pytest.raises(grpc.RpcError) as raised:
        call(request)
    return raised.value


def order(*items):
    return orders_pb2.CreateOrderRequest(customer_name='Ada', customer_email='ada@example.com',
                                         shipping_address='1 Analytical Way',
                                         items=[orders_pb2.OrderItemRequest(product_id=product_id, quantity=quantity)
                                                for product_id, quantity in items])


def test_every_amount_states_the_shops_currency(products_stub, orders_stub):
    pen = products_stub.CreateProduct(products_pb2.CreateProductRequest(product=product(currency_code='USD')))
    assert (pen.price, pen.currency_code) == ('1.50', 'USD')
    assert products_stub.GetProduct(products_pb2.GetProductRequest(id=pen.id)).currency_code == 'USD'
    placed = orders_stub.CreateOrder(order((pen.id, 2)))
    assert (placed.total_amount, placed.currency_code) == ('3.00', 'USD')
    assert [(item.subtotal, item.currency_code) for item in placed.items] == [('3.00', 'USD')]


def test_a_price_in_another_currency_is_refused_and_changes_nothing(products_stub):
    pen = products_stub.CreateProduct(products_pb2.CreateProductRequest(product=product()))
    error = refused(products_stub.CreateProduct, products_pb2.CreateProductRequest(product=product(
        name='Ink', currency_code='EUR')))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(error).fields == {'product.currency_code': "'EUR' is not the shop's currency: prices are "
                                                                    "in USD, and are not converted"}
    error = refused(products_stub.UpdateProduct, products_pb2.UpdateProductRequest(
        product=Product(id=pen.id, price='9.99', currency_code='eur'),
        update_mask=field_mask_pb2.FieldMask(paths=['price'])))
    assert 'product.currency_code' in error_details(error).fields
    error = refused(products_stub.ImportProducts, iter([products_pb2.ImportProductsRequest(products=[
        product(name='Ink'), product(name='Nib', currency_code='GBP')])]))
    assert list(error_details(error).fields) == ['products[1].currency_code']
    listed = products_stub.ListProducts(products_pb2.ListProductsRequest())
    assert [(item.name, item.price, item.currency_code) for item in listed.products] == [('Pen', '1.50', 'USD')]


@contextlib.contextmanager
def shop(database_url, currency):
    """Products and Orders selling in `currency`, over the same two databases each time: (products, orders) stubs."""
    with event_loop() as loop, \
            serving(create_products_server('127.0.0.1:0', database_url('products'), currency=currency),
                    loop) as (_, products_port, _health), \
            serving(create_orders_server('127.0.0.1:0', database_url('orders'), f'127.0.0.1:{products_port}',
                                         currency=currency), loop) as (_, orders_port, *_), \
            grpc.insecure_channel(f'127.0.0.1:{products_port}') as products_channel, \
            grpc.insecure_channel(f'127.0.0.1:{orders_port}') as orders_channel:
        yield (products_pb2_grpc.ProductServiceStub(products_channel),
               orders_pb2_grpc.OrderServiceStub(orders_channel))
    products_storage.database.close_all()
    orders_storage.database.close_all()


def test_a_shop_that_changes_currency_sells_a_product_once_it_has_a_price_in_the_new_one(database_url):
    with shop(database_url, 'USD') as (products, orders):
        pen = products.CreateProduct(products_pb2.CreateProductRequest(product=product()))
        in_dollars = orders.CreateOrder(order((pen.id, 1)))

    with shop(database_url, 'EUR') as (products, orders):
        still = products.GetProduct(products_pb2.GetProductRequest(id=pen.id))
        assert (still.price, still.currency_code) == ('1.50', 'USD')  # its price was set in dollars
        error = refused(orders.CreateOrder, order((pen.id, 1)))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f'product {pen.id} (Pen) is priced in USD' in error.details()
        assert products.GetProduct(products_pb2.GetProductRequest(id=pen.id)).stock_quantity == 9  # nothing taken

        repriced = products.UpdateProduct(products_pb2.UpdateProductRequest(
            product=Product(id=pen.id, price='1.40'), update_mask=field_mask_pb2.FieldMask(paths=['price'])))
        assert (repriced.price, repriced.currency_code) == ('1.40', 'EUR')
        in_euros = orders.CreateOrder(order((pen.id, 1)))
        assert (in_euros.total_amount, in_euros.currency_code) == ('1.40', 'EUR')
        earlier = orders.GetOrder(orders_pb2.GetOrderRequest(id=in_dollars.id))
        assert (earlier.total_amount, earlier.currency_code) == ('1.50', 'USD')  # placed in dollars, stays so
