"""The README's grpcurl examples with the real grpcurl binary: server reflection on each service's port and
through Envoy, and native gRPC through Envoy with the build's descriptor set too."""
import json
import re
import uuid

import pytest

from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import ROOT, grpcurl, grpcurl_json, grpcurl_stream

pytestmark = pytest.mark.e2e

PRODUCTS = 'ecommerce.products.v1.ProductService'
STOCK = 'ecommerce.products.v1.StockService'
ORDERS = 'ecommerce.orders.v1.OrderService'
CARTS = 'ecommerce.orders.v1.CartService'
HEALTH = 'grpc.health.v1.Health'
REFLECTION = 'grpc.reflection.v1alpha.ServerReflection'  # the version grpcurl 1.8.6 asks for


def create_product(system, **fields):
    product = {'name': f'Desk {uuid.uuid4().hex[:8]}', 'price': '199.00', 'stock_quantity': 3, 'category': 'HOME',
               **fields}
    return grpcurl_json(system.products, f'{PRODUCTS}/CreateProduct', {'product': product})


def get_product(system, product_id):
    return grpcurl_json(system.products, f'{PRODUCTS}/GetProduct', {'id': product_id})


# What reflection lists and describes, and what health answers, is the same whatever the database: the SQLite pass
# only. The tests below them that store and read data run on both.
@DATABASE_INDEPENDENT
@pytest.mark.parametrize('server, services', [('products', [PRODUCTS, STOCK]), ('orders', [ORDERS, CARTS])])
def test_list_shows_exactly_the_services_health_and_reflection(system, server, services):
    result = grpcurl(getattr(system, server), 'list')
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted([*services, HEALTH, REFLECTION])


@DATABASE_INDEPENDENT
@pytest.mark.parametrize('server, service, methods', [
    ('products', PRODUCTS, ['CreateProduct', 'DeleteProduct', 'GetProduct', 'ImportProducts', 'ListProducts',
                            'ListStockMovements', 'SearchProducts', 'UpdateProduct']),
    ('products', STOCK, ['ConvertHold', 'GetStockLevels', 'ReleaseStock', 'ReserveStock', 'ReserveStocks']),
    ('orders', ORDERS, ['CancelOrder', 'CreateOrder', 'GetOrder', 'GetOrdersByCustomer', 'ListOrderEvents',
                        'ListOrders', 'UpdateOrderStatus', 'WatchOrder', 'WatchOrders']),
    ('orders', CARTS, ['AbandonCheckout', 'AddCartItem', 'CheckoutCart', 'CompleteCheckout', 'CreateCart',
                       'DeleteCartItem', 'GetCart', 'ListCarts', 'UpdateCartItem']),
])
def test_list_of_a_service_shows_its_methods(system, server, service, methods):
    result = grpcurl(getattr(system, server), 'list', service)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == [f'{service}.{method}' for method in methods]


@DATABASE_INDEPENDENT
def test_describe_product_shows_its_fields_and_categories(system):
    result = grpcurl(system.products, 'describe', 'ecommerce.products.v1.Product')
    assert result.returncode == 0, result.stderr
    assert 'ecommerce.products.v1.Product is a message' in result.stdout
    for declaration in ('int64 id = 1;', 'optional string name = 2;', 'optional string description = 3;',
                        'optional string price = 4;', 'optional int32 stock_quantity = 5;',
                        'optional .ecommerce.products.v1.Product.Category category = 6;',
                        '.google.protobuf.Timestamp created_at = 7;', '.google.protobuf.Timestamp updated_at = 8;',
                        'ELECTRONICS = 1;', 'OTHER = 7;'):
        assert declaration in result.stdout, declaration


