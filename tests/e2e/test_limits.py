"""Envoy's per-client limit on writes, through the real Envoy with a tiny bucket: it engages, it releases, reads are
never limited, and a refused write changed nothing. Each test writes from a loopback address of its own (any of
127.0.0.0/8 reaches Envoy on 127.0.0.1), so each starts with a full bucket."""
import json
import time
import urllib.request
import uuid
from urllib.parse import quote

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from bench.processes import running_system
from services.settings import IMPORT_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS
from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import RestClient
from tests.e2e.test_rest import order_body
from tests.raw_http import grpc_frame, http1_exchange, http1_request

# Envoy's limits and route timeouts are the same whatever the services' database: the SQLite pass only.
pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]

WRITES_PER_SECOND, WRITE_BURST = 2, 4
REFUSED = {'code': 8, 'details': [],
           'message': f'rate limit reached: at most {WRITE_BURST} writes at once and {WRITES_PER_SECOND} per second '
                      f'from one client; try again shortly'}
# Writes sent back to back, well within a second: the burst passes, and at most one refill more.
ATTEMPTS = 12


@pytest.fixture(scope='module')
def limited_system(tmp_path_factory, new_database):
    with running_system(tmp_path_factory.mktemp('limits'), new_database('products'), new_database('orders'),
                        gateway_settings={'writes_per_second': WRITES_PER_SECOND,
                                          'write_burst': WRITE_BURST}) as running:
        yield running


def client(system, source):
    return RestClient(system.gateway, source=source)


def product_body(name):
    return {'name': name, 'price': '5.00', 'stock_quantity': 10, 'category': 'other'}


def burst_of_creates(api, tag):
    """ATTEMPTS CreateProduct calls back to back; returns {name: reply}."""
    names = [f'{tag} {number}' for number in range(ATTEMPTS)]
    return {name: api.post('/api/products', product_body(name)) for name in names}


def exhaust(api):
    """Write until the client's bucket is empty (the first refusal)."""
    for _ in range(ATTEMPTS):
        if api.post('/api/products', product_body(f'filler {uuid.uuid4().hex[:8]}')).status == 429:
            return
    pytest.fail(f'{ATTEMPTS} writes in a row were all accepted')


def test_a_burst_of_writes_is_refused_past_the_limit_and_refused_writes_create_nothing(limited_system):
    api = client(limited_system, '127.0.0.11')
    tag = 'T' + uuid.uuid4().hex[:10]
    replies = burst_of_creates(api, tag)
    statuses = [reply.status for reply in replies.values()]
    accepted = {name for name, reply in replies.items() if reply.status == 201}
    assert set(statuses) == {201, 429}, statuses
    assert WRITE_BURST <= len(accepted) <= WRITE_BURST + WRITES_PER_SECOND, statuses
    # The burst is served first: once refused, the rest of a back-to-back run is refused too (bar one refill).
    assert statuses[:WRITE_BURST] == [201] * WRITE_BURST
    for reply in replies.values():
        if reply.status == 429:
            assert reply.body == REFUSED
            assert reply.headers['retry-after'] == '1'
            assert 'server' not in reply.headers
    found = api.get(f'/api/products/search?q={tag}&page_size=100')
    assert found.status == 200, found
    assert {product['name'] for product in found.body['products']} == accepted


def test_writes_pass_again_once_the_bucket_refills(limited_system):
    api = client(limited_system, '127.0.0.12')
    exhaust(api)
    assert api.post('/api/products', product_body('refused')).status == 429
    time.sleep(1.2)  # one refill (every second) at least
    reply = api.post('/api/products', product_body('after the refill'))
    assert reply.status == 201, reply
    assert 'server' not in reply.headers


def test_reads_are_never_limited(limited_system):
    api = client(limited_system, '127.0.0.13')
    product = api.post('/api/products', product_body('read me')).body
    exhaust(api)
    paths = [f'/api/products/{product["id"]}', '/api/products?page_size=5', '/api/products/search?q=read',
             f'/api/products/{product["id"]}/stock-movements', '/api/orders?page_size=5',
             '/api/orders/customer/nobody@example.com']
    statuses = [api.get(path).status for path in paths * 5]
    assert statuses == [200] * len(statuses)
    assert api.post('/api/products', product_body('still refused')).status == 429


def test_each_client_address_has_its_own_bucket_whatever_x_forwarded_for_says(limited_system):
    busy, other = client(limited_system, '127.0.0.14'), client(limited_system, '127.0.0.15')
    exhaust(busy)
    spoofed = busy.call('POST', '/api/products', product_body('spoofed'), headers={'x-forwarded-for': '10.9.8.7'})
    assert spoofed.status == 429, spoofed
    assert other.post('/api/products', product_body('another client')).status == 201


