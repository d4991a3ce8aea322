"""REST through the real Envoy, as README.md shows it: every route, bodies, state afterwards, errors.

The system is shared by the tests of this module, so each test creates what it needs (names carry a
unique tag) and compares before with after instead of assuming empty tables.
"""
import http.client
import json
import struct
import uuid
from urllib.parse import quote

import pytest
from ecommerce.products.v1 import products_pb2, stock_pb2

from tests.e2e.clients import RestClient, grpcurl

pytestmark = pytest.mark.e2e

# Every route must answer the same with a trailing slash, as the seed's Django API did.
SLASHES = pytest.mark.parametrize('slash', ['', '/'], ids=['no-slash', 'trailing-slash'])

PRODUCT_FIELDS = {'id', 'name', 'description', 'price', 'currency_code', 'stock_quantity', 'category', 'created_at',
                  'updated_at'}
ORDER_FIELDS = {'id', 'customer_name', 'customer_email', 'total_amount', 'currency_code', 'status', 'shipping_address',
                'created_at', 'updated_at', 'items'}
ITEM_FIELDS = {'product_id', 'product_name', 'price', 'quantity', 'subtotal', 'currency_code'}
INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION = 3, 5, 9


@pytest.fixture(scope='module')
def api(system):
    return RestClient(system.gateway)


def unique_tag():
    """A word no other test's product name contains, so searches see only this test's products."""
    return 'T' + uuid.uuid4().hex[:10]


def url(path, slash='', query=''):
    """`path` with an optional trailing slash and query parameters added to any it has."""
    if not query:
        return path + slash
    return path + slash + ('&' if '?' in path else '?') + query


def create_product(api, **fields):
    body = {'name': f'Product {unique_tag()}', 'price': '9.99', 'stock_quantity': 10, 'category': 'other', **fields}
    reply = api.post('/api/products', body)
    assert reply.status == 201, reply
    return reply.body


def get_product(api, product_id):
    reply = api.get(f'/api/products/{product_id}')
    assert reply.status == 200, reply
    return reply.body


def stock(api, product_id):
    return get_product(api, product_id)['stock_quantity']


def place_order(api, items, **customer):
    """items: (product_id, quantity) pairs; customer: order_body's email, name or address."""
    reply = api.post('/api/orders', order_body(items, **customer))
    assert reply.status == 201, reply
    return reply.body


def order_body(items, email='buyer@example.com', name='Ada Lovelace', address='12 Analytical Row, London'):
    return {'customer_name': name, 'customer_email': email, 'shipping_address': address,
            'items': [{'product_id': product_id, 'quantity': quantity} for product_id, quantity in items]}


def get_order(api, order_id):
    reply = api.get(f'/api/orders/{order_id}')
    assert reply.status == 200, reply
    return reply.body


def total_size(api, path):
    reply = api.get(url(path, query='page_size=1'))
    assert reply.status == 200, reply
    return reply.body['total_size']


def all_pages(api, path, key, query='', page_size=2):
    """Follow next_page_token to the end; check that total_size holds and nothing repeats."""
    rows, token, totals = [], '', set()
    while True:
        params = '&'.join(part for part in (query, f'page_size={page_size}',
                                            f'page_token={quote(token)}' if token else '') if part)
        reply = api.get(url(path, query=params))
        assert reply.status == 200, reply
        assert len(reply.body[key]) <= page_size
        rows += reply.body[key]
        totals.add(reply.body['total_size'])
        token = reply.body['next_page_token']
        if not token:
            break
    ids = [row['id'] for row in rows]
    assert len(ids) == len(set(ids)), 'a row came twice'
    assert totals == {len(rows)}, f'total_size {totals} but {len(rows)} rows'
    return rows


def without_updated_at(product):
    return {key: value for key, value in product.items() if key != 'updated_at'}


def assert_error(reply, status, code, message, field=None, reason=None):
    """A google.rpc.Status JSON body with this HTTP status, code and message (a substring); with `field`,
    exactly that BadRequest field violation; with `reason`, that ErrorInfo reason."""
    assert reply.status == status, reply
    assert reply.headers.get('content-type', '').startswith('application/json'), reply.headers
    assert reply.body['code'] == code, reply
    assert message in reply.body['message'], reply
    details = reply.body['details']
    violations = [violation['field'] for detail in details if detail['@type'].endswith('google.rpc.BadRequest')
                  for violation in detail['field_violations']]
    if field is not None:
        assert violations == [field], reply
    if reason is not None:
        assert error_info(reply)['reason'] == reason, reply
    return reply.body


def error_info(reply):
    infos = [detail for detail in reply.body['details'] if detail['@type'].endswith('google.rpc.ErrorInfo')]
    assert len(infos) == 1, reply
    return infos[0]


# --- products ------------------------------------------------------------------------------------

@SLASHES
def test_create_product_answers_201_with_the_stored_product_and_its_location(api, slash):
    before = total_size(api, '/api/products')
    reply = api.post(url('/api/products', slash), {'name': 'Desk', 'description': 'oak, 120 cm', 'price': '199.00',
                                                   'stock_quantity': 3, 'category': 'home'})
    assert reply.status == 201, reply
    created = reply.body
    assert created['id'].isdigit() and int(created['id']) > 0  # int64 prints as a JSON string
    assert reply.headers['location'] == f'/api/products/{created["id"]}'
    assert api.get(reply.headers['location']).body == created
    assert {key: created[key] for key in PRODUCT_FIELDS - {'id', 'created_at', 'updated_at'}} == {
        'name': 'Desk', 'description': 'oak, 120 cm', 'price': '199.00', 'currency_code': 'USD', 'stock_quantity': 3,
        'category': 'HOME'}
    assert created['created_at'].endswith('Z') and created['updated_at'].endswith('Z')
    assert get_product(api, created['id']) == created
    assert total_size(api, '/api/products') == before + 1


def test_json_uses_proto_names_prints_zero_values_and_decimal_strings(api):
    reply = api.post('/api/products', {'name': 'Bare', 'price': '19.99', 'category': 'electronics'})
    assert reply.status == 201, reply
    assert reply.headers['content-type'].startswith('application/json')
    assert set(reply.body) == PRODUCT_FIELDS  # snake_case, and nothing left out
    assert reply.body['stock_quantity'] == 0 and reply.body['description'] == ''
    assert reply.body['price'] == '19.99' and reply.body['category'] == 'ELECTRONICS'
    for raw in ('"stock_quantity":0', '"description":""', '"price":"19.99"', '"category":"ELECTRONICS"'):
        assert raw in reply.text.replace(' ', '')
    assert get_product(api, reply.body['id']) == reply.body


@pytest.mark.parametrize('sent, printed', [('19.9', '19.90'), ('7', '7.00'), ('0.01', '0.01'),
                                           ('99999999.99', '99999999.99')])
