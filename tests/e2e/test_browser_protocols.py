"""Browsers through the gateway's one port: CORS for the origins GATEWAY_CORS_ORIGINS allows (preflights answered,
the headers a page must read exposed, every other origin refused and not served), and gRPC-Web and Connect calls,
unary and server streaming, reaching the same public RPCs as REST and native gRPC (and no internal one), with the
same checks on the way in. Spoken here byte by byte, as a browser's library frames them; the TypeScript client in a
real browser is its own test."""
import base64
import http.client
import json
import struct
import uuid

import pytest
from ecommerce.orders.v1 import orders_pb2
from ecommerce.products.v1 import products_pb2, stock_pb2
from google.rpc import error_details_pb2, status_pb2

from bench.processes import running_system
from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import RestClient
from tests.raw_http import grpc_frame

pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]  # the gateway's edge: the SQLite pass only

STOREFRONT = 'http://localhost:3000'
OTHER_SITE = 'https://evil.example'
PRODUCTS = '/ecommerce.products.v1.ProductService'
ORDERS = '/ecommerce.orders.v1.OrderService'
# What the CORS policy must let a page send, and read of an answer (envoy.yaml's CorsPolicy).
SENT_HEADERS = {'authorization', 'content-type', 'x-request-id', 'connect-protocol-version', 'x-grpc-web',
                'grpc-timeout'}
READ_HEADERS = {'grpc-status', 'grpc-message', 'grpc-status-details-bin', 'x-request-id', 'location'}
GRPC_WEB = {'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1', 'accept': 'application/grpc-web+proto'}
CONNECT = {'content-type': 'application/proto', 'connect-protocol-version': '1'}
CONNECT_STREAM = {'content-type': 'application/connect+proto', 'connect-protocol-version': '1'}


@pytest.fixture(scope='module')
def shop(tmp_path_factory, new_database):
    """The whole system, with Envoy allowing pages of STOREFRONT."""
    with running_system(tmp_path_factory.mktemp('browsers'), new_database('products'), new_database('orders'),
                        gateway_settings={'cors_origins': [STOREFRONT]}) as running:
        yield running


@pytest.fixture(scope='module')
def api(shop):
    return RestClient(shop.gateway)


def send(gateway, method, path, body=b'', headers=None):
    """(status, lower-case headers, body bytes) of one HTTP/1.1 request."""
    connection = http.client.HTTPConnection(gateway, timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def frames(body):
    """(flags, payload) of each frame of a gRPC-Web or Connect streaming body."""
    found = []
    while body:
        flags, length = struct.unpack('>BI', body[:5])
        found.append((flags, body[5:5 + length]))
        body = body[5 + length:]
    return found


def grpc_web(gateway, method, request, headers=None):
    """A gRPC-Web call: (HTTP status, response headers, messages' bytes, trailers as a dict)."""
    status, received, body = send(gateway, 'POST', method, grpc_frame(request), {**GRPC_WEB, **(headers or {})})
    messages, trailers = [], {}
    for flags, payload in frames(body):
        if flags & 0x80:  # the trailers frame: HTTP/1-style header lines
            trailers = dict(line.split(':', 1) for line in payload.decode().split('\r\n') if line)
        else:
            messages.append(payload)
    trailers = {name.strip().lower(): value.strip() for name, value in trailers.items()}
    # A call refused before any message is a trailers-only answer: its status in the headers.
    for name in ('grpc-status', 'grpc-message', 'grpc-status-details-bin'):
        trailers.setdefault(name, received.get(name))
    return status, received, messages, trailers


def new_product(api, name=None, stock=5):
    reply = api.post('/api/products', {'name': name or f'Lamp {uuid.uuid4().hex[:8]}', 'price': '12.50',
                                       'stock_quantity': stock, 'category': 'home'})
    assert reply.status == 201, reply
    return reply.body


def place_order(api, product_id):
    reply = api.post('/api/orders', {'customer_name': 'Ada', 'customer_email': 'ada@example.com',
                                     'shipping_address': '12 Analytical Row', 'items': [
                                         {'product_id': product_id, 'quantity': 1}]})
    assert reply.status == 201, reply
    return reply.body


def listed(header):
    return {name.strip().lower() for name in header.split(',')}


# --- CORS ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(('path', 'method', 'asked'), [
    ('/api/products', 'POST', 'authorization, content-type, x-request-id'),
    ('/api/products/7', 'DELETE', 'authorization'),
    (f'{PRODUCTS}/ListProducts', 'POST', 'content-type, x-grpc-web, x-user-agent, grpc-timeout'),
    (f'{ORDERS}/WatchOrder', 'POST', 'content-type, connect-protocol-version, connect-timeout-ms'),
])
def test_a_preflight_from_an_allowed_origin_is_answered_with_what_the_api_needs(shop, path, method, asked):
    status, headers, _ = send(shop.gateway, 'OPTIONS', path, headers={
        'origin': STOREFRONT, 'access-control-request-method': method, 'access-control-request-headers': asked})
    assert status == 200, headers
    assert headers['access-control-allow-origin'] == STOREFRONT
    assert method.lower() in listed(headers['access-control-allow-methods'])
    assert listed(headers['access-control-allow-headers']) >= SENT_HEADERS
    assert listed(asked) <= listed(headers['access-control-allow-headers'])
    assert int(headers['access-control-max-age']) >= 600


