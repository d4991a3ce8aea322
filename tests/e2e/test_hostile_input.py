"""Hostile REST requests through the real Envoy (hypothesis): bad JSON, wrong types, hostile values, path and query
parameters, huge bodies. Every one gets a 4xx with a JSON message (or, if valid, a correct 200), a refused one
changes no product and no order, and Envoy and both services are alive at the end.
"""
import json
import urllib.request
from urllib.parse import quote

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from grpc_health.v1 import health_pb2
from hypothesis import given
from hypothesis import strategies as st

from services.settings import MAX_MESSAGE_BYTES
from tests.conftest import health_status
from tests.e2e.clients import RestClient
from tests.hostile import (
    OUTCOMES,
    hostile_decimal,
    hostile_figures,  # noqa: F401 (an autouse fixture: this module's figures)
    hostile_text,
    int64s,
    spoiled,
)

pytestmark = pytest.mark.e2e

# JSON the transcoder cannot take as the field's type, or takes and the service must judge.
RAW_JSON_VALUES = ['1e309', '-1e309', 'NaN', 'Infinity', '-Infinity', '99999999999999999999999', '-1', '0', '-0',
                   '1.5', '1e2', 'true', 'null', '[]', '{}', '[[[[[[[[[[1]]]]]]]]]]', '"1e309"', '"NaN"', '"-1"',
                   '"99999999999999999999999"', '"0x10"', '" 1"', '"١"', '"9223372036854775808"', "'single'", '01']
# Path parameters: traversal, NUL and encoding tricks, ids out of range or not numbers, a path too long to read.
RAW_PATH_VALUES = ['..%2F..%2Fetc%2Fpasswd', '..%2f..%2fetc%2fpasswd', '%2e%2e', '%2e%2e%2f%2e%2e', '..', '.',
                   '%00', 'a%00', '%252e%252e', '%2F', '%5C..%5C', '-1', '0', '-9223372036854775808',
                   '9223372036854775808', '99999999999999999999999', '1e309', 'NaN', 'abc', '%EF%BC%91',
                   "'%20OR%201=1", '%27%3B%20DROP%20TABLE%20products%3B--', '%F0%9F%98%80', '%C3%28', '%FF',
                   '9' * 70_000]


@pytest.fixture(scope='module')
def api(system):
    return RestClient(system.gateway)


@pytest.fixture(scope='module')
def stubs(system):
    with grpc.insecure_channel(system.products) as products, grpc.insecure_channel(system.orders) as orders:
        yield products_pb2_grpc.ProductServiceStub(products), orders_pb2_grpc.OrderServiceStub(orders)


@pytest.fixture(scope='module')
def store(system, api, stubs):
    """Two products and one pending order; at the end, Envoy and both services must still be up and serving."""
    products = [api.post('/api/products', {'name': name, 'price': '10.00', 'stock_quantity': 1000,
                                           'category': 'home'}).body for name in ('Chair', 'Table')]
    order = api.post('/api/orders', order_body(products[0]['id'])).body
    assert all(product and product.get('id') for product in products) and order.get('id'), (products, order)
    yield {'products': products, 'order': order}
    assert all(process.popen.poll() is None for process in system.processes.values()), 'a process died'
    with urllib.request.urlopen(f'http://{system.admin}/ready', timeout=5) as ready:
        assert ready.status == 200
    for address in (system.products, system.orders):
        assert health_status(address) == health_pb2.HealthCheckResponse.SERVING


def order_body(product_id):
    return {'customer_name': 'Ada', 'customer_email': 'ada@example.com', 'shipping_address': '1 Analytical Way',
            'items': [{'product_id': product_id, 'quantity': 1}]}


def snapshot(stubs):
    """Every product and every order, read from the services directly."""
    products, orders = stubs
    return (list(products.ListProducts(products_pb2.ListProductsRequest(page_size=100)).products),
            list(orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=100)).orders))