def test_create_and_get_product_through_reflection(system):
    name = f'Desk {uuid.uuid4().hex[:8]}'
    created = grpcurl_json(system.products, f'{PRODUCTS}/CreateProduct', {'product': {
        'name': name, 'price': '199.00', 'stock_quantity': 3, 'category': 'HOME'}})
    assert created['id'].isdigit()
    assert {key: created[key] for key in ('name', 'price', 'stock_quantity', 'category')} == {
        'name': name, 'price': '199.00', 'stock_quantity': 3, 'category': 'HOME'}
    assert get_product(system, created['id']) == created


def test_update_and_list_products_through_reflection(system):
    created = create_product(system, price='10.00')
    # grpcurl 1.8.6 reads a FieldMask only in its message form, not as the "a,b" string of the JSON mapping.
    updated = grpcurl_json(system.products, f'{PRODUCTS}/UpdateProduct', {
        'product': {'id': created['id'], 'price': '12.50'}, 'update_mask': {'paths': ['price']}})
    assert updated['price'] == '12.50' and updated['name'] == created['name']
    page = grpcurl_json(system.products, f'{PRODUCTS}/ListProducts', {'page_size': 100})
    assert updated['id'] in [product['id'] for product in page['products']]


@pytest.mark.parametrize('through', ['orders', 'gateway'])
def test_a_grpcurl_watcher_sees_status_changes_live(system, through):
    """The README's watch line: grpcurl prints each update as it happens (directly, or through Envoy) and exits
    when the order is delivered."""
    product = create_product(system, stock_quantity=5)
    order = grpcurl_json(system.orders, f'{ORDERS}/CreateOrder', {
        'customer_name': 'Ada', 'customer_email': 'ada@example.com', 'shipping_address': '12 Analytical Row',
        'items': [{'product_id': product['id'], 'quantity': 1}]})
    watcher = grpcurl_stream(getattr(system, through), f'{ORDERS}/WatchOrder', {'id': order['id']})
    try:
        statuses = [watcher.next_message()['order']['status']]
        for status in ('PROCESSING', 'SHIPPED', 'DELIVERED'):
            grpcurl_json(system.orders, f'{ORDERS}/UpdateOrderStatus', {'id': order['id'], 'status': status})
            update = watcher.next_message()  # printed before the next change is made
            statuses.append(update['order']['status'])
            assert update['event']['to_status'] == status
        assert watcher.process.wait(timeout=10) == 0, watcher.process.stderr.read()
    finally:
        watcher.stop()
    assert statuses == ['PENDING', 'PROCESSING', 'SHIPPED', 'DELIVERED']


def test_create_order_through_reflection_on_the_orders_port(system):
    product = create_product(system, price='19.99', stock_quantity=5)
    order = grpcurl_json(system.orders, f'{ORDERS}/CreateOrder', {
        'customer_name': 'Ada', 'customer_email': 'Ada@Example.com', 'shipping_address': '12 Analytical Row',
        'items': [{'product_id': product['id'], 'quantity': 3}]})
    assert (order['status'], order['customer_email'], order['total_amount']) == ('PENDING', 'ada@example.com',
                                                                                 '59.97')
    assert order['items'] == [{'product_id': product['id'], 'product_name': product['name'], 'price': '19.99',
                               'quantity': 3, 'subtotal': '59.97', 'currency_code': 'USD'}]
    assert get_product(system, product['id'])['stock_quantity'] == 2
    assert grpcurl_json(system.orders, f'{ORDERS}/GetOrder', {'id': order['id']}) == order


def readme_grpcurl_data(method):
    """The -d JSON of README.md's grpcurl example for `method`."""
    match = re.search(r"-d '([^']*)'[\s\\]*localhost:\d+\s+" + re.escape(method), (ROOT / 'README.md').read_text())
    assert match, f'README.md has no grpcurl example for {method}'
    return json.loads(match.group(1))


def test_the_readmes_update_product_example_works_with_the_installed_grpcurl(system):
    created = create_product(system, price='10.00')
    data = readme_grpcurl_data(f'{PRODUCTS}/UpdateProduct')
    data['product']['id'] = created['id']
    result = grpcurl(system.products, f'{PRODUCTS}/UpdateProduct', data=data)
    assert result.returncode == 0, f'README example {json.dumps(data)} fails:\n{result.stderr}'
    assert json.loads(result.stdout)['price'] == data['product']['price']