def test_prices_print_with_two_places(api, sent, printed):
    created = create_product(api, price=sent)
    assert created['price'] == printed
    assert get_product(api, created['id'])['price'] == printed


@pytest.mark.parametrize('category', ['electronics', 'ELECTRONICS', 'eLeCtRoNiCs'])
def test_categories_are_accepted_in_any_case_and_printed_in_upper_case(api, category):
    assert create_product(api, category=category)['category'] == 'ELECTRONICS'


def test_a_name_of_200_characters_is_accepted(api):
    name = 'n' * 200
    assert get_product(api, create_product(api, name=name)['id'])['name'] == name


@SLASHES
def test_get_product_by_id(api, slash):
    created = create_product(api, name='Lamp', description='brass', price='30.00', stock_quantity=4, category='home')
    reply = api.get(url(f'/api/products/{created["id"]}', slash))
    assert reply.status == 200, reply
    assert reply.body == created


@SLASHES
def test_list_pages_through_every_product_exactly_once(api, slash):
    created = [create_product(api)['id'] for _ in range(5)]
    rows = all_pages(api, url('/api/products', slash), 'products', page_size=2)
    ids = [row['id'] for row in rows]
    assert set(created) <= set(ids)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)  # id order
    assert len(ids) == total_size(api, '/api/products')
    assert all(set(row) == PRODUCT_FIELDS for row in rows)


def test_list_page_size_limits_the_page(api):
    for _ in range(3):
        create_product(api)
    reply = api.get('/api/products?page_size=2')
    assert reply.status == 200, reply
    assert len(reply.body['products']) == 2 and reply.body['next_page_token']


def search(api, query, slash=''):
    """(ids in order, total_size) of a search."""
    reply = api.get(url('/api/products/search', slash, query))
    assert reply.status == 200, reply
    return [product['id'] for product in reply.body['products']], reply.body['total_size']


@SLASHES
def test_search_by_name_category_and_price_range(api, slash):
    tag = unique_tag()
    laptop = create_product(api, name=f'{tag} Laptop Pro', price='1299.00', category='electronics')['id']
    bag = create_product(api, name=f'{tag} laptop bag', price='49.99', category='clothing')['id']
    stand = create_product(api, name=f'{tag} LAPTOP stand', price='19.99', category='electronics')['id']
    mouse = create_product(api, name=f'{tag} Mouse', price='19.99', category='electronics')['id']

    assert search(api, f'q={tag}', slash) == ([laptop, bag, stand, mouse], 4)
    # Case-insensitive substring, category in lower case, '+' meaning a space.
    assert search(api, f'q={tag.lower()}+lApToP', slash) == ([laptop, bag, stand], 3)
    assert search(api, f'q={tag}&category=electronics', slash) == ([laptop, stand, mouse], 3)
    assert search(api, f'q={tag}+laptop&category=clothing', slash) == ([bag], 1)
    # Bounds are inclusive.
    assert search(api, f'q={tag}&min_price=19.99&max_price=19.99', slash) == ([stand, mouse], 2)
    assert search(api, f'q={tag}&min_price=20&max_price=1299.00', slash) == ([laptop, bag], 2)
    assert search(api, f'q={tag}&max_price=49.99&category=electronics', slash) == ([stand, mouse], 2)
    assert search(api, f'q={tag}&min_price=1299.01', slash) == ([], 0)


def test_search_by_stock_below_through_rest(api):
    tag = unique_tag()
    empty = create_product(api, name=f'{tag} sold out', stock_quantity=0)['id']
    few = create_product(api, name=f'{tag} nearly gone', stock_quantity=3)['id']
    create_product(api, name=f'{tag} plenty', stock_quantity=50)
    assert search(api, f'q={tag}&stock_below=4') == ([empty, few], 2)
    assert search(api, f'q={tag}&stock_below=1') == ([empty], 1)
    reply = api.get(url('/api/products/search', '', f'q={tag}&stock_below=-2'))
    assert reply.status == 400 and 'stock_below' in reply.body['message']


def test_a_lower_price_bound_of_zero_is_a_bound_not_an_error(api):
    """The proto: min_price is the "lowest price, inclusive". A price must be above zero, but a
    bound of 0 (the left end of a price slider) is a natural thing to send and excludes nothing."""
    tag = unique_tag()
    cheapest = create_product(api, name=f'{tag} penny sweet', price='0.01')['id']
    assert search(api, f'q={tag}&min_price=0') == ([cheapest], 1)
    assert search(api, f'q={tag}&min_price=0.00&max_price=0.01') == ([cheapest], 1)


def test_search_plus_means_space_and_encoded_plus_means_plus(api):
    tag = unique_tag()
    spaced = create_product(api, name=f'{tag} red shoe')['id']
    create_product(api, name=f'{tag} red-shoe')
    plus = create_product(api, name=f'{tag} red+shoe')['id']
    assert search(api, f'q={tag}+red+shoe') == ([spaced], 1)  # q=a+b means "a b"
    assert search(api, f'q={tag}%20red%20shoe') == ([spaced], 1)
    assert search(api, f'q={tag}+red%2Bshoe') == ([plus], 1)


def test_search_treats_like_wildcards_literally(api):
    tag = unique_tag()
    percent = create_product(api, name=f'{tag} 100% cotton')['id']
    underscore = create_product(api, name=f'{tag} snake_case mug')['id']
    create_product(api, name=f'{tag} 100x cotton')
    create_product(api, name=f'{tag} snakeXcase mug')
    assert search(api, f'q={tag}+100%25') == ([percent], 1)
    assert search(api, f'q={tag}+snake_case') == ([underscore], 1)


def test_search_is_case_insensitive_beyond_ascii(api):
    """README: "case-insensitive name substring". SQLite's LIKE folds ASCII letters only."""
    tag = unique_tag()
    eclair = create_product(api, name=f'{tag} Éclair tin')['id']
    assert search(api, f'q={tag}+%C3%89CLAIR') == ([eclair], 1)  # same case: found
    assert search(api, f'q={tag}+%C3%A9clair') == ([eclair], 1)  # 'é' for 'É'


def test_a_renamed_product_is_found_by_its_new_name_only(api):
    tag = unique_tag()
    product_id = create_product(api, name=f'{tag} Straße sign')['id']
    assert search(api, f'q={tag}+STRASSE') == ([product_id], 1)  # full case folding: 'ß' is 'ss'
    assert api.patch(f'/api/products/{product_id}', {'name': f'{tag} Avenue sign'}).status == 200
    assert search(api, f'q={tag}+strasse') == ([], 0)
    assert search(api, f'q={tag}+aVeNuE') == ([product_id], 1)
    assert api.put(f'/api/products/{product_id}', {'name': f'{tag} Boulevard sign', 'price': '1.00',
                                                   'category': 'other'}).status == 200
    assert search(api, f'q={tag}+avenue') == ([], 0)
    assert search(api, f'q={tag}+BOULEVARD') == ([product_id], 1)