def send(api, stubs, method, path, raw=None):
    """Send one request; a refusal must be a 4xx google.rpc.Status JSON with a message and change nothing.
    Returns the reply; its status is 2xx (201 for a create) or 4xx, never anything else."""
    before = snapshot(stubs)
    reply = api.call(method, path, raw=raw)
    OUTCOMES[f'rest {reply.status}'] += 1
    if reply.status < 300:
        return reply
    assert 400 <= reply.status < 500, reply
    assert reply.headers.get('content-type', '').startswith('application/json'), reply.headers
    assert isinstance(reply.body, dict) and isinstance(reply.body.get('code'), int), reply
    assert isinstance(reply.body.get('message'), str) and reply.body['message'].strip(), reply
    assert snapshot(stubs) == before, f'{method} {path} was refused ({reply.status}) yet changed data'
    return reply


def json_object(pairs):
    """A JSON object from (name, JSON text) pairs, names possibly repeated."""
    return '{' + ', '.join(f'{json.dumps(name)}: {value}' for name, value in pairs) + '}'


def hostile_json():
    """JSON text of any type and value, valid JSON or not."""
    values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                          lambda children: st.lists(children, max_size=3) | st.dictionaries(
                              st.text(max_size=5), children, max_size=3), max_leaves=6)
    return st.one_of(st.sampled_from(RAW_JSON_VALUES), values.map(json.dumps),
                     hostile_text().map(lambda text: json.dumps(text, ensure_ascii=False)),
                     hostile_decimal().map(json.dumps))


def hostile_object(valid):
    """Objects built from `valid` (name: value) with one to three values hostile or left out, and sometimes a
    name given twice."""
    fields = spoiled({name: json.dumps(value) for name, value in valid.items()},
                     {name: st.one_of(st.none(), hostile_json()) for name in valid})
    return st.builds(lambda values, repeated: json_object([*values.items(), *repeated]), fields,
                     st.lists(st.tuples(st.sampled_from(sorted(valid)), hostile_json()), max_size=1))


PRODUCT = {'name': 'Desk', 'description': 'oak', 'price': '19.99', 'stock_quantity': 5, 'category': 'home'}


@given(data=st.data())
def test_hostile_product_bodies(api, stubs, store, data):
    product_id = store['products'][1]['id']
    method, path = data.draw(st.sampled_from([('POST', '/api/products'), ('PUT', f'/api/products/{product_id}'),
                                              ('PATCH', f'/api/products/{product_id}')]))
    reply = send(api, stubs, method, path, raw=data.draw(hostile_object(PRODUCT)).encode())
    if reply.status < 300:
        assert api.get(f'/api/products/{reply.body["id"]}').body == reply.body
        if method == 'POST':
            assert api.delete(f'/api/products/{reply.body["id"]}').status == 204  # keep the store small


@given(data=st.data())
def test_hostile_order_bodies(api, stubs, store, data):
    item = hostile_object({'product_id': store['products'][0]['id'], 'quantity': 1})
    items = st.lists(item, max_size=3).map(lambda objects: '[' + ', '.join(objects) + ']')
    valid = order_body(store['products'][0]['id'])
    body = data.draw(spoiled({name: json.dumps(value) for name, value in valid.items()},
                             {'customer_name': hostile_json(), 'customer_email': hostile_json(),
                              'shipping_address': hostile_json(), 'items': st.one_of(items, hostile_json()),
                              'request_id': hostile_json()}))
    reply = send(api, stubs, 'POST', '/api/orders', raw=json_object(body.items()).encode())
    if reply.status < 300:
        assert api.get(f'/api/orders/{reply.body["id"]}').body == reply.body
        assert api.post(f'/api/orders/{reply.body["id"]}/cancel').status == 200  # the stock goes back