@pytest.mark.parametrize('server, method, data, code, message', [
    ('products', f'{PRODUCTS}/GetProduct', {'id': 0}, 'InvalidArgument', 'id: must be a positive product id'),
    ('products', f'{PRODUCTS}/GetProduct', {'id': 9_000_000_000_000}, 'NotFound',
     'product 9000000000000 not found'),
    ('products', f'{PRODUCTS}/CreateProduct', {'product': {'name': 'X', 'price': '-5', 'category': 'TOYS'}},
     'InvalidArgument', 'price: must be greater than zero'),
    ('orders', f'{ORDERS}/GetOrder', {'id': 9_000_000_000_000}, 'NotFound', 'order 9000000000000 not found'),
    ('orders', f'{ORDERS}/CreateOrder', {'customer_name': 'Ada', 'customer_email': 'nope',
                                         'shipping_address': 'Row', 'items': [{'product_id': 1, 'quantity': 1}]},
     'InvalidArgument', 'customer_email: is not a valid email address'),
])
def test_an_error_prints_its_code_and_message_and_exits_non_zero(system, server, method, data, code, message):
    result = grpcurl(getattr(system, server), method, data=data)
    assert result.returncode != 0
    assert f'Code: {code}' in result.stderr, result.stderr
    assert f'Message: {message}' in result.stderr, result.stderr
    assert result.stdout.strip() == ''


def test_not_enough_stock_through_reflection_is_failed_precondition_naming_the_product(system):
    product = create_product(system, stock_quantity=1)
    result = grpcurl(system.orders, f'{ORDERS}/CreateOrder', data={
        'customer_name': 'Ada', 'customer_email': 'ada@example.com', 'shipping_address': 'Row',
        'items': [{'product_id': product['id'], 'quantity': 2}]})
    assert result.returncode != 0
    assert 'Code: FailedPrecondition' in result.stderr, result.stderr
    assert f'Message: not enough stock for product {product["id"]} ({product["name"]})' in result.stderr
    assert 'INSUFFICIENT_STOCK' in result.stderr  # the ErrorInfo detail is printed too
    assert get_product(system, product['id'])['stock_quantity'] == 1


@DATABASE_INDEPENDENT
def test_health_check_through_grpcurl(system):
    result = grpcurl(system.orders, f'{HEALTH}/Check', data={'service': ORDERS})
    assert result.returncode == 0, result.stderr
    assert '"SERVING"' in result.stdout


def test_native_grpc_through_envoy_with_the_descriptor_set(system):
    product = create_product(system, price='5.00', stock_quantity=4)
    placed = grpcurl_json(system.orders, f'{ORDERS}/CreateOrder', {
        'customer_name': 'Ada', 'customer_email': 'ada@example.com', 'shipping_address': 'Row',
        'items': [{'product_id': product['id'], 'quantity': 2}]})
    through_envoy = grpcurl_json(system.gateway, f'{ORDERS}/GetOrder', {'id': placed['id']}, protoset=True)
    assert through_envoy == placed
    cancelled = grpcurl_json(system.gateway, f'{ORDERS}/CancelOrder', {'id': placed['id']}, protoset=True)
    assert cancelled['status'] == 'CANCELLED'
    assert get_product(system, product['id'])['stock_quantity'] == 4


def test_reflection_through_envoy_describes_both_services(system):
    """The gateway's own tests: tests/e2e/test_gateway_grpc.py."""
    result = grpcurl(system.gateway, 'list')
    assert result.returncode == 0, result.stderr
    assert {PRODUCTS, ORDERS} <= set(result.stdout.split())
    product = create_product(system)
    assert grpcurl_json(system.gateway, f'{PRODUCTS}/GetProduct', {'id': product['id']}) == product