def test_a_preflight_from_another_origin_is_refused_without_cors_headers(shop):
    status, headers, body = send(shop.gateway, 'OPTIONS', '/api/products', headers={
        'origin': OTHER_SITE, 'access-control-request-method': 'POST'})
    assert status == 403
    assert not [name for name in headers if name.startswith('access-control-')]
    assert json.loads(body)['code'] == 7 and 'GATEWAY_CORS_ORIGINS' in json.loads(body)['message']


def test_an_allowed_origins_answers_carry_cors_headers_refusals_included(shop, api):
    reply = api.call('POST', '/api/products', {'name': 'Shelf', 'price': '30.00', 'category': 'home'},
                     headers={'origin': STOREFRONT})
    assert reply.status == 201, reply
    assert reply.headers['access-control-allow-origin'] == STOREFRONT
    assert listed(reply.headers['access-control-expose-headers']) >= READ_HEADERS
    assert reply.headers['location'] == f'/api/products/{reply.body["id"]}'
    for refused, status in [(api.call('POST', '/api/products', {'name': '', 'price': '1.00'},
                                      headers={'origin': STOREFRONT}), 400),  # the service's
                            (api.call('GET', '/api/products/abc', headers={'origin': STOREFRONT}), 400),  # Envoy's
                            (api.call('DELETE', '/api/products/1?id=2', headers={'origin': STOREFRONT}), 400)]:  # Lua
        assert refused.status == status, refused
        assert refused.headers.get('access-control-allow-origin') == STOREFRONT, refused


@pytest.mark.parametrize('origin', [OTHER_SITE, 'http://localhost:3001', 'null', 'http://LOCALHOST:3000'])
def test_a_call_from_another_origin_is_refused_and_not_served(shop, api, origin):
    before = api.get('/api/products').body['total_size']
    reply = api.call('POST', '/api/products', {'name': 'Forged', 'price': '1.00', 'category': 'home'},
                     headers={'origin': origin})
    assert reply.status == 403, reply
    assert reply.body['code'] == 7 and 'not allowed' in reply.body['message']
    assert 'access-control-allow-origin' not in reply.headers
    assert api.get('/api/products').body['total_size'] == before
    forged = products_pb2.CreateProductRequest(product=products_pb2.Product(
        name='Forged', price='1.00', category=products_pb2.Product.HOME))
    status, _, messages, trailers = grpc_web(shop.gateway, f'{PRODUCTS}/CreateProduct', forged, {'origin': origin})
    assert (status, messages, trailers['grpc-status']) == (200, [], '7')
    assert api.get('/api/products').body['total_size'] == before


@pytest.mark.parametrize('scheme', ['http', 'https'])  # https: as behind a load balancer that ends TLS
def test_a_page_of_the_gateways_own_origin_may_call(shop, api, scheme):
    reply = api.call('POST', '/api/products', {'name': 'Own', 'price': '2.00', 'category': 'home'},
                     headers={'origin': f'{scheme}://{shop.gateway}'})
    assert reply.status == 201, reply


# --- gRPC-Web ------------------------------------------------------------------------------------

def test_grpc_web_lists_and_gets_products_as_native_grpc_does(shop, api):
    product = new_product(api, name=f'Web lamp {uuid.uuid4().hex[:6]}')
    status, headers, messages, trailers = grpc_web(
        shop.gateway, f'{PRODUCTS}/SearchProducts', products_pb2.SearchProductsRequest(q=product['name']),
        {'origin': STOREFRONT, 'x-request-id': 'web-search-1'})
    assert (status, trailers['grpc-status']) == (200, '0'), (headers, trailers)
    assert headers['content-type'].startswith('application/grpc-web')
    assert headers['access-control-allow-origin'] == STOREFRONT
    assert headers['x-request-id'] == 'web-search-1'
    (message,) = messages
    found = products_pb2.SearchProductsResponse.FromString(message)
    assert [(item.id, item.name, item.price) for item in found.products] == [
        (int(product['id']), product['name'], '12.50')]