@given(data=st.data())
def test_malformed_json_is_refused(api, stubs, store, data):
    """Not JSON at all, or JSON cut short: a 400 from Envoy or the service, whatever the route."""
    valid = json.dumps({**PRODUCT, 'items': [{'product_id': 1, 'quantity': 1}]})
    raw = data.draw(st.one_of(
        st.integers(1, len(valid) - 1).map(lambda end: valid[:end].encode()),
        st.sampled_from([b'[' * 100_000, b'[' * 5000 + b']' * 5000, b'{"name": ' + b'[' * 5000, b'\xff\xfe',
                         b'{"name": "\xc3\x28"}', b'{"name": "a"', b'{,}', b'NaN', b'{"price": NaN}', b'\x00']),
        st.binary(min_size=1, max_size=50)))
    product_id, order_id = store['products'][1]['id'], store['order']['id']
    method, path = data.draw(st.sampled_from([
        ('POST', '/api/products'), ('PUT', f'/api/products/{product_id}'), ('PATCH', f'/api/products/{product_id}'),
        ('POST', '/api/orders'), ('PATCH', f'/api/orders/{order_id}/status'),
        ('POST', f'/api/orders/{order_id}/cancel'), ('POST', '/api/carts'), ('POST', '/api/carts/1/items'),
        ('POST', '/api/carts/1/checkout')]))
    reply = send(api, stubs, method, path, raw=raw)
    assert reply.status == 400, reply


def path_values(allow_digits):
    """Hostile path parameters, percent-encoded; without `allow_digits`, none can name an existing id."""
    text = hostile_text() if allow_digits else hostile_text().filter(lambda value: not any(c.isdigit() for c in value))
    raw = RAW_PATH_VALUES if allow_digits else [value for value in RAW_PATH_VALUES if value[:1] not in '-0123456789']
    return st.one_of(st.sampled_from(raw), text.map(lambda value: quote(value, safe='')).filter(bool))


@given(data=st.data())
def test_hostile_path_parameters_of_reads(api, stubs, store, data):
    value = data.draw(path_values(allow_digits=True))
    path = data.draw(st.sampled_from(['/api/products/{}', '/api/orders/{}', '/api/orders/customer/{}',
                                      '/api/carts/{}'])).format(value)
    reply = send(api, stubs, 'GET', path)
    if reply.status < 300:
        assert api.get(path).body == reply.body  # a real product or order, or a customer's (empty) list


@given(data=st.data())
def test_hostile_path_parameters_of_writes(api, stubs, store, data):
    method, template, body = data.draw(st.sampled_from([
        ('DELETE', '/api/products/{}', None), ('PUT', '/api/products/{}', PRODUCT),
        ('PATCH', '/api/products/{}', {'price': '1.00'}), ('PATCH', '/api/orders/{}/status', {'status': 'processing'}),
        ('POST', '/api/orders/{}/cancel', {}), ('POST', '/api/carts/{}/items', {'product_id': 1, 'quantity': 1}),
        ('PATCH', '/api/carts/1/items/{}', {'quantity': 1}), ('DELETE', '/api/carts/1/items/{}', None),
        ('POST', '/api/carts/{}/checkout', {'customer_name': 'Ada', 'shipping_address': '1 Way'}),
        ('POST', '/api/carts/{}/complete', {}), ('POST', '/api/carts/{}/abandon', {})]))
    path = template.format(data.draw(path_values(allow_digits=False)))
    reply = send(api, stubs, method, path, raw=json.dumps(body).encode() if body is not None else None)
    assert reply.status != 200, f'{method} {path} changed something'


BODY_BINDS_IT = 'the body holds it, and a query parameter may not change it'


@pytest.mark.parametrize('query, message', [
    ('product.name=a%0Cb', f'query parameter product.name: {BODY_BINDS_IT}'),
    ('=%03', 'the query string holds a control character'),
    ('update_mask=price&x=%7f', 'the query string holds a control character'),
    ('product.name=%1F', f'query parameter product.name: {BODY_BINDS_IT}')])