def test_search_pages_keep_their_filters(api):
    tag = unique_tag()
    created = [create_product(api, name=f'{tag} page item', category='books')['id'] for _ in range(5)]
    create_product(api, name=f'{tag} page item', category='toys')
    rows = all_pages(api, '/api/products/search', 'products', query=f'q={tag}&category=books', page_size=2)
    assert [row['id'] for row in rows] == created
    first = api.get(f'/api/products/search?q={tag}&category=books&page_size=2').body
    other_filters = api.get(f'/api/products/search?q={tag}&category=toys&page_token={quote(first["next_page_token"])}')
    assert_error(other_filters, 400, INVALID_ARGUMENT, 'page_token: belongs to a listing with other filters',
                 field='page_token')


@SLASHES
def test_put_replaces_the_whole_product(api, slash):
    before = create_product(api, name='Chair', description='wooden', price='50.00', stock_quantity=7, category='home')
    reply = api.put(url(f'/api/products/{before["id"]}', slash),
                    {'name': 'Oak Chair', 'price': '60.00', 'category': 'HOME'})
    assert reply.status == 200, reply
    # Fields left out go back to their defaults.
    assert without_updated_at(reply.body) == {**without_updated_at(before), 'name': 'Oak Chair', 'price': '60.00',
                                              'description': '', 'stock_quantity': 0}
    assert get_product(api, before['id']) == reply.body


def test_put_is_a_full_replacement_whatever_update_mask_the_client_sends(api):
    before = create_product(api, name='Stool', description='three legs', price='20.00', stock_quantity=7)
    reply = api.put(f'/api/products/{before["id"]}?update_mask=price',
                    {'name': 'Stool', 'price': '21.00', 'category': 'other'})
    assert reply.status == 200, reply
    assert (reply.body['price'], reply.body['description'], reply.body['stock_quantity']) == ('21.00', '', 0)
    # And a partial body under a partial mask is still refused: PUT needs every required field.
    refused = api.put(f'/api/products/{before["id"]}?update_mask=price', {'price': '22.00'})
    assert_error(refused, 400, INVALID_ARGUMENT, 'name: is required', field='name')
    assert get_product(api, before['id']) == reply.body


@SLASHES
@pytest.mark.parametrize('missing', ['name', 'price', 'category'])
def test_put_without_a_required_field_is_refused_and_changes_nothing(api, slash, missing):
    before = create_product(api, name='Shelf', description='pine', price='80.00', stock_quantity=2)
    body = {'name': 'New Shelf', 'description': 'new', 'price': '90.00', 'stock_quantity': 5, 'category': 'home'}
    del body[missing]
    reply = api.put(url(f'/api/products/{before["id"]}', slash), body)
    assert_error(reply, 400, INVALID_ARGUMENT, f'{missing}: is required', field=missing)
    assert get_product(api, before['id']) == before


@SLASHES
def test_patch_with_update_mask_changes_only_the_named_fields(api, slash):
    before = create_product(api, name='Kettle', description='steel', price='30.00', stock_quantity=4, category='home')
    reply = api.patch(url(f'/api/products/{before["id"]}', slash, 'update_mask=price'),
                      {'price': '25.50', 'name': 'Ignored', 'stock_quantity': 99})
    assert reply.status == 200, reply
    assert without_updated_at(reply.body) == {**without_updated_at(before), 'price': '25.50'}
    assert get_product(api, before['id']) == reply.body


def test_patch_mask_clears_a_named_field_left_out_of_the_body(api):
    before = create_product(api, name='Teapot', description='blue glaze', stock_quantity=4)
    reply = api.patch(f'/api/products/{before["id"]}?update_mask=name,description', {'name': 'Red Teapot'})
    assert reply.status == 200, reply
    assert without_updated_at(reply.body) == {**without_updated_at(before), 'name': 'Red Teapot', 'description': ''}
    assert get_product(api, before['id']) == reply.body


@SLASHES
def test_patch_without_mask_changes_the_fields_in_the_body(api, slash):
    before = create_product(api, name='Rug', description='wool', price='120.00', stock_quantity=4, category='home')
    reply = api.patch(url(f'/api/products/{before["id"]}', slash), {'stock_quantity': 10})
    assert reply.status == 200, reply
    assert without_updated_at(reply.body) == {**without_updated_at(before), 'stock_quantity': 10}
    # A zero value present in the body is a change too (the fields are proto3 `optional`).
    reply = api.patch(url(f'/api/products/{before["id"]}', slash), {'stock_quantity': 0, 'description': ''})
    assert reply.status == 200, reply
    assert without_updated_at(reply.body) == {**without_updated_at(before), 'stock_quantity': 0, 'description': ''}
    assert get_product(api, before['id']) == reply.body


def test_patch_with_only_a_misspelled_field_changes_nothing_and_says_so(api):
    # Envoy drops unknown JSON fields without a word; the empty update must not pass for a success.
    before = create_product(api, stock_quantity=4)
    reply = api.patch(f'/api/products/{before["id"]}', {'stok_quantity': 3})
    assert_error(reply, 400, INVALID_ARGUMENT, 'product: has no fields to update', field='product')
    assert get_product(api, before['id']) == before


def test_patch_with_an_id_in_the_body_other_than_the_paths_is_refused(api):
    first, second = create_product(api, stock_quantity=1), create_product(api, stock_quantity=2)
    reply = api.patch(f'/api/products/{first["id"]}', {'id': second['id'], 'stock_quantity': 50})
    assert_error(reply, 400, INVALID_ARGUMENT, 'conflicting')
    assert get_product(api, first['id']) == first and get_product(api, second['id']) == second


@SLASHES
def test_delete_product_then_get_is_404(api, slash):
    created = create_product(api)
    before = total_size(api, '/api/products')
    reply = api.delete(url(f'/api/products/{created["id"]}', slash))
    assert (reply.status, reply.text) == (204, ''), reply
    assert 'content-type' not in reply.headers
    assert_error(api.get(f'/api/products/{created["id"]}'), 404, NOT_FOUND, f'product {created["id"]} not found',
                 reason='PRODUCT_NOT_FOUND')
    assert total_size(api, '/api/products') == before - 1
    assert_error(api.delete(url(f'/api/products/{created["id"]}', slash)), 404, NOT_FOUND,
                 f'product {created["id"]} not found')


# --- orders --------------------------------------------------------------------------------------