def test_grpc_web_carries_the_error_and_its_details(shop):
    _, _, messages, trailers = grpc_web(shop.gateway, f'{PRODUCTS}/GetProduct',
                                        products_pb2.GetProductRequest(id=999_999_999))
    assert messages == [] and trailers['grpc-status'] == '5'
    assert 'not found' in trailers['grpc-message']
    details = status_pb2.Status.FromString(base64.b64decode(trailers['grpc-status-details-bin'] + '=='))
    info = error_details_pb2.ErrorInfo()
    assert any(detail.Unpack(info) for detail in details.details) and info.reason == 'PRODUCT_NOT_FOUND'


def first_update(gateway, order_id, headers):
    """The first message of a WatchOrder stream in a browser protocol (`headers`), read as it comes, and the answer's
    content type; the stream is then left."""
    connection = http.client.HTTPConnection(gateway, timeout=15)
    try:
        connection.request('POST', f'{ORDERS}/WatchOrder', grpc_frame(orders_pb2.WatchOrderRequest(id=order_id)),
                           headers)
        response = connection.getresponse()
        assert response.status == 200
        flags, length = struct.unpack('>BI', response.read(5))
        assert flags == 0  # a message, not the end of the stream
        return orders_pb2.OrderUpdate.FromString(response.read(length)), response.getheader('content-type')
    finally:
        connection.close()


def test_grpc_web_follows_an_order_over_a_server_stream(shop, api):
    order = place_order(api, new_product(api)['id'])
    update, content_type = first_update(shop.gateway, int(order['id']), GRPC_WEB)
    assert content_type == 'application/grpc-web+proto'
    assert (update.order.id, update.order.status) == (int(order['id']), orders_pb2.Order.PENDING)


def test_grpc_web_calls_pass_the_same_header_checks(shop):
    _, _, messages, trailers = grpc_web(shop.gateway, f'{PRODUCTS}/ListProducts', products_pb2.ListProductsRequest(),
                                        {'grpc-timeout': 'soon'})
    assert (messages, trailers['grpc-status']) == ([], '3')
    assert 'grpc-timeout' in trailers['grpc-message']


# --- Connect -------------------------------------------------------------------------------------

def test_connect_gets_a_product_and_answers_errors_as_connect_json(shop, api):
    product = new_product(api)
    status, headers, body = send(shop.gateway, 'POST', f'{PRODUCTS}/GetProduct',
                                 products_pb2.GetProductRequest(id=int(product['id'])).SerializeToString(),
                                 {**CONNECT, 'origin': STOREFRONT})
    assert status == 200, body
    assert headers['content-type'] == 'application/proto'
    assert headers['access-control-allow-origin'] == STOREFRONT
    assert products_pb2.Product.FromString(body).name == product['name']

    status, headers, body = send(shop.gateway, 'POST', f'{PRODUCTS}/GetProduct',
                                 products_pb2.GetProductRequest(id=999_999_999).SerializeToString(), CONNECT)
    assert status == 404, body
    error = json.loads(body)
    assert error['code'] == 'not_found' and 'not found' in error['message']


def test_connect_follows_an_order_over_a_server_stream(shop, api):
    order = place_order(api, new_product(api)['id'])
    update, content_type = first_update(shop.gateway, int(order['id']), CONNECT_STREAM)
    assert content_type == 'application/connect+proto'
    assert (update.order.id, update.order.status) == (int(order['id']), orders_pb2.Order.PENDING)


# --- what no protocol reaches --------------------------------------------------------------------

@pytest.mark.parametrize('protocol', ['grpc-web', 'connect'])
def test_internal_rpcs_are_unreachable_by_the_browser_protocols(shop, api, protocol):
    product = new_product(api, stock=5)
    request = stock_pb2.ReserveStockRequest(reservation_id=f'forged-{uuid.uuid4().hex}', lines=[
        stock_pb2.StockLine(product_id=int(product['id']), quantity=5)])
    method = '/ecommerce.products.v1.StockService/ReserveStock'
    # No route: HTTP 404, which gRPC-Web and Connect clients read as UNIMPLEMENTED (as native gRPC clients do).
    if protocol == 'grpc-web':
        status, _, messages, trailers = grpc_web(shop.gateway, method, request)
        assert (status, messages, trailers['grpc-status']) == (404, [], None)
    else:
        status, _, body = send(shop.gateway, 'POST', method, request.SerializeToString(), CONNECT)
        assert (status, body) == (404, b'')
    assert api.get(f'/api/products/{product["id"]}').body['stock_quantity'] == 5