def test_native_grpc_orders_over_the_limit_get_resource_exhausted_and_take_no_stock(limited_system):
    # The product is made on Products' own port, past Envoy and its limit.
    with grpc.insecure_channel(limited_system.products) as channel:
        product = products_pb2_grpc.ProductServiceStub(channel).CreateProduct(products_pb2.CreateProductRequest(
            product=products_pb2.Product(name='Limited lamp', price='5.00', stock_quantity=100, category='OTHER')))
    email = f'{uuid.uuid4().hex[:10]}@example.com'
    codes = []
    with grpc.insecure_channel(limited_system.gateway) as channel:
        orders = orders_pb2_grpc.OrderServiceStub(channel)
        request = orders_pb2.CreateOrderRequest(**order_body([(product.id, 1)], email=email))
        for _ in range(ATTEMPTS):
            try:
                orders.CreateOrder(request, timeout=15)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                codes.append(error.code())
                if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    assert error.details() == REFUSED['message']
                    assert ('retry-after', '1') in error.trailing_metadata()
        placed = orders.GetOrdersByCustomer(orders_pb2.GetOrdersByCustomerRequest(email=email, page_size=100),
                                            timeout=15)
        stock = products_pb2_grpc.ProductServiceStub(channel).GetProduct(
            products_pb2.GetProductRequest(id=product.id), timeout=15).stock_quantity
    accepted = codes.count(grpc.StatusCode.OK)
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
    assert WRITE_BURST <= accepted <= WRITE_BURST + WRITES_PER_SECOND, codes
    assert len(placed.orders) == accepted
    assert stock == 100 - accepted


def test_browser_protocols_writes_share_the_bucket_of_their_address(limited_system):
    """gRPC-Web and Connect calls are native gRPC by the time the limit is applied: a write over either is refused
    once the address's bucket is empty, whatever protocol emptied it, and creates nothing. Envoy answers them as
    plain HTTP 429 with the limit's message (its local reply decides the form from the request as it came in), which
    their clients read as UNAVAILABLE, where a native gRPC client gets RESOURCE_EXHAUSTED."""
    source = '127.0.0.15'
    exhaust(client(limited_system, source))
    request = products_pb2.CreateProductRequest(product=products_pb2.Product(
        name=f'refused {uuid.uuid4().hex[:8]}', price='5.00', category=products_pb2.Product.OTHER))
    path = '/ecommerce.products.v1.ProductService/CreateProduct'
    grpc_web = http1_exchange(limited_system.gateway, http1_request(
        'POST', path, [('content-type', 'application/grpc-web+proto')], grpc_frame(request)), source=source)
    assert (grpc_web.status, grpc_web.headers['grpc-message'], grpc_web.headers['retry-after']) == (
        429, REFUSED['message'], '1'), grpc_web
    connect = http1_exchange(limited_system.gateway, http1_request(
        'POST', path, [('content-type', 'application/proto'), ('connect-protocol-version', '1')],
        request.SerializeToString()), source=source)
    assert (connect.status, connect.text, connect.headers['retry-after']) == (429, REFUSED['message'], '1'), connect
    found = client(limited_system, '127.0.0.16').get(f'/api/products/search?q={quote(request.product.name)}')
    assert found.body['total_size'] == 0


def test_every_route_to_a_service_has_its_timeout(limited_system):
    """As Envoy loaded them: watches none, an import IMPORT_TIMEOUT_SECONDS, every other call (health and
    reflection too) REQUEST_TIMEOUT_SECONDS."""
    with urllib.request.urlopen(f'http://{limited_system.admin}/config_dump?resource=static_route_configs',
                                timeout=10) as response:
        dump = json.load(response)
    routes = [route for config in dump['configs'] for host in config['route_config']['virtual_hosts']
              for route in host['routes'] if 'cluster' in route.get('route', {})]
    matches = {(route['match'].get('path') or route['match'].get('prefix') or route['match']['safe_regex']['regex']):
               route['route'].get('timeout') for route in routes}
    # The routes that forward calls: on gRPC paths (the REST PUT route only sets update_mask before the transcoder).
    timeouts = {match: timeout for match, timeout in matches.items() if not match.startswith('/api/')}
    watches = [match for match in timeouts if '/Watch' in match]
    imports = '/ecommerce.products.v1.ProductService/ImportProducts'
    assert watches and {timeouts.pop(watch) for watch in watches} == {'0s'}
    assert timeouts.pop(imports) == f'{IMPORT_TIMEOUT_SECONDS}s'
    assert set(timeouts.values()) == {f'{REQUEST_TIMEOUT_SECONDS}s'}, timeouts


def test_no_reply_names_envoy_in_a_server_header(limited_system):
    api = client(limited_system, '127.0.0.16')
    for path in ['/api/products?page_size=1', '/api/products/999999', '/api/no-such-thing', '/admin/']:
        reply = api.get(path)
        assert 'server' not in reply.headers, (path, reply.headers)
        assert not [name for name in reply.headers if name.startswith('x-envoy')], (path, reply.headers)
    with grpc.insecure_channel(limited_system.gateway) as channel:
        _reply, call = products_pb2_grpc.ProductServiceStub(channel).ListProducts.with_call(
            products_pb2.ListProductsRequest(page_size=1), timeout=15)
    assert 'server' not in dict(call.initial_metadata())
