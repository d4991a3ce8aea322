"""The `ecommerce` command against real in-process servers: what each command prints, what it changes, its JSON,
and one line with an exit status for every mistake."""
import json
import re
import socket

import pytest
from ecommerce.cli.api import REFUSED
from ecommerce.cli.main import app as ecommerce_app
from ecommerce.orders.v1 import orders_pb2
from ecommerce.products.v1 import products_pb2
from google.protobuf import json_format
from typer.testing import CliRunner

from services import auth
from services.products.service import create_server as create_products_server
from storage import products as products_storage
from tests.cli_results import one_line_error, succeeded
from tests.conftest import new_product
from tests.servers import serving
from tests.tokens import SECRET

Product = products_pb2.Product
Order = orders_pb2.Order


def table_rows(text):
    """The cells of each body row of the Rich tables in `text`."""
    return [[cell.strip() for cell in line.strip().strip('│').split('│')]
            for line in text.splitlines() if line.startswith('│')]


def detail_fields(text):
    """{name: value} of a detail view (one field per line, name and value apart)."""
    pairs = [re.split(r'\s{2,}', line.strip(), maxsplit=1) for line in text.splitlines() if line.strip()]
    return {pair[0]: pair[1] if len(pair) > 1 else '' for pair in pairs}


def api_dict(message):
    """A message as the API's JSON (Envoy's options), parsed."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def catalogue(stub):
    listing = stub.ListProducts(products_pb2.ListProductsRequest(page_size=100))
    assert not listing.next_page_token
    return list(listing.products)


def import_rows(stub, count):
    stub.ImportProducts(iter([products_pb2.ImportProductsRequest(products=[
        Product(name=f'Bulk {index}', price='1.00', stock_quantity=index, category=Product.OTHER)
        for index in range(count)])]))


def place_order(orders_stub, email, items):
    return orders_stub.CreateOrder(orders_pb2.CreateOrderRequest(
        customer_name='Ada Lovelace', customer_email=email, shipping_address='12 Analytical Row',
        items=[orders_pb2.OrderItemRequest(product_id=product_id, quantity=quantity)
               for product_id, quantity in items]))


# --- products ----------------------------------------------------------------------------------------

def test_create_prints_the_new_product_as_the_api_stored_it(ecommerce, products_stub):
    shown = detail_fields(succeeded(ecommerce('products', 'create', '--name', ' Oak Desk ', '--price', '199',
                                              '--category', 'HOME', '--stock', '3', '--description', 'Solid oak')))
    [stored] = catalogue(products_stub)
    assert (stored.name, stored.price, stored.stock_quantity, stored.category, stored.description) == \
           ('Oak Desk', '199.00', 3, Product.HOME, 'Solid oak')
    assert {key: shown[key] for key in ('id', 'name', 'description', 'price', 'stock_quantity', 'category')} == {
        'id': str(stored.id), 'name': 'Oak Desk', 'description': 'Solid oak', 'price': '199.00',
        'stock_quantity': '3', 'category': 'home'}


def test_get_shows_every_field(ecommerce, products_stub):
    lamp = new_product(products_stub, name='Desk Lamp', price='27.49', stock=60, category=Product.HOME,
                       description='LED, dimmable')
    shown = detail_fields(succeeded(ecommerce('products', 'get', lamp.id)))
    assert shown['name'] == 'Desk Lamp' and shown['description'] == 'LED, dimmable'
    assert shown['created_at'] == f'{lamp.created_at.ToDatetime():%Y-%m-%d %H:%M:%S} UTC'


def test_list_shows_the_first_page_and_says_how_many_there_are(ecommerce, products_stub):
    made = [new_product(products_stub, name=name, price=price, stock=stock, category=category)
            for name, price, stock, category in [('Pen', '1.50', 10, Product.OTHER), ('Ink', '4.25', 0, Product.HOME),
                                                  ('Paper', '3.00', 7, Product.BOOKS)]]
    everything = succeeded(ecommerce('products', 'list'))
    assert table_rows(everything) == [[str(product.id), product.name, Product.Category.Name(product.category).lower(),
                                       product.price, str(product.stock_quantity)] for product in made]
    assert everything.splitlines()[-1] == '3 products'
    first_two = succeeded(ecommerce('products', 'list', '--limit', '2'))
    assert [row[1] for row in table_rows(first_two)] == ['Pen', 'Ink']
    assert first_two.splitlines()[-1] == '2 of 3 products (--all or --limit N for more)'


def test_all_and_limit_follow_the_page_tokens(ecommerce, products_stub):
    import_rows(products_stub, 130)  # two pages of at most 100
    everything = json.loads(succeeded(ecommerce('products', 'list', '--all', '--json')))
    assert [product['name'] for product in everything['products']] == [f'Bulk {index}' for index in range(130)]
    assert (everything['total_size'], everything['next_page_token']) == (130, '')
    some = json.loads(succeeded(ecommerce('products', 'list', '--limit', '120', '--json')))
    assert [product['name'] for product in some['products']] == [f'Bulk {index}' for index in range(120)]
    assert some['total_size'] == 130 and some['next_page_token']


def test_search_filters_by_name_category_price_and_stock(ecommerce, products_stub):
    for name, price, stock, category in [('Laptop', '999.00', 5, Product.ELECTRONICS),
                                         ('Laptop Bag', '49.00', 30, Product.CLOTHING),
                                         ('Lap Desk', '35.00', 2, Product.HOME), ('Desk', '199.00', 1, Product.HOME)]:
        new_product(products_stub, name=name, price=price, stock=stock, category=category)

    def names(*args):
        return [row[1] for row in table_rows(succeeded(ecommerce('products', 'search', *args)))]
    assert names('LAP') == ['Laptop', 'Laptop Bag', 'Lap Desk']
    assert names('lap', '--category', 'home') == ['Lap Desk']
    assert names('--min-price', '40', '--max-price', '999') == ['Laptop', 'Laptop Bag', 'Desk']
    assert names('desk', '--stock-below', '2') == ['Desk']
    low = succeeded(ecommerce('stock', 'low', '--below', '5'))
    assert [(row[1], row[4]) for row in table_rows(low)] == [('Lap Desk', '2'), ('Desk', '1')]
    assert low.splitlines()[-1] == '2 products'


def test_update_changes_only_the_fields_given(ecommerce, products_stub):
    lamp = new_product(products_stub, name='Lamp', price='20.00', stock=4, category=Product.HOME, description='Old')
    shown = detail_fields(succeeded(ecommerce('products', 'update', lamp.id, '--price', '25', '--description', '')))
    [stored] = catalogue(products_stub)
    assert (stored.name, stored.price, stored.stock_quantity, stored.description) == ('Lamp', '25.00', 4, '')
    assert (shown['price'], shown['description']) == ('25.00', '')
    succeeded(ecommerce('products', 'update', lamp.id, '--stock-quantity', '9', '--category', 'sports'))
    [stored] = catalogue(products_stub)
    assert (stored.price, stored.stock_quantity, stored.category) == ('25.00', 9, Product.SPORTS)


def test_delete_removes_the_product(ecommerce, products_stub):
    kept, gone = new_product(products_stub, name='Kept'), new_product(products_stub, name='Gone')
    assert succeeded(ecommerce('products', 'delete', gone.id)).strip() == f'Deleted product {gone.id}.'
    assert [product.id for product in catalogue(products_stub)] == [kept.id]
    assert json.loads(succeeded(ecommerce('products', 'delete', kept.id, '--json'))) == {}
    assert catalogue(products_stub) == []


# --- orders ------------------------------------------------------------------------------------------

@pytest.fixture
def shop(products_stub, orders_stub):
    """Two products and two orders (Ada's first, then Alan's)."""
    pen = new_product(products_stub, name='Pen', price='1.50', stock=10)
    ink = new_product(products_stub, name='Ink', price='4.25', stock=5)
    ada = place_order(orders_stub, 'ada@example.com', [(pen.id, 2), (ink.id, 1)])
    alan = place_order(orders_stub, 'Alan@Example.com', [(ink.id, 3)])
    return pen, ink, ada, alan


def test_orders_list_newest_first_and_by_status(ecommerce, orders_stub, shop):
    _pen, _ink, ada, alan = shop
    listed = succeeded(ecommerce('orders', 'list'))
    assert [row[:6] for row in table_rows(listed)] == [
        [str(alan.id), 'Ada Lovelace', 'alan@example.com', 'pending', '12.75', '3'],
        [str(ada.id), 'Ada Lovelace', 'ada@example.com', 'pending', '7.25', '3']]
    assert listed.splitlines()[-1] == '2 orders'
    orders_stub.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(id=ada.id, status=Order.PROCESSING))
    assert [row[0] for row in table_rows(succeeded(ecommerce('orders', 'list', '--status', 'PROCESSING')))] == \
           [str(ada.id)]


def test_orders_get_shows_the_order_and_its_items(ecommerce, shop):
    pen, ink, ada, _alan = shop
    shown = succeeded(ecommerce('orders', 'get', ada.id))
    assert table_rows(shown) == [[str(pen.id), 'Pen', '1.50', '2', '3.00', 'USD'],
                                 [str(ink.id), 'Ink', '4.25', '1', '4.25', 'USD']]
    fields = detail_fields(shown)
    assert (fields['status'], fields['customer_email'], fields['total_amount']) == \
           ('pending', 'ada@example.com', '7.25')


def test_advance_moves_the_order_one_step_and_cancel_gives_the_stock_back(ecommerce, products_stub, orders_stub,
                                                                          shop):
    _pen, _ink, ada, _alan = shop
    assert detail_fields(succeeded(ecommerce('orders', 'advance', ada.id, 'processing')))['status'] == 'processing'
    assert orders_stub.GetOrder(orders_pb2.GetOrderRequest(id=ada.id)).status == Order.PROCESSING
    assert detail_fields(succeeded(ecommerce('orders', 'cancel', ada.id)))['status'] == 'cancelled'
    assert {product.name: product.stock_quantity for product in catalogue(products_stub)} == {'Pen': 10, 'Ink': 2}


def test_orders_by_customer_matches_the_email_in_any_case(ecommerce, shop):
    _pen, _ink, _ada, alan = shop
    assert [row[0] for row in table_rows(succeeded(ecommerce('orders', 'by-customer', 'ALAN@example.COM')))] == \
           [str(alan.id)]


# --- JSON ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('where', ['before', 'after'])
def test_json_before_or_after_the_command_is_the_apis_own(ecommerce, products_stub, orders_stub, shop, where):
    pen, _ink, ada, _alan = shop

    def as_json(*command):
        args = ['--json', *command] if where == 'before' else [*command, '--json']
        return json.loads(succeeded(ecommerce(*args)))
    assert as_json('products', 'get', pen.id) == api_dict(products_stub.GetProduct(
        products_pb2.GetProductRequest(id=pen.id)))
    assert as_json('products', 'list') == api_dict(products_stub.ListProducts(products_pb2.ListProductsRequest()))
    assert as_json('stock', 'low', '--below', '5') == api_dict(products_stub.SearchProducts(
        products_pb2.SearchProductsRequest(stock_below=5)))
    assert as_json('orders', 'list') == api_dict(orders_stub.ListOrders(orders_pb2.ListOrdersRequest()))
    assert as_json('orders', 'by-customer', 'ada@example.com') == api_dict(orders_stub.GetOrdersByCustomer(
        orders_pb2.GetOrdersByCustomerRequest(email='ada@example.com')))
    advanced = as_json('orders', 'advance', ada.id, 'processing')
    assert advanced == api_dict(orders_stub.GetOrder(orders_pb2.GetOrderRequest(id=ada.id)))
    assert (advanced['id'], advanced['status'], advanced['total_amount']) == (str(ada.id), 'PROCESSING', '7.25')


# --- mistakes: one line and an exit status -----------------------------------------------------------------

@pytest.mark.parametrize('command, message', [
    (['products', 'create', '--name', 'X', '--price', '-5', '--category', 'toys'],
     'price: must be greater than zero (INVALID_ARGUMENT)'),
    (['products', 'create', '--price', '5', '--category', 'toys'], 'name: is required (INVALID_ARGUMENT)'),
    (['products', 'get', '999'], 'product 999 not found (NOT_FOUND)'),
    (['products', 'get', '0'], 'id: must be a positive product id (INVALID_ARGUMENT)'),
    (['products', 'update', '999', '--price', '2'], 'product 999 not found (NOT_FOUND)'),
    (['products', 'update', '1'], 'product: has no fields to update (INVALID_ARGUMENT)'),
    (['products', 'search', '--min-price', '9', '--max-price', '2'],
     'min_price: 9.00 is above max_price 2.00 (INVALID_ARGUMENT)'),
    (['stock', 'low', '--below', '-1'],
     'stock_below: must be 0 or more (products with fewer units in stock) (INVALID_ARGUMENT)'),
    (['orders', 'get', '999'], 'order 999 not found (NOT_FOUND)'),
    (['orders', 'by-customer', 'not-an-email'], None),
], ids=lambda value: ' '.join(value) if isinstance(value, list) else None)
def test_a_refused_request_is_one_line_naming_the_field_and_exit_status_1(ecommerce, command, message):
    line = one_line_error(ecommerce(*command), 1)
    assert line.startswith('error: ')
    if message:
        assert line == f'error: {message}'


def test_a_move_the_workflow_forbids_is_one_line(ecommerce, shop):
    _pen, _ink, ada, _alan = shop
    assert one_line_error(ecommerce('orders', 'advance', ada.id, 'shipped'), 1) == \
           'error: cannot move an order from pending to shipped: the next status is processing (FAILED_PRECONDITION)'


@pytest.mark.parametrize('command, named', [
    (['products', 'get', 'abc'], "'ID'"),
    (['products', 'list', '--bogus'], '--bogus'),
    (['products', 'list', '--limit', '0'], '--limit'),
    (['products', 'create', '--category', 'gadgets'], '--category'),
    (['orders', 'list', '--status', 'lost'], '--status'),
    (['orders', 'advance', '1', 'teleported'], "'status'"),
    (['products', 'import'], "'FILE.csv'"),
    (['products', 'frobnicate'], "'frobnicate'"),
])
def test_a_bad_command_line_is_one_line_naming_the_option_and_exit_status_2(ecommerce, command, named):
    line = one_line_error(ecommerce(*command), 2)
    assert line.startswith('error: ') and named in line


@pytest.fixture
def closed_address():
    """A loopback address where nothing listens."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return f'127.0.0.1:{probe.getsockname()[1]}'