def test_a_control_character_in_the_query_string_of_a_put_is_refused(api, stubs, store, query, message):
    """Envoy writes a PUT's query string back (update_mask=*) with its escapes decoded; a control character in it
    made the path an invalid header and the answer a 503 (found by the OpenAPI fuzzing). A query parameter naming a
    field of the body is refused before that, whatever its value."""
    path = f'/api/products/{store["products"][0]["id"]}?{query}'
    reply = send(api, stubs, 'PUT', path, raw=json.dumps(PRODUCT).encode())
    assert (reply.status, reply.body['message']) == (400, message)


@pytest.mark.parametrize('header, shown', [('Bad`Name', 'bad?name'), ('x^y', 'x?y'), ('x-trace-bin', 'x-trace-bin'),
                                           ('grpc-timeout', 'grpc-timeout')])
def test_a_rest_header_that_grpc_metadata_cannot_carry_is_refused_naming_it(api, stubs, store, header, shown):
    """gRPC's library answered such a header with INTERNAL (500) before any handler ran (found by the OpenAPI
    fuzzing); Envoy refuses it with 400. Headers gRPC can carry, in any case, pass as before."""
    before = snapshot(stubs)
    product = store['products'][0]['id']
    refused = api.call('PATCH', f'/api/products/{product}', {'stock_quantity': 1}, headers={header: 'abc'})
    assert refused.status == 400 and refused.body['code'] == 3, refused
    assert refused.body['message'].startswith(f'header {shown} cannot be passed on'), refused
    assert snapshot(stubs) == before
    assert api.call('GET', f'/api/products/{product}', headers={'X-Custom_Name.v2': 'abc'}).status == 200


QUERIES = {
    '/api/products': {'page_size': '5', 'page_token': ''},
    '/api/products/search': {'q': 'chair', 'category': 'home', 'min_price': '1', 'max_price': '100',
                             'page_size': '5', 'page_token': ''},
    '/api/orders': {'status': 'pending', 'page_size': '5', 'page_token': ''},
}


@given(data=st.data())
def test_hostile_query_parameters(api, stubs, store, data):
    path = data.draw(st.sampled_from(sorted(QUERIES)))
    hostile = st.one_of(st.none(), st.sampled_from(RAW_JSON_VALUES + RAW_PATH_VALUES), hostile_text(),
                        hostile_decimal(), int64s().map(str))
    query = data.draw(spoiled(QUERIES[path], {name: hostile for name in QUERIES[path]}))
    extra = data.draw(st.lists(st.tuples(st.sampled_from([*QUERIES[path], 'unknown', 'page_size[]', '']), hostile
                                         .filter(lambda value: value is not None)), max_size=1))
    encoded = '&'.join(f'{quote(name, safe="")}={quote(value, safe="")}' for name, value in [*query.items(), *extra])
    reply = send(api, stubs, 'GET', f'{path}?{encoded}')
    if reply.status < 300:
        assert isinstance(reply.body.get('total_size'), int), reply


@pytest.mark.parametrize('path', ['/api/products', '/api/orders'])
def test_a_body_over_the_limit_is_413_and_creates_nothing(api, stubs, store, path):
    body = json.dumps({'name': 'x' * MAX_MESSAGE_BYTES, 'customer_name': 'x'}).encode()
    reply = send(api, stubs, 'POST', path, raw=body)
    assert reply.status == 413, reply
    assert reply.body == {'code': 8, 'message': f'request body larger than {MAX_MESSAGE_BYTES} bytes', 'details': []}


@pytest.mark.parametrize('path, field', [('/api/products', 'name'), ('/api/orders', 'customer_name')])
def test_a_huge_body_under_the_limit_is_judged_by_the_service(api, stubs, store, path, field):
    filler = 'x' * (MAX_MESSAGE_BYTES - 1000)
    body = {**PRODUCT, **order_body(store['products'][0]['id']), field: filler}
    reply = send(api, stubs, 'POST', path, raw=json.dumps(body).encode())
    assert reply.status == 400, reply
    assert reply.body['message'] == f'{field}: must be at most 200 characters, not {len(filler)}', reply