@SLASHES
def test_create_order_computes_totals_snapshots_products_and_takes_stock(api, slash):
    pen = create_product(api, name='Pen', price='0.10', stock_quantity=5)
    ink = create_product(api, name='Ink', price='19.99', stock_quantity=4)
    tag = unique_tag()
    reply = api.post(url('/api/orders', slash), order_body([(pen['id'], 3), (ink['id'], 3)],
                                                           email=f'Ada.{tag}@Example.COM'))
    assert reply.status == 201, reply
    order = reply.body
    assert reply.headers['location'] == f'/api/orders/{order["id"]}'
    assert set(order) == ORDER_FIELDS and all(set(item) == ITEM_FIELDS for item in order['items'])
    assert order['id'].isdigit()
    assert (order['customer_name'], order['customer_email'], order['shipping_address'], order['status']) == (
        'Ada Lovelace', f'ada.{tag.lower()}@example.com', '12 Analytical Row, London', 'PENDING')
    # Exact decimals: in binary floats 3 * 0.10 is 0.30000000000000004.
    assert order['items'] == [
        {'product_id': pen['id'], 'product_name': 'Pen', 'price': '0.10', 'quantity': 3, 'subtotal': '0.30',
         'currency_code': 'USD'},
        {'product_id': ink['id'], 'product_name': 'Ink', 'price': '19.99', 'quantity': 3, 'subtotal': '59.97',
         'currency_code': 'USD'}]
    assert order['total_amount'] == '60.27'
    assert (stock(api, pen['id']), stock(api, ink['id'])) == (2, 1)
    assert get_order(api, order['id']) == order


def test_a_retried_post_with_its_request_id_returns_the_same_order_once(api):
    product = create_product(api, stock_quantity=5)
    body = {**order_body([(product['id'], 2)]), 'request_id': str(uuid.uuid4())}
    first = api.post('/api/orders', body)
    again = api.post('/api/orders', body)
    assert (first.status, again.status) == (201, 201), (first, again)
    assert again.body == first.body
    assert stock(api, product['id']) == 3
    other = api.post('/api/orders', {**body, 'items': [{'product_id': product['id'], 'quantity': 1}]})
    assert_error(other, 400, INVALID_ARGUMENT, 'was already used for a different order', field='request_id',
                 reason='REQUEST_ID_REUSED')
    assert stock(api, product['id']) == 3


def test_an_order_keeps_the_name_and_price_of_its_products_after_they_change(api):
    kept = create_product(api, name='Globe', price='45.00', stock_quantity=3)
    gone = create_product(api, name='Atlas', price='12.50', stock_quantity=3)
    order = place_order(api, [(kept['id'], 1), (gone['id'], 2)])
    assert api.put(f'/api/products/{kept["id"]}', {'name': 'Big Globe', 'price': '99.00', 'category': 'other'}
                   ).status == 200
    assert api.delete(f'/api/products/{gone["id"]}').status == 204
    assert get_order(api, order['id']) == order
    assert order['total_amount'] == '70.00'


@SLASHES
def test_get_order_by_id(api, slash):
    product = create_product(api)
    order = place_order(api, [(product['id'], 1)])
    reply = api.get(url(f'/api/orders/{order["id"]}', slash))
    assert reply.status == 200, reply
    assert reply.body == order


@SLASHES
def test_list_orders_of_a_status_pages_newest_first(api, slash):
    product = create_product(api, stock_quantity=10)
    placed = [place_order(api, [(product['id'], 1)])['id'] for _ in range(4)]
    moved = placed[0]
    assert api.patch(f'/api/orders/{moved}/status', {'status': 'processing'}).status == 200

    pending = all_pages(api, url('/api/orders', slash), 'orders', query='status=pending', page_size=2)
    pending_ids = [order['id'] for order in pending]
    assert {order['status'] for order in pending} == {'PENDING'}
    assert set(placed[1:]) <= set(pending_ids) and moved not in pending_ids
    assert [int(i) for i in pending_ids] == sorted((int(i) for i in pending_ids), reverse=True)  # newest first
    assert len(pending_ids) == total_size(api, '/api/orders?status=PENDING')

    processing = all_pages(api, url('/api/orders', slash), 'orders', query='status=processing', page_size=2)
    assert moved in [order['id'] for order in processing]
    assert {order['status'] for order in processing} == {'PROCESSING'}

    everything = all_pages(api, url('/api/orders', slash), 'orders', page_size=3)
    assert set(placed) <= {order['id'] for order in everything}


@SLASHES
def test_status_moves_forward_one_step_at_a_time(api, slash):
    product = create_product(api, stock_quantity=5)
    order = place_order(api, [(product['id'], 2)])
    for status in ('processing', 'shipped', 'delivered'):
        reply = api.patch(url(f'/api/orders/{order["id"]}/status', slash), {'status': status})
        assert reply.status == 200, reply
        assert reply.body['status'] == status.upper()
        assert get_order(api, order['id']) == reply.body
        assert reply.body['items'] == order['items']
    assert stock(api, product['id']) == 3  # a delivered order keeps its stock


@SLASHES
@pytest.mark.parametrize('target, message', [
    ('pending', 'cannot move an order from processing to pending: the next status is shipped'),
    ('delivered', 'cannot move an order from processing to delivered: the next status is shipped'),
])
def test_status_backwards_or_skipping_a_step_is_refused(api, slash, target, message):
    product = create_product(api, stock_quantity=5)
    order = place_order(api, [(product['id'], 2)])
    processing = api.patch(f'/api/orders/{order["id"]}/status', {'status': 'processing'}).body
    reply = api.patch(url(f'/api/orders/{order["id"]}/status', slash), {'status': target})
    assert_error(reply, 400, FAILED_PRECONDITION, message, reason='INVALID_STATUS_TRANSITION')
    assert error_info(reply)['metadata'] == {'current': 'processing', 'requested': target}
    assert get_order(api, order['id']) == processing
    assert stock(api, product['id']) == 3


@SLASHES
def test_cancel_gives_the_stock_back_exactly_once(api, slash):
    first = create_product(api, stock_quantity=5)
    second = create_product(api, stock_quantity=7)
    order = place_order(api, [(first['id'], 2), (second['id'], 7)])
    assert (stock(api, first['id']), stock(api, second['id'])) == (3, 0)

    reply = api.post(url(f'/api/orders/{order["id"]}/cancel', slash))
    assert reply.status == 200, reply
    assert reply.body['status'] == 'CANCELLED' and reply.body['items'] == order['items']
    assert (stock(api, first['id']), stock(api, second['id'])) == (5, 7)

    again = api.post(url(f'/api/orders/{order["id"]}/cancel', slash))
    assert_error(again, 400, FAILED_PRECONDITION, 'a cancelled order cannot be cancelled',
                 reason='INVALID_STATUS_TRANSITION')
    by_status = api.patch(f'/api/orders/{order["id"]}/status', {'status': 'cancelled'})
    assert_error(by_status, 400, FAILED_PRECONDITION, 'cannot be cancelled')
    onwards = api.patch(f'/api/orders/{order["id"]}/status', {'status': 'processing'})
    assert_error(onwards, 400, FAILED_PRECONDITION, 'cancelled is final')
    assert (stock(api, first['id']), stock(api, second['id'])) == (5, 7)
    assert get_order(api, order['id'])['status'] == 'CANCELLED'


