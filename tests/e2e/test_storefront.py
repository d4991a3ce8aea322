"""A storefront on another origin, in a real browser: the TypeScript client's example page (clients/typescript/example),
served from a port of its own, lists and searches products over gRPC-Web and over Connect, places an order with a
customer's token over REST (reading its 201 and Location through CORS), follows the order live over a server stream
while an admin advances it elsewhere, and shows a refused order's field violations (REST's JSON details, gRPC-Web's
grpc-status-details-bin, Connect's error details). The same page from an origin the gateway does not allow gets
nothing."""
import functools
import http.server
import threading
import uuid

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from playwright.sync_api import expect

from bench.processes import free_port, running_system
from scripts import tokens
from scripts.typescript_client import CLIENT
from services import auth
from tests.conftest import DATABASE_INDEPENDENT

pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]  # a browser: the SQLite pass only

LIVE_WAIT_MS = 10_000


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test's output is not the place for a static server's access log
        pass


@pytest.fixture(scope='module')
def site():
    """clients/typescript served as plain files on a free port of 127.0.0.1 (the storefront's origin)."""
    if not (CLIENT / 'gen').is_dir() or not (CLIENT / 'node_modules').is_dir():
        pytest.fail('the TypeScript client is not built: make (with npm installed) builds it', pytrace=False)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', free_port()),
                                             functools.partial(QuietHandler, directory=CLIENT))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope='module')
def shop(site, tmp_path_factory, new_database, auth_keys):
    """The system with tokens checked, its gateway allowing the storefront's origin only."""
    env = {'AUTH_JWKS': str(auth_keys / tokens.JWKS), 'ORDERS_SERVICE_KEY': str(auth_keys / tokens.SIGNING_KEY)}
    with running_system(tmp_path_factory.mktemp('storefront'), new_database('products'), new_database('orders'),
                        env=env, gateway_settings={'cors_origins': [f'http://127.0.0.1:{site}']}) as running:
        yield running


@pytest.fixture(scope='module')
def issuer(auth_keys):
    return auth.TokenIssuer.from_config(auth_keys / tokens.SIGNING_KEY)


@pytest.fixture(scope='module')
def lamp(shop, issuer):
    name = f'Storefront lamp {uuid.uuid4().hex[:6]}'
    with grpc.insecure_channel(shop.products) as channel:
        return products_pb2_grpc.ProductServiceStub(channel).CreateProduct(
            products_pb2.CreateProductRequest(product=products_pb2.Product(
                name=name, price='24.00', stock_quantity=5, category=products_pb2.Product.HOME)),
            metadata=[('authorization', f'Bearer {issuer.issue([auth.ADMIN])}')])


def open_storefront(browser, origin, shop):
    page = browser.new_context().new_page()
    page.goto(f'{origin}/example/?gateway=http://{shop.gateway}')
    return page


def test_a_storefront_on_another_origin_uses_every_protocol(browser, site, shop, issuer, lamp):
    page = open_storefront(browser, f'http://127.0.0.1:{site}', shop)
    for protocol in ('grpc-web', 'connect'):  # the watch below goes over the last one
        page.select_option('#protocol', protocol)
        page.evaluate("document.querySelectorAll('#products, #found').forEach((list) => list.replaceChildren())")
        page.click('#list')
        expect(page.locator(f'#products li[data-id="{lamp.id}"]')).to_have_text(f'{lamp.id} {lamp.name} 24.00 USD')
        page.fill('#query', lamp.name)
        page.click('#search')
        expect(page.locator('#found li')).to_have_text([f'{lamp.id} {lamp.name} 24.00 USD'])
        expect(page.locator('#error')).to_have_text('')

    page.fill('#token', issuer.issue([auth.CUSTOMER], email='ann@example.com'))
    page.fill('#product-id', str(lamp.id))
    page.click('#order')  # REST with fetch
    expect(page.locator('#placed')).to_contain_text('201 /api/orders/')
    order_id = int(page.locator('#placed').text_content().rsplit('/', 1)[1])
    expect(page.locator('#order-status')).to_have_text('PENDING', timeout=LIVE_WAIT_MS)  # the watch's first message

    with grpc.insecure_channel(shop.orders) as channel:  # another client, an admin, moves it on
        orders_pb2_grpc.OrderServiceStub(channel).UpdateOrderStatus(
            orders_pb2.UpdateOrderStatusRequest(id=order_id, status=orders_pb2.Order.PROCESSING),
            metadata=[('authorization', f'Bearer {issuer.issue([auth.ADMIN])}')])
    expect(page.locator('#order-status')).to_have_text('PROCESSING', timeout=LIVE_WAIT_MS)

    page.fill('#quantity', '0')
    page.click('#order')
    expect(page.locator('#refused')).to_contain_text('items[0].quantity')
    for protocol in ('grpc-web', 'connect'):  # grpc-status-details-bin, then the Connect error's details
        page.select_option('#protocol', protocol)
        assert page.evaluate('window.storefront.refusedOverGrpc()').startswith('items: '), protocol
    expect(page.locator('#error')).to_have_text('')


def orders_placed(shop, issuer):
    with grpc.insecure_channel(shop.orders) as channel:
        admin = [('authorization', f'Bearer {issuer.issue([auth.ADMIN])}')]
        return orders_pb2_grpc.OrderServiceStub(channel).ListOrders(orders_pb2.ListOrdersRequest(page_size=1),
                                                                    metadata=admin).total_size


def test_the_same_page_from_an_origin_not_allowed_gets_nothing(browser, site, shop, issuer, lamp):
    before = orders_placed(shop, issuer)
    page = open_storefront(browser, f'http://localhost:{site}', shop)  # another origin: another host name
    page.click('#list')
    expect(page.locator('#error')).not_to_have_text('')
    expect(page.locator('#products li')).to_have_count(0)
    page.fill('#token', issuer.issue([auth.CUSTOMER], email='ann@example.com'))
    page.fill('#product-id', str(lamp.id))
    page.click('#order')
    expect(page.locator('#error')).to_contain_text('Failed to fetch')
    expect(page.locator('#placed')).to_have_text('')
    assert orders_placed(shop, issuer) == before  # refused at the gateway: not placed, though the page never knew
