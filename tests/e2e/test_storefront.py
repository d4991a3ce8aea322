"""A storefront on another origin, in a real browser: the TypeScript client's example page (clients/typescript/example),
served from a port of its own, lists and searches products over gRPC-Web and over Connect, places an order with a
customer's token over REST (reading its 201 and Location through CORS), follows the order live over a server stream
while an admin advances it elsewhere, and shows a refused order's field violations (REST's JSON details, gRPC-Web's
grpc-status-details-bin, Connect's error details). Over each protocol it fills a cart, checks it out (the stock held,
then given back by an abandon, then held again), completes it into an order it follows live, and shows a second cart's
checkout short of stock refused with nothing held. The same page from an origin the gateway does not allow gets
nothing."""
import functools
import http.server
import re
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


def as_admin(issuer):
    return [('authorization', f'Bearer {issuer.issue([auth.ADMIN])}')]


def new_product(shop, issuer, name, stock_quantity):
    """A product at 24.00 named `name` and a unique suffix, created over gRPC."""
    with grpc.insecure_channel(shop.products) as channel:
        return products_pb2_grpc.ProductServiceStub(channel).CreateProduct(
            products_pb2.CreateProductRequest(product=products_pb2.Product(
                name=f'{name} {uuid.uuid4().hex[:6]}', price='24.00', stock_quantity=stock_quantity,
                category=products_pb2.Product.HOME)),
            metadata=as_admin(issuer))


def stock_of(shop, product_id):
    with grpc.insecure_channel(shop.products) as channel:
        return products_pb2_grpc.ProductServiceStub(channel).GetProduct(
            products_pb2.GetProductRequest(id=product_id)).stock_quantity


@pytest.fixture(scope='module')
def lamp(shop, issuer):
    return new_product(shop, issuer, 'Storefront lamp', stock_quantity=5)


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
            metadata=as_admin(issuer))
    expect(page.locator('#order-status')).to_have_text('PROCESSING', timeout=LIVE_WAIT_MS)

    page.fill('#quantity', '0')
    page.click('#order')
    expect(page.locator('#refused')).to_contain_text('items[0].quantity')
    for protocol in ('grpc-web', 'connect'):  # grpc-status-details-bin, then the Connect error's details
        page.select_option('#protocol', protocol)
        assert page.evaluate('window.storefront.refusedOverGrpc()').startswith('items: '), protocol
    expect(page.locator('#error')).to_have_text('')


def new_cart(page):
    """Clicks New cart and waits until the page shows the new one (the next click would go to the last one)."""
    last = page.locator('#cart').text_content()
    page.click('#new-cart')
    expect(page.locator('#cart')).not_to_have_text(last)


def test_a_cart_checks_out_and_completes_over_each_protocol(browser, site, shop, issuer):
    page = open_storefront(browser, f'http://127.0.0.1:{site}', shop)
    page.fill('#token', issuer.issue([auth.CUSTOMER], email='ann@example.com'))
    state, error = page.locator('#cart-state'), page.locator('#error')
    for protocol in ('grpc-web', 'connect'):
        page.select_option('#protocol', protocol)
        desk = new_product(shop, issuer, f'Storefront desk ({protocol})', stock_quantity=3)
        new_cart(page)
        expect(state).to_have_text('OPEN')
        page.fill('#product-id', str(desk.id))
        page.fill('#quantity', '2')
        page.click('#add-to-cart')
        expect(page.locator('#cart-lines li')).to_have_text([f'{desk.name}: 2 × 24.00 USD = 48.00 USD (in stock)'])
        expect(page.locator('#cart-total')).to_have_text('48.00 USD')

        page.click('#checkout')
        expect(state).to_have_text(re.compile(r'CHECKING_OUT, held until \d\d:\d\d:\d\d'))
        expect(page.locator('#cart-lines li')).to_have_text([f'{desk.name}: 2 × 24.00 USD = 48.00 USD (held)'])
        assert stock_of(shop, desk.id) == 1, protocol
        page.click('#abandon')
        expect(state).to_have_text('ABANDONED')
        assert stock_of(shop, desk.id) == 3, protocol
        page.click('#checkout')  # an abandoned cart checks out again
        expect(state).to_have_text(re.compile('CHECKING_OUT'))
        assert stock_of(shop, desk.id) == 1, protocol

        page.evaluate("document.getElementById('order-status').value = ''")  # the last watch's PENDING, cleared
        page.click('#complete')
        expect(state).to_have_text(re.compile(r'COMPLETED, order \d+'))
        order_id = int(state.text_content().rsplit(' ', 1)[1])
        expect(page.locator('#order-status')).to_have_text('PENDING', timeout=LIVE_WAIT_MS)
        with grpc.insecure_channel(shop.orders) as channel:
            order = orders_pb2_grpc.OrderServiceStub(channel).GetOrder(orders_pb2.GetOrderRequest(id=order_id),
                                                                       metadata=as_admin(issuer))
        assert (order.customer_email, [(item.product_id, item.quantity) for item in order.items]) == (
            'ann@example.com', [(desk.id, 2)]), protocol
        assert stock_of(shop, desk.id) == 1, protocol  # taken by the order from the hold, not a second time
        expect(error).to_have_text('')

        new_cart(page)  # the same 2 units, of the 1 left
        page.click('#add-to-cart')
        expect(page.locator('#cart-lines li')).to_have_text(
            [f'{desk.name}: 2 × 24.00 USD = 48.00 USD (insufficient stock)'])
        page.click('#checkout')
        expect(error).to_have_text(f'FAILED_PRECONDITION: not enough stock for 1 line of the cart: product {desk.id} '
                                   f'({desk.name}): 2 in the cart, 1 available; nothing is held')
        expect(state).to_have_text('OPEN')
        assert stock_of(shop, desk.id) == 1, protocol


def orders_placed(shop, issuer):
    with grpc.insecure_channel(shop.orders) as channel:
        return orders_pb2_grpc.OrderServiceStub(channel).ListOrders(orders_pb2.ListOrdersRequest(page_size=1),
                                                                    metadata=as_admin(issuer)).total_size


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