@SLASHES
@pytest.mark.parametrize('steps_before', [[], ['processing']], ids=['from-pending', 'from-processing'])
def test_status_cancelled_gives_the_stock_back_too(api, slash, steps_before):
    product = create_product(api, stock_quantity=6)
    order = place_order(api, [(product['id'], 4)])
    for status in steps_before:
        assert api.patch(f'/api/orders/{order["id"]}/status', {'status': status}).status == 200
    reply = api.patch(url(f'/api/orders/{order["id"]}/status', slash), {'status': 'cancelled'})
    assert reply.status == 200, reply
    assert reply.body['status'] == 'CANCELLED'
    assert stock(api, product['id']) == 6
    assert_error(api.post(f'/api/orders/{order["id"]}/cancel'), 400, FAILED_PRECONDITION, 'cannot be cancelled')
    assert stock(api, product['id']) == 6


def test_a_shipped_order_cannot_be_cancelled_and_keeps_its_stock(api):
    product = create_product(api, stock_quantity=6)
    order = place_order(api, [(product['id'], 4)])
    for status in ('processing', 'shipped'):
        assert api.patch(f'/api/orders/{order["id"]}/status', {'status': status}).status == 200
    reply = api.post(f'/api/orders/{order["id"]}/cancel')
    assert_error(reply, 400, FAILED_PRECONDITION, 'a shipped order cannot be cancelled')
    assert get_order(api, order['id'])['status'] == 'SHIPPED'
    assert stock(api, product['id']) == 2


def test_cancelling_an_order_whose_product_was_deleted_gives_back_the_rest(api):
    kept = create_product(api, stock_quantity=5)
    gone = create_product(api, stock_quantity=5)
    order = place_order(api, [(kept['id'], 2), (gone['id'], 1)])
    assert api.delete(f'/api/products/{gone["id"]}').status == 204
    reply = api.post(f'/api/orders/{order["id"]}/cancel')
    assert reply.status == 200, reply
    assert reply.body['status'] == 'CANCELLED' and reply.body['items'] == order['items']
    assert stock(api, kept['id']) == 5
    assert api.get(f'/api/products/{gone["id"]}').status == 404  # not brought back by the returned stock


@pytest.mark.parametrize('spell', [
    lambda local: f'{local}@example.com',
    lambda local: f'{local}%40example.com',
    lambda local: f'{local.upper()}@EXAMPLE.COM',
    lambda local: f'{local}@example.com/',
    lambda local: f'{local.upper()}%40Example.Com/',
], ids=['raw-at', 'percent-40', 'upper-case', 'trailing-slash', 'percent-40-mixed-case-trailing-slash'])
def test_orders_of_a_customer(api, spell):
    local = f'ada.{unique_tag().lower()}'
    product = create_product(api, stock_quantity=5)
    first = place_order(api, [(product['id'], 1)], email=f'{local.title()}@Example.com')
    place_order(api, [(product['id'], 1)], email=f'someone.else.{local}@example.com')
    second = place_order(api, [(product['id'], 1)], email=f'{local}@example.com')
    reply = api.get('/api/orders/customer/' + spell(local))
    assert reply.status == 200, reply
    assert [order['id'] for order in reply.body['orders']] == [second['id'], first['id']]  # newest first
    assert reply.body['total_size'] == 2 and reply.body['next_page_token'] == ''
    assert reply.body['orders'] == [second, first]


@pytest.mark.parametrize('written', ['+', '%2B'])
def test_a_plus_in_a_customer_email_path_stays_a_plus(api, written):
    local = f'ada+{unique_tag().lower()}'
    product = create_product(api)
    order = place_order(api, [(product['id'], 1)], email=f'{local}@example.com')
    reply = api.get(f'/api/orders/customer/{local.replace("+", written)}@example.com')
    assert reply.status == 200, reply
    assert [found['id'] for found in reply.body['orders']] == [order['id']]


def test_orders_of_a_customer_page(api):
    local = f'pager.{unique_tag().lower()}'
    product = create_product(api, stock_quantity=10)
    placed = [place_order(api, [(product['id'], 1)], email=f'{local}@example.com')['id'] for _ in range(5)]
    rows = all_pages(api, f'/api/orders/customer/{local}@example.com', 'orders', page_size=2)
    assert [row['id'] for row in rows] == placed[::-1]


# --- errors: status, google.rpc.Status body, and nothing changed ---------------------------------

VALID_PRODUCT = {'name': 'Valid', 'description': '', 'price': '5.00', 'stock_quantity': 1, 'category': 'toys'}
LEFT_OUT = object()


@pytest.mark.parametrize('change, field, message', [
    ({'price': '-5'}, 'price', 'price: must be greater than zero'),
    ({'price': '0.00'}, 'price', 'price: must be greater than zero'),
    ({'price': '1e309'}, 'price', "price: '1e309' is not a price"),
    ({'price': 'NaN'}, 'price', "price: 'NaN' is not a price"),
    ({'price': 'Infinity'}, 'price', "price: 'Infinity' is not a price"),
    ({'price': '1.999'}, 'price', "price: '1.999' is not a price"),
    ({'price': '123456789.00'}, 'price', "price: '123456789.00' is not a price"),
    ({'price': ''}, 'price', "price: '' is not a price"),
    ({'price': LEFT_OUT}, 'price', 'price: is required'),
    ({'name': LEFT_OUT}, 'name', 'name: is required'),
    ({'name': '   '}, 'name', 'name: is required'),
    ({'name': 'n' * 201}, 'name', 'name: must be at most 200 characters, not 201'),
    ({'description': 'd' * 5001}, 'description', 'description: must be at most 5000 characters'),
    ({'category': LEFT_OUT}, 'category', 'category: is required'),
    ({'stock_quantity': -1}, 'stock_quantity', 'stock_quantity: must be between 0 and 1000000000, not -1'),
], ids=['negative-price', 'zero-price', 'price-1e309', 'price-NaN', 'price-Infinity', 'price-3-decimals',
        'price-9-digits', 'price-empty', 'price-missing', 'name-missing', 'name-blank', 'name-201-chars',
        'description-5001-chars', 'category-missing', 'negative-stock'])
def test_create_product_with_a_bad_field_is_refused_by_the_service(api, change, field, message):
    body = {key: value for key, value in {**VALID_PRODUCT, **change}.items() if value is not LEFT_OUT}
    before = total_size(api, '/api/products')
    reply = api.post('/api/products', body)
    assert_error(reply, 400, INVALID_ARGUMENT, message, field=field, reason='INVALID_ARGUMENT')
    assert reply.body['message'].startswith(f'{field}: ')
    assert total_size(api, '/api/products') == before