@pytest.mark.parametrize('service, command', [('products', ['products', 'list']),
                                              ('orders', ['orders', 'get', '1'])])
def test_an_unreachable_service_is_one_line_naming_its_address_and_exit_status_3(ecommerce, closed_address, service,
                                                                                 command):
    line = one_line_error(ecommerce(f'--{service}-address', closed_address, *command), 3)
    assert line.startswith(f'error: cannot reach the {service.capitalize()} service at {closed_address} ')


@pytest.fixture
def secured_products(database_url):
    """A Products server that checks tokens signed with SECRET, and an admin token."""
    gate = auth.Gate(auth.TokenVerifier.from_config(secret=SECRET))
    with serving(create_products_server('127.0.0.1:0', database_url('products'), gate=gate)) as (_server, port, _):
        yield f'127.0.0.1:{port}', auth.TokenIssuer.from_config(secret=SECRET).issue([auth.ADMIN])
    products_storage.database.close_all()


def test_the_token_option_and_variable_carry_the_callers_token(secured_products):
    address, admin = secured_products
    command = ['--products-address', address, 'products', 'create', '--name', 'Lamp', '--price', '19.90',
               '--stock', '3', '--category', 'home']
    without = CliRunner().invoke(ecommerce_app, command)
    assert without.exit_code == REFUSED
    assert 'needs a bearer token' in without.stderr and 'ECOMMERCE_TOKEN' in without.stderr
    assert CliRunner().invoke(ecommerce_app, ['--token', admin, *command]).exit_code == 0
    assert CliRunner().invoke(ecommerce_app, command, env={'ECOMMERCE_TOKEN': admin}).exit_code == 0
    listed = CliRunner().invoke(ecommerce_app, ['--products-address', address, '--json', 'products', 'list'])
    assert [product['name'] for product in json.loads(listed.stdout)['products']] == ['Lamp', 'Lamp']
