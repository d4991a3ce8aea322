"""ImportProducts through a real in-process server: a client stream of products, imported all or none."""
import grpc
import pytest
from ecommerce.products.v1 import products_pb2

from services.products import rules
from tests.rpc_errors import error_details

Product = products_pb2.Product


def products(count, start=0, **fields):
    return [Product(**{'name': f'Item {index}', 'price': '3.50', 'stock_quantity': index, 'category': Product.TOYS,
                       **fields}) for index in range(start, start + count)]


def stream(rows, per_message=100, validate_only=False):
    return iter([products_pb2.ImportProductsRequest(products=rows[start:start + per_message],
                                                    validate_only=validate_only)
                 for start in range(0, len(rows), per_message)])


def refusal(stub, requests):
    with pytest.raises(grpc.RpcError) as raised:
        stub.ImportProducts(requests)
    return raised.value


def all_products(stub):
    listing = stub.ListProducts(products_pb2.ListProductsRequest(page_size=100))
    assert not listing.next_page_token
    return list(listing.products)


def test_every_row_is_imported_in_order(products_stub):
    rows = products(95)
    response = products_stub.ImportProducts(stream(rows, per_message=40))
    imported = all_products(products_stub)
    assert response.imported_count == 95
    assert (response.first_id, response.last_id) == (imported[0].id, imported[-1].id)
    assert [(product.name, product.price, product.stock_quantity, product.category) for product in imported] == [
        (row.name, row.price, row.stock_quantity, row.category) for row in rows]


def test_rows_are_cleaned_and_given_defaults_as_by_create(products_stub):
    products_stub.ImportProducts(stream([Product(name='  Mug ', price='5', category=Product.HOME)]))
    [mug] = all_products(products_stub)
    assert (mug.name, mug.price, mug.description, mug.stock_quantity) == ('Mug', '5.00', '', 0)


def test_bad_rows_are_all_named_by_their_place_in_the_whole_stream_and_nothing_is_written(products_stub):
    rows = products(95)
    rows[7].price = '-1'
    rows[50].ClearField('name')
    rows[50].stock_quantity = -3
    rows[94].category = 99
    error = refusal(products_stub, stream(rows, per_message=40))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == 'products[7].price: must be greater than zero (and 3 more invalid values)'
    details = error_details(error)
    assert list(details.fields) == ['products[7].price', 'products[50].name', 'products[50].stock_quantity',
                                    'products[94].category']
    assert details.fields['products[50].name'] == 'is required'
    assert details.metadata == {'violation_count': '4'}
    assert all_products(products_stub) == []


def test_validate_only_checks_every_row_and_writes_nothing(products_stub):
    assert products_stub.ImportProducts(stream(products(30), validate_only=True)) == \
           products_pb2.ImportProductsResponse()
    rows = products(30)
    rows[29].price = 'free'
    error = refusal(products_stub, stream(rows, validate_only=True))
    assert list(error_details(error).fields) == ['products[29].price']
    assert all_products(products_stub) == []


def test_an_empty_stream_is_refused(products_stub):
    error = refusal(products_stub, iter([]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == 'products: the import holds no products'


def test_a_stream_over_the_row_limit_is_refused_without_writing(products_stub, monkeypatch):
    monkeypatch.setattr(rules, 'MAX_IMPORT_ROWS', 50)
    error = refusal(products_stub, stream(products(51), per_message=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == 'products: at most 50 products per import; split the file'
    assert all_products(products_stub) == []
    assert products_stub.ImportProducts(stream(products(50))).imported_count == 50


def test_a_message_that_cannot_be_parsed_refuses_the_import(products_address):
    with grpc.insecure_channel(products_address) as channel:
        send = channel.stream_unary('/ecommerce.products.v1.ProductService/ImportProducts')
        good = products_pb2.ImportProductsRequest(products=products(1)).SerializeToString()
        with pytest.raises(grpc.RpcError) as raised:
            send(iter([good, b'\x0a\x02\xc3\x28']))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(raised.value).fields) == ['request']