@pytest.mark.parametrize('change, words', [
    ({'category': 'gadgets'}, ['product.category', 'gadgets']),
    ({'price': 19.99}, ['product.price']),  # prices are strings, never JSON numbers
    ({'stock_quantity': 'many'}, ['product.stock_quantity', 'many']),
    ({'stock_quantity': 2 ** 31}, ['product.stock_quantity']),
], ids=['unknown-category', 'price-as-number', 'stock-not-a-number', 'stock-over-int32'])
def test_create_product_with_a_value_of_the_wrong_type_is_refused_by_envoy(api, change, words):
    before = total_size(api, '/api/products')
    reply = api.post('/api/products', {**VALID_PRODUCT, **change})
    body = assert_error(reply, 400, INVALID_ARGUMENT, words[0])
    assert all(word in body['message'] for word in words), body
    assert body['details'] == []
    assert total_size(api, '/api/products') == before


def test_update_with_a_bad_value_changes_nothing(api):
    before = create_product(api, price='5.00', stock_quantity=3)
    for method, body, field in (('patch', {'price': '-1.00'}, 'price'),
                                ('patch', {'stock_quantity': -3}, 'stock_quantity'),
                                ('put', {**VALID_PRODUCT, 'name': 'x' * 201}, 'name')):
        reply = getattr(api, method)(f'/api/products/{before["id"]}', body)
        assert_error(reply, 400, INVALID_ARGUMENT, f'{field}: ', field=field)
    reply = api.patch(f'/api/products/{before["id"]}?update_mask=id', {'name': 'x'})
    assert_error(reply, 400, INVALID_ARGUMENT, "update_mask: unknown or read-only field 'id'", field='update_mask')
    assert get_product(api, before['id']) == before


@pytest.mark.parametrize('items, field, message', [
    (lambda p: [], 'items', 'items: must hold at least one item'),
    (lambda p: [(p, 0)], 'items[0].quantity', 'items[0].quantity: must be between 1 and 1000, not 0'),
    (lambda p: [(p, -1)], 'items[0].quantity', 'items[0].quantity: must be between 1 and 1000, not -1'),
    (lambda p: [(p, 1001)], 'items[0].quantity', 'items[0].quantity: must be between 1 and 1000, not 1001'),
    (lambda p: [(p, 1), (p, 2)], 'items[1].product_id', 'is listed twice'),
    (lambda p: [(p, 1), (0, 2)], 'items[1].product_id', 'items[1].product_id: must be a product id'),
], ids=['no-items', 'quantity-0', 'quantity-negative', 'quantity-1001', 'same-product-twice', 'product-id-0'])
def test_create_order_with_bad_items_is_refused_and_takes_nothing(api, items, field, message):
    product = create_product(api, stock_quantity=5)
    before = total_size(api, '/api/orders')
    reply = api.post('/api/orders', order_body(items(product['id'])))
    assert_error(reply, 400, INVALID_ARGUMENT, message, field=field)
    assert stock(api, product['id']) == 5
    assert total_size(api, '/api/orders') == before


@pytest.mark.parametrize('change, field, message', [
    ({'customer_email': 'not-an-email'}, 'customer_email', 'customer_email: is not a valid email address'),
    ({'customer_email': 'ada@'}, 'customer_email', 'customer_email: is not a valid email address'),
    ({'customer_email': ''}, 'customer_email', 'customer_email: is required'),
    ({'customer_name': ' '}, 'customer_name', 'customer_name: is required'),
    ({'customer_name': 'n' * 201}, 'customer_name', 'customer_name: must be at most 200 characters'),
    ({'shipping_address': ''}, 'shipping_address', 'shipping_address: is required'),
], ids=['email-no-at', 'email-no-domain', 'email-empty', 'name-blank', 'name-201-chars', 'address-empty'])
def test_create_order_with_bad_customer_fields_is_refused_and_takes_nothing(api, change, field, message):
    product = create_product(api, stock_quantity=5)
    before = total_size(api, '/api/orders')
    reply = api.post('/api/orders', {**order_body([(product['id'], 1)]), **change})
    assert_error(reply, 400, INVALID_ARGUMENT, message, field=field)
    assert stock(api, product['id']) == 5
    assert total_size(api, '/api/orders') == before


def test_order_for_an_unknown_product_names_the_item_and_takes_nothing(api):
    known = create_product(api, stock_quantity=5)
    unknown = create_product(api)['id']
    assert api.delete(f'/api/products/{unknown}').status == 204
    before = total_size(api, '/api/orders')
    reply = api.post('/api/orders', order_body([(unknown, 1), (known['id'], 2)]))
    assert_error(reply, 400, INVALID_ARGUMENT, f'items[0].product_id: product {unknown} does not exist',
                 field='items[0].product_id', reason='PRODUCT_NOT_FOUND')
    assert error_info(reply)['metadata'] == {'product_id': unknown}
    assert stock(api, known['id']) == 5
    assert total_size(api, '/api/orders') == before


def test_order_beyond_the_stock_names_the_product_and_takes_nothing(api):
    plenty = create_product(api, name='Plenty', stock_quantity=5)
    scarce = create_product(api, name=f'Scarce Éclair {unique_tag()}', stock_quantity=2)  # UTF-8 in details
    email = f'short.{unique_tag().lower()}@example.com'
    before = total_size(api, '/api/orders')
    reply = api.post('/api/orders', order_body([(plenty['id'], 1), (scarce['id'], 3)], email=email))
    assert_error(reply, 400, FAILED_PRECONDITION,
                 f'not enough stock for product {scarce["id"]} ({scarce["name"]}): 3 requested, 2 available',
                 reason='INSUFFICIENT_STOCK')
    assert error_info(reply)['metadata'] == {'product_id': scarce['id'], 'product_name': scarce['name'],
                                             'requested': '3', 'available': '2'}
    # All or nothing: the other item's stock was not taken either, and no order exists.
    assert (stock(api, plenty['id']), stock(api, scarce['id'])) == (5, 2)
    assert total_size(api, '/api/orders') == before
    assert api.get(f'/api/orders/customer/{email}').body['total_size'] == 0
    # Exactly the stock there is works.
    assert place_order(api, [(plenty['id'], 1), (scarce['id'], 2)], email=email)['status'] == 'PENDING'
    assert (stock(api, plenty['id']), stock(api, scarce['id'])) == (4, 0)


UNKNOWN_ORDER = 9_000_000_000_000  # int64, far beyond any id this test run makes


@pytest.fixture
def deleted_product_id(api):
    product_id = create_product(api)['id']
    assert api.delete(f'/api/products/{product_id}').status == 204
    return product_id


@pytest.mark.parametrize('method, path, body, message', [
    ('get', '/api/products/{product}', None, 'product {product} not found'),
    ('put', '/api/products/{product}', VALID_PRODUCT, 'product {product} not found'),
    ('patch', '/api/products/{product}', {'stock_quantity': 1}, 'product {product} not found'),
    ('delete', '/api/products/{product}', None, 'product {product} not found'),
    ('get', '/api/orders/{order}', None, 'order {order} not found'),
    ('patch', '/api/orders/{order}/status', {'status': 'processing'}, 'order {order} not found'),
    ('post', '/api/orders/{order}/cancel', None, 'order {order} not found'),
])
def test_unknown_ids_are_404(api, deleted_product_id, method, path, body, message):
    before = total_size(api, '/api/products')
    ids = {'product': deleted_product_id, 'order': UNKNOWN_ORDER}
    reply = getattr(api, method)(path.format(**ids), **({'body': body} if body is not None else {}))
    assert_error(reply, 404, NOT_FOUND, message.format(**ids))
    assert total_size(api, '/api/products') == before


@pytest.mark.parametrize('method, path', [
    ('post', '/api/products'), ('post', '/api/orders'), ('patch', '/api/products/{product}'),
    ('put', '/api/products/{product}'), ('patch', '/api/orders/{order}/status'),
])
@pytest.mark.parametrize('raw', [b'{"name": "X",', b'{', b'not json', b'[]'],
                         ids=['cut-short', 'brace', 'text', 'array'])
def test_malformed_json_is_400_and_changes_nothing(api, method, path, raw):
    product = create_product(api, stock_quantity=5)
    order = place_order(api, [(product['id'], 1)])
    products_before, orders_before = total_size(api, '/api/products'), total_size(api, '/api/orders')
    reply = getattr(api, method)(path.format(product=product['id'], order=order['id']), raw=raw)
    assert_error(reply, 400, INVALID_ARGUMENT, '')
    assert reply.body['details'] == []
    assert get_product(api, product['id']) == {**product, 'stock_quantity': 4}
    assert get_order(api, order['id']) == order
    assert (total_size(api, '/api/products'), total_size(api, '/api/orders')) == (products_before, orders_before)


@pytest.mark.parametrize('method, path, body', [
    ('get', '/api/products?colour=red', None),
    ('get', '/api/products/search?q=lamp&colour=red', None),
    ('get', '/api/orders?state=pending', None),
    ('get', '/api/orders/customer/ada@example.com?colour=red', None),
    ('post', '/api/products?colour=red', VALID_PRODUCT),
], ids=['list-products', 'search', 'list-orders', 'customer', 'create-product'])
def test_an_unknown_query_parameter_is_400_and_changes_nothing(api, method, path, body):
    before = total_size(api, '/api/products')
    reply = getattr(api, method)(path, **({'body': body} if body is not None else {}))
    unknown = path.split('?')[1].split('&')[-1].split('=')[0]
    assert_error(reply, 400, INVALID_ARGUMENT, f'"{unknown}"')
    assert total_size(api, '/api/products') == before


@pytest.mark.parametrize('method, path', [
    ('get', '/'), ('get', '/api'), ('get', '/api/nothing'), ('get', '/api/products/1/extra'),
    ('post', '/api/orders/1/refund'), ('post', '/api/products/1'), ('delete', '/api/orders/1'),
    ('put', '/api/orders/1'), ('get', '/api/products/1/cancel'),
], ids=['root', 'api', 'unknown', 'extra-segment', 'unknown-verb', 'post-on-product', 'delete-order',
        'put-order', 'cancel-product'])
def test_unknown_routes_are_404(api, method, path):
    reply = getattr(api, method)(path)
    assert_error(reply, 404, NOT_FOUND, f'Could not resolve {path} to a method')


@pytest.mark.parametrize('method, path, message', [
    ('get', '/api/products/abc', 'id: invalid value "abc"'),
    ('delete', '/api/products/abc', 'id: invalid value "abc"'),
    ('get', '/api/orders/abc', 'id: invalid value "abc"'),
    ('post', '/api/orders/abc/cancel', 'id: invalid value "abc"'),
    ('get', '/api/products/99999999999999999999', 'id: invalid value "99999999999999999999"'),
    ('get', '/api/products/0', 'id: must be a positive product id'),
    ('get', '/api/orders/-1', 'id: must be a positive order id'),
    ('get', '/api/products?page_size=-1', 'page_size: must not be negative'),
    ('get', '/api/products?page_size=ten', 'page_size: invalid value "ten"'),
    ('get', '/api/products?page_token=forged', 'page_token: is not a token returned by this API'),
    ('get', '/api/orders?status=lost', 'status: invalid value "lost"'),
    ('get', '/api/products/search?min_price=5&max_price=1', 'min_price: 5.00 is above max_price 1.00'),
    ('get', '/api/products/search?max_price=cheap', "max_price: 'cheap' is not a price"),
    ('get', '/api/orders/customer/not-an-email', 'email: is not a valid email address'),
])
def test_bad_path_or_query_values_are_400(api, method, path, message):
    reply = getattr(api, method)(path)
    assert_error(reply, 400, INVALID_ARGUMENT, message)


def test_an_order_status_that_is_not_a_status_is_400(api):
    product = create_product(api)
    order = place_order(api, [(product['id'], 1)])
    assert_error(api.patch(f'/api/orders/{order["id"]}/status', {'status': 'lost'}), 400, INVALID_ARGUMENT,
                 'status: invalid value "lost"')
    assert_error(api.patch(f'/api/orders/{order["id"]}/status', {}), 400, INVALID_ARGUMENT,
                 'status: must be one of pending, processing, shipped, delivered, cancelled', field='status')
    assert get_order(api, order['id']) == order


# --- the services-only StockService is not reachable through Envoy -------------------------------

STOCK_SERVICE = stock_pb2.DESCRIPTOR.services_by_name['StockService'].full_name

def test_stock_rpcs_are_unimplemented_through_envoy_but_served_on_products_own_port(api, system):
    product = create_product(api, stock_quantity=5)
    reserve = {'reservation_id': f'outsider-{unique_tag()}', 'lines': [{'product_id': product['id'], 'quantity': 2}]}
    for method, data in (('ReserveStock', reserve), ('ReleaseStock', {'reservation_id': 'outsider'})):
        result = grpcurl(system.gateway, f'{STOCK_SERVICE}/{method}', data=data, protoset=True)
        assert result.returncode != 0, result.stdout
        assert 'Code: Unimplemented' in result.stderr, result.stderr
    assert stock(api, product['id']) == 5
    # The same command on Products' own port is served, so the refusal above is Envoy's doing.
    inside = {**reserve, 'reservation_id': f'insider-{unique_tag()}'}
    result = grpcurl(system.products, f'{STOCK_SERVICE}/ReserveStock', data=inside, protoset=True)
    assert result.returncode == 0, result.stderr
    assert stock(api, product['id']) == 3
    result = grpcurl(system.products, f'{STOCK_SERVICE}/ReleaseStock',
                     data={'reservation_id': inside['reservation_id']}, protoset=True)
    assert result.returncode == 0, result.stderr
    assert stock(api, product['id']) == 5


def grpc_over_http1(address, path, message):
    """One gRPC call sent over HTTP/1.1 (Envoy forwards it upstream over HTTP/2): (headers, body bytes)."""
    payload = message.SerializeToString()
    connection = http.client.HTTPConnection(address, timeout=15)
    try:
        connection.request('POST', path, body=b'\0' + struct.pack('>I', len(payload)) + payload,
                           headers={'content-type': 'application/grpc', 'te': 'trailers'})
        response = connection.getresponse()
        return {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_grpc_over_http1_reaches_products_through_envoy(api, system):
    """The channel the next test relies on: an allowed method answers with the product."""
    product = create_product(api, name='Reachable')
    headers, body = grpc_over_http1(system.gateway, '/ecommerce.products.v1.ProductService/GetProduct',
                                    products_pb2.GetProductRequest(id=int(product['id'])))
    assert headers['content-type'] == 'application/grpc'
    assert products_pb2.Product.FromString(body[5:]).name == 'Reachable'


@pytest.mark.parametrize('path', [
    '/ecommerce.products.v1.StockService/ReserveStock',
    '/ecommerce.products.v1.StockService/ReserveStock/',
    '/ecommerce.products.v1.StockService/ReserveStock?via=query',
    '/ecommerce.products.v1.StockService/%52eserveStock',
    '/ecommerce.products.v1.StockService//ReserveStock',
    '/ecommerce.products.v1.StockService/x/../ReserveStock',
    '/ecommerce.products.v1.StockService%2FReserveStock',
    '/ecommerce.products.v1.StockService/reservestock',
    '/ecommerce.products.v1.%53tockService/ReserveStock',
    # Through the routes of ProductService, which share the package and the Products server.
    '/ecommerce.products.v1.ProductService/../ecommerce.products.v1.StockService/ReserveStock',
    '/ecommerce.products.v1.ProductService/ReserveStock',
])
def test_reserve_stock_cannot_be_reached_through_envoy_by_another_spelling(api, system, path):
    product = create_product(api, stock_quantity=5)
    request = stock_pb2.ReserveStockRequest(reservation_id=f'spelling-{unique_tag()}', lines=[
        stock_pb2.StockLine(product_id=int(product['id']), quantity=1)])
    headers, body = grpc_over_http1(system.gateway, path, request)
    assert headers.get('grpc-status') == '12', (headers, body)  # UNIMPLEMENTED
    assert body == b''
    assert stock(api, product['id']) == 5


def test_stock_rpcs_have_no_rest_route(api):
    product = create_product(api, stock_quantity=5)
    for method in ('ReserveStock', 'ReleaseStock'):
        path = f'/{STOCK_SERVICE}/{method}'
        reply = api.post(path, {'reservation_id': 'rest', 'lines': [{'product_id': product['id'], 'quantity': 1}]})
        assert_error(reply, 404, NOT_FOUND, f'Could not resolve {path} to a method')
    assert stock(api, product['id']) == 5


# --- history and live updates -----------------------------------------------------------------------

def test_an_orders_history_through_rest(api):
    product = create_product(api, stock_quantity=5)['id']
    order = place_order(api, [(product, 1)])
    assert api.patch(f'/api/orders/{order["id"]}/status', {'status': 'processing'},
                     headers={'x-request-id': 'rest-advance-1'}).status == 200
    reply = api.get(f'/api/orders/{order["id"]}/events')
    assert reply.status == 200, reply
    assert [(event['from_status'], event['to_status']) for event in reply.body['events']] == [
        ('PENDING', 'PROCESSING'), ('STATUS_UNSPECIFIED', 'PENDING')]
    assert reply.body['events'][0]['request_id'] == 'rest-advance-1'
    assert len(reply.body['events'][1]['request_id']) == 36  # Envoy's own x-request-id, a UUID
    assert api.get('/api/orders/987654321/events').status == 404


def test_a_rest_watcher_gets_one_json_line_per_change_as_it_happens(system, api):
    product = create_product(api, stock_quantity=5)['id']
    order = place_order(api, [(product, 1)])
    connection = http.client.HTTPConnection(system.gateway, timeout=15)
    try:
        connection.request('GET', f'/api/orders/{order["id"]}/watch')
        response = connection.getresponse()
        assert response.status == 200
        updates = [json.loads(response.readline())]
        for status in ('processing', 'shipped', 'delivered'):
            assert api.patch(f'/api/orders/{order["id"]}/status', {'status': status}).status == 200
            updates.append(json.loads(response.readline()))  # arrives before the next change is made
        assert response.read() == b''  # the stream ended with the delivery
    finally:
        connection.close()
    assert [(update['order']['status'], update['event']['to_status']) for update in updates] == [
        ('PENDING', 'PENDING'), ('PROCESSING', 'PROCESSING'), ('SHIPPED', 'SHIPPED'), ('DELIVERED', 'DELIVERED')]
    ids = [int(update['event']['id']) for update in updates]
    assert ids == sorted(ids) and len(set(ids)) == 4


def test_watching_an_unknown_order_through_rest_is_404(api):
    reply = api.get('/api/orders/987654321/watch')
    assert reply.status == 404 and reply.body['message'] == 'order 987654321 not found'


def test_a_products_stock_movements_through_rest(api):
    product = create_product(api, stock_quantity=8)['id']
    order = place_order(api, [(product, 3)])
    assert api.post(f'/api/orders/{order["id"]}/cancel').status == 200
    reply = api.get(f'/api/products/{product}/stock-movements')
    assert reply.status == 200, reply
    assert [(m['reason'], m['delta'], m['stock_before'], m['stock_after']) for m in reply.body['movements']] == [
        ('RELEASED', 3, 5, 8), ('RESERVED', -3, 8, 5)]
    assert reply.body['movements'][1]['request_id'] != reply.body['movements'][0]['request_id']
    assert api.get('/api/products/987654321/stock-movements').status == 404


def test_a_rest_watch_of_many_orders_answers_at_once_then_streams_each_change(system, api):
    """The 200 comes when the watch starts, not with the first change, which may be hours away."""
    email = f'{unique_tag().lower()}@example.com'
    connection = http.client.HTTPConnection(system.gateway, timeout=5)
    try:
        connection.request('GET', f'/api/orders/watch?customer_email={email}')
        response = connection.getresponse()  # no change has happened yet
        assert response.status == 200
        product = create_product(api, stock_quantity=5)['id']
        place_order(api, [(product, 1)])  # another customer's: not sent
        order = place_order(api, [(product, 2)], email=email)
        update = json.loads(response.readline())
        assert (update['order']['id'], update['event']['to_status']) == (order['id'], 'PENDING')
    finally:
        connection.close()
