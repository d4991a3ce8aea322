"""The admin console (envoy/admin/) in a real browser, Debian's Chromium driven by Playwright, against the real system
behind the real Envoy: what an operator types and clicks, the values the page shows afterwards, and the changes that
other clients make while the page is open, which it shows as they happen.

One browser serves the module; each test gets a fresh browser context (no shared cookies or storage). The system is
shared too, so each test makes its own products, orders and carts (names and emails carry a unique tag); the test that
restarts Orders has a system of its own. A screenshot of each view goes to build/screenshots/admin-console/.
"""
import contextlib
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from google.protobuf import json_format
from playwright.sync_api import expect

from bench.processes import start_envoy
from scripts import tokens
from scripts.gateway import ADMIN_CONSOLE
from services import auth
from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import ROOT, RestClient
from tests.e2e.test_rest import (
    all_pages,
    create_product,
    get_order,
    get_product,
    order_body,
    place_order,
    stock,
    unique_tag,
)

# A browser is a client of the API, which the other suites test on both databases: the SQLite pass only.
pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]

SCREENSHOTS = ROOT / 'build' / 'screenshots' / 'admin-console'
# How long a change made elsewhere may take to show: Orders' feed polls every 0.2 s, Envoy and the page add little.
LIVE_WAIT_MS = 10_000
# A page whose watch broke tries again within 4 s; Envoy takes up to about 2 s to see a restarted Orders.
RECONNECT_WAIT_MS = 20_000
WATCH = re.compile(r'/api/orders/watch\b')
LISTING = re.compile(r'/api/orders(\?|/customer/)')


@pytest.fixture(scope='module')
def api(system):
    return RestClient(system.gateway)


@pytest.fixture(scope='module')
def orders_grpc(system):
    """OrderService over native gRPC on Orders' own port: a client other than the page and Envoy."""
    with grpc.insecure_channel(system.orders) as channel:
        yield orders_pb2_grpc.OrderServiceStub(channel)


@contextlib.contextmanager
def open_console(browser, gateway):
    """The console behind `gateway`, open on its first view in a fresh browser context. Confirmation prompts are
    accepted; a script error fails the test."""
    context = browser.new_context(base_url=f'http://{gateway}', viewport={'width': 1280, 'height': 800})
    page = context.new_page()
    page.on('dialog', lambda dialog: dialog.accept())
    script_errors = []
    page.on('pageerror', lambda error: script_errors.append(error))
    page.goto('/admin/')
    try:
        yield page
    finally:
        context.close()
    assert not script_errors, f'the page threw: {script_errors}'


@pytest.fixture
def console(browser, system):
    with open_console(browser, system.gateway) as page:
        yield page


def screenshot(page, view, full_page=True):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f'{view}.png', full_page=full_page)


def open_view(page, name):
    """Follow the view's link in the header; the view is the region its heading names."""
    page.get_by_role('navigation', name='Views').get_by_role('link', name=name).click()
    view = page.get_by_role('region', name=name)
    expect(view).to_be_visible()
    return view


def search(view, **fields):
    """Fill the view's filter form (labels as keys, '' to clear) and submit it; wait for the table to load."""
    form = view.locator('form.filters')
    for label, value in fields.items():
        field = form.get_by_label(label, exact=True)
        if field.evaluate('element => element.tagName') == 'SELECT':
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_role('button', name=re.compile('^(Search|Show)$')).click()
    expect(view).not_to_have_attribute('aria-busy', 'true')


def rows(view):
    return view.locator(':scope > table > tbody > tr')


def cells(row):
    """{cell name: text} of a table row: its elements marked data-cell, not those of a table nested in it."""
    return row.evaluate("row => Object.fromEntries([...row.querySelectorAll('[data-cell]')]"
                        "  .filter(cell => cell.closest('tr') === row)"
                        "  .map(cell => [cell.dataset.cell, cell.textContent]))")


def shown_ids(view):
    expect(view).not_to_have_attribute('aria-busy', 'true')
    return [row.get_attribute('data-id') for row in rows(view).all()]


def order_row(view, order_id):
    return view.locator(f':scope > table > tbody > tr[data-id="{order_id}"]')


def status_of(row):
    return row.locator('[data-cell="status"]')


def watch_state(view):
    """The indicator of the view's watch: Connecting…, Live or Reconnecting…"""
    return view.locator('.watch-state')


def requests_to(page, pattern):
    """The URLs of the page's requests that match `pattern`, from now on: a list that grows as the page sends them."""
    sent = []
    page.on('request', lambda request: sent.append(request.url) if pattern.search(request.url) else None)
    return sent


def events_of(api, order_id):
    """An order's history as the API lists it, newest first."""
    reply = api.get(f'/api/orders/{order_id}/events')
    assert reply.status == 200, reply
    return reply.body['events']


def product_dialog(page):
    return page.get_by_role('dialog')


def violation(reply):
    """The one field violation of a refusal: (field, description)."""
    assert reply.status == 400, reply
    [details] = [detail for detail in reply.body['details'] if detail['@type'].endswith('BadRequest')]
    [only] = details['field_violations']
    return only['field'], only['description']


# --- served by Envoy ----------------------------------------------------------------------------------------

@pytest.mark.parametrize('path, file, content_type', [
    ('/admin/', 'index.html', 'text/html; charset=utf-8'),
    ('/admin/admin.css', 'admin.css', 'text/css; charset=utf-8'),
    ('/admin/admin.js', 'admin.js', 'text/javascript; charset=utf-8'),
])
def test_envoy_serves_each_file_of_the_console_with_its_type(api, path, file, content_type):
    reply = api.get(path)
    assert reply.status == 200, reply
    assert reply.text == (ADMIN_CONSOLE / file).read_text()
    assert reply.headers['content-type'] == content_type
    assert reply.headers['cache-control'] == 'no-cache'
    assert reply.headers['x-content-type-options'] == 'nosniff'


def test_the_console_address_without_its_slash_redirects_and_the_page_allows_only_its_own_origin(api):
    reply = api.get('/admin')
    assert reply.status == 301 and reply.headers['location'].endswith('/admin/')
    policy = api.get('/admin/').headers['content-security-policy']
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


# --- products -----------------------------------------------------------------------------------------------

def test_a_product_created_in_the_console_is_listed_and_its_price_edited(console, api):
    tag = unique_tag()
    console.get_by_role('button', name='New product').click()
    dialog = product_dialog(console)
    dialog.get_by_label('Name').fill(f'Brass lamp {tag}')
    dialog.get_by_label('Description').fill('40 cm, dimmable')
    dialog.get_by_label('Price').fill('49.90')
    dialog.get_by_label('Units in stock').fill('12')
    dialog.get_by_label('Category').select_option('home')
    dialog.get_by_role('button', name='Save').click()
    expect(dialog).to_be_hidden()
    products = console.locator('#products')
    expect(products.get_by_role('status')).to_contain_text('Created product')

    search(products, **{'Name contains': tag})
    expect(rows(products)).to_have_count(1)
    [stored] = api.get(f'/api/products/search?q={tag}').body['products']
    assert {key: stored[key] for key in ('name', 'description', 'price', 'stock_quantity', 'category')} == {
        'name': f'Brass lamp {tag}', 'description': '40 cm, dimmable', 'price': '49.90', 'stock_quantity': 12,
        'category': 'HOME'}
    row = rows(products).first
    assert cells(row) | {'updated': ''} == {'id': stored['id'], 'name': f'Brass lamp {tag}', 'category': 'home',
                                            'price': '49.90 USD', 'stock': '12', 'updated': ''}

    # A bad price: the server's own message, next to the price field, and nothing saved.
    row.get_by_role('button', name=f'Edit Brass lamp {tag}').click()
    price = dialog.get_by_label('Price')
    price.fill('-5')
    dialog.get_by_role('button', name='Save').click()
    field, refusal = violation(api.patch(f'/api/products/{stored["id"]}?update_mask=price', {'price': '-5'}))
    assert field == 'price'
    expect(price).to_have_attribute('aria-invalid', 'true')
    expect(price).to_have_accessible_description(refusal)
    expect(dialog.get_by_label('Name')).not_to_have_attribute('aria-invalid', 'true')
    expect(dialog).to_be_visible()
    screenshot(console, 'product-form')
    assert get_product(api, stored['id'])['price'] == '49.90'

    # Meanwhile an order takes 2 units: saving the new price must not write the old stock back.
    place_order(api, [(stored['id'], 2)])
    price.fill('54.25')
    dialog.get_by_role('button', name='Save').click()
    expect(dialog).to_be_hidden()
    expect(row.locator('[data-cell="price"]')).to_have_text('54.25 USD')
    expect(row.locator('[data-cell="stock"]')).to_have_text('10')
    assert {key: get_product(api, stored['id'])[key] for key in ('price', 'stock_quantity')} == {
        'price': '54.25', 'stock_quantity': 10}
    screenshot(console, 'products')


def test_products_are_filtered_and_paged_with_the_api_page_tokens(console, api):
    tag = unique_tag()
    made = [create_product(api, name=f'Shelf {tag} {index:02}', price=f'{10 + index}.50',
                           category=('books', 'toys')[index % 2]) for index in range(45)]
    pages = [[product['id'] for product in made[start:start + 20]] for start in (0, 20, 40)]
    products = console.locator('#products')
    status = products.get_by_role('status')
    previous = products.get_by_role('button', name='Previous page')
    following = products.get_by_role('button', name='Next page')

    search(products, **{'Name contains': tag})
    expect(status).to_have_text('Products: 1–20 of 45.')
    assert shown_ids(products) == pages[0]
    expect(previous).to_be_disabled()
    following.click()
    expect(status).to_have_text('Products: 21–40 of 45.')
    following.click()
    expect(status).to_have_text('Products: 41–45 of 45.')
    assert shown_ids(products) == pages[2]
    expect(following).to_be_disabled()
    previous.click()
    expect(status).to_have_text('Products: 21–40 of 45.')
    assert shown_ids(products) == pages[1]
    previous.click()
    expect(status).to_have_text('Products: 1–20 of 45.')
    assert shown_ids(products) == pages[0]

    search(products, Category='books', **{'Lowest price': '15', 'Highest price': '25.50'})
    expected = [product['id'] for product in made
                if product['category'] == 'BOOKS' and Decimal('15') <= Decimal(product['price']) <= Decimal('25.50')]
    assert shown_ids(products) == expected and expected
    assert {cells(row)['price'] for row in rows(products).all()} <= {f"{product['price']} USD" for product in made}

    lowest = products.get_by_label('Lowest price')
    search(products, **{'Lowest price': 'abc'})
    _field, refusal = violation(api.get(f'/api/products/search?q={tag}&min_price=abc'))
    expect(lowest).to_have_attribute('aria-invalid', 'true')
    expect(lowest).to_have_accessible_description(refusal)
    expect(rows(products)).to_have_count(0)


def test_a_product_deleted_in_the_console_is_gone(console, api):
    tag = unique_tag()
    product = create_product(api, name=f'Old stock {tag}')
    products = console.locator('#products')
    search(products, **{'Name contains': tag})
    products.get_by_role('button', name=f'Delete Old stock {tag}').click()
    expect(products.get_by_role('status')).to_contain_text(f'Deleted product {product["id"]}')
    expect(rows(products)).to_have_count(0)
    assert api.get(f'/api/products/{product["id"]}').status == 404


# --- orders -------------------------------------------------------------------------------------------------

def test_an_order_is_shown_with_its_items_advanced_and_cancelled_and_its_stock_comes_back(console, api):
    tag = unique_tag()
    product = create_product(api, name=f'Kettle {tag}', price='19.99', stock_quantity=10)
    email = f'{tag.lower()}@example.com'
    order = place_order(api, [(product['id'], 3)], email=email, name='Ada Lovelace')
    assert stock(api, product['id']) == 7

    orders = open_view(console, 'Orders')
    search(orders, **{'Customer email': email})
    expect(orders.get_by_label('Status')).to_be_disabled()
    assert shown_ids(orders) == [order['id']]
    row = rows(orders).first
    assert cells(row) | {'placed': ''} == {'id': order['id'], 'customer': 'Ada Lovelace', 'email': email,
                                           'status': 'pending', 'total': '59.97 USD', 'item-count': '1 item',
                                           'placed': ''}
    row.get_by_text('1 item').click()
    item = row.locator('.items tbody tr')
    expect(item).to_have_count(1)
    assert cells(item) == {'product': f'Kettle {tag} (product {product["id"]})', 'price': '19.99 USD', 'quantity': '3',
                           'subtotal': '59.97 USD'}
    screenshot(console, 'orders')

    row.get_by_role('button', name=f'Advance order {order["id"]} to processing').click()
    row = orders.locator(f'tr[data-id="{order["id"]}"]')
    expect(row.locator('[data-cell="status"]')).to_have_text('processing')
    assert get_order(api, order['id'])['status'] == 'PROCESSING'

    row.get_by_role('button', name=f'Cancel order {order["id"]}').click()
    expect(row.locator('[data-cell="status"]')).to_have_text('cancelled')
    expect(row.get_by_role('button')).to_have_count(0)
    assert get_order(api, order['id'])['status'] == 'CANCELLED'

    # Listed among the cancelled orders (newest first), and the stock is back on the products page.
    orders.get_by_role('button', name='Clear').click()
    search(orders, Status='cancelled')
    assert order['id'] in shown_ids(orders)
    assert {cells(row)['status'] for row in rows(orders).all()} == {'cancelled'}
    products = open_view(console, 'Products')
    search(products, **{'Name contains': tag})
    expect(products.locator('[data-cell="stock"]')).to_have_text(['10'])


def test_a_move_the_workflow_forbids_is_refused_with_the_servers_reason(console, api):
    tag = unique_tag()
    product = create_product(api, name=f'Tent {tag}', stock_quantity=5)
    email = f'{tag.lower()}@example.com'
    order = place_order(api, [(product['id'], 2)], email=email)
    # This page's watch cannot get through, so it does not hear of the other operator's change before the click,
    # as when the change and the click cross.
    console.route(WATCH, lambda route: route.abort())
    orders = open_view(console, 'Orders')
    search(orders, **{'Customer email': email})
    expect(orders.locator('[data-cell="status"]')).to_have_text(['pending'])

    # Another operator ships the order while this page still shows it pending; then this one cancels it.
    for status in ('processing', 'shipped'):
        assert api.patch(f'/api/orders/{order["id"]}/status', {'status': status}).status == 200
    orders.get_by_role('button', name=f'Cancel order {order["id"]}').click()
    refusal = api.post(f'/api/orders/{order["id"]}/cancel')
    assert refusal.status == 400, refusal
    row = orders.locator(f'tr[data-id="{order["id"]}"]')
    expect(row.get_by_role('alert')).to_have_text(refusal.body['message'])
    # The row now shows the order as it is, with the one move left.
    expect(row.locator('[data-cell="status"]')).to_have_text('shipped')
    expect(row.get_by_role('button')).to_have_text(['Advance to delivered'])
    assert stock(api, product['id']) == 3


# --- live updates and history -------------------------------------------------------------------------------

def test_orders_placed_and_changed_by_other_clients_show_in_the_open_view_without_a_reload(console, api, orders_grpc):
    tag = unique_tag()
    product = create_product(api, name=f'Mug {tag}', price='12.50', stock_quantity=20)
    email = f'{tag.lower()}@example.com'
    earlier = place_order(api, [(product['id'], 1)], email=email)
    orders = open_view(console, 'Orders')
    search(orders, **{'Customer email': email})
    assert shown_ids(orders) == [earlier['id']]
    expect(watch_state(orders)).to_have_text('Live')
    listings = requests_to(console, LISTING)

    # Another customer's order is not this listing's; this customer's new one comes in at the top.
    place_order(api, [(product['id'], 1)], email=f'other.{email}')
    placed = place_order(api, [(product['id'], 2)], email=email, name='Grace Hopper')
    expect(rows(orders)).to_have_count(2, timeout=LIVE_WAIT_MS)
    assert shown_ids(orders) == [placed['id'], earlier['id']]
    expect(orders.locator('.view-status')).to_have_text('Orders: 1–2 of 2.')
    row = order_row(orders, placed['id'])
    assert cells(row) | {'placed': ''} == {'id': placed['id'], 'customer': 'Grace Hopper', 'email': email,
                                           'status': 'pending', 'total': '25.00 USD', 'item-count': '1 item',
                                           'placed': ''}

    # Each status change, over REST or over gRPC, shows in its row, with the buttons of the new status.
    for status in ('processing', 'shipped'):
        assert api.patch(f'/api/orders/{placed["id"]}/status', {'status': status}).status == 200
        expect(status_of(row)).to_have_text(status, timeout=LIVE_WAIT_MS)
    expect(row.get_by_role('button')).to_have_text(['Advance to delivered'])
    orders_grpc.CancelOrder(orders_pb2.CancelOrderRequest(id=int(earlier['id'])), timeout=10)
    expect(status_of(order_row(orders, earlier['id']))).to_have_text('cancelled', timeout=LIVE_WAIT_MS)
    expect(order_row(orders, earlier['id']).get_by_role('button')).to_have_count(0)
    assert listings == [], 'the page listed the orders again instead of following its watch'


def test_with_a_status_filter_an_order_entering_it_comes_in_and_a_listed_one_stays_as_it_moves_on(console, api):
    product = create_product(api, stock_quantity=20)
    orders = open_view(console, 'Orders')
    search(orders, Status='processing')
    expect(watch_state(orders)).to_have_text('Live')

    pending = place_order(api, [(product['id'], 1)])
    moved = place_order(api, [(product['id'], 1)])
    assert api.patch(f'/api/orders/{moved["id"]}/status', {'status': 'processing'}).status == 200
    expect(rows(orders).first).to_have_attribute('data-id', moved['id'], timeout=LIVE_WAIT_MS)
    assert pending['id'] not in shown_ids(orders)

    # Out of the filter's status, the order stays where the operator saw it, as it now is.
    assert api.patch(f'/api/orders/{moved["id"]}/status', {'status': 'shipped'}).status == 200
    expect(status_of(order_row(orders, moved['id']))).to_have_text('shipped', timeout=LIVE_WAIT_MS)
    assert shown_ids(orders)[0] == moved['id']


@pytest.fixture
def restartable_orders(run_service, database_url, tmp_path):
    """Products, an Orders that the test may kill and start again on its port, and Envoy in front of them:
    (the Orders RestartableService, the gateway's address)."""
    products = run_service('products', database_url('products'))
    orders = run_service('orders', database_url('orders'), ['--products-address', products.address])
    envoy, gateway, _admin = start_envoy(tmp_path, products.address, orders.address)
    try:
        yield orders, gateway
    finally:
        envoy.stop()


def test_a_watch_broken_by_a_restart_of_orders_resumes_after_its_last_change_and_misses_none(
        browser, restartable_orders):
    orders_service, gateway = restartable_orders
    api = RestClient(gateway)
    product = create_product(api, stock_quantity=10)
    order = place_order(api, [(product['id'], 1)])
    with open_console(browser, gateway) as page:
        orders = open_view(page, 'Orders')
        row = order_row(orders, order['id'])
        expect(watch_state(orders)).to_have_text('Live')
        assert api.patch(f'/api/orders/{order["id"]}/status', {'status': 'processing'}).status == 200
        expect(status_of(row)).to_have_text('processing', timeout=LIVE_WAIT_MS)
        last_received = events_of(api, order['id'])[0]

        # Orders goes down, and the page may not watch again until changes have been made without it.
        watches = requests_to(page, WATCH)
        page.route(WATCH, lambda route: route.abort())
        orders_service.kill()
        expect(watch_state(orders)).to_have_text('Reconnecting…', timeout=LIVE_WAIT_MS)
        orders_service.restart()
        with grpc.insecure_channel(orders_service.address) as channel:
            stub = orders_pb2_grpc.OrderServiceStub(channel)
            stub.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(
                id=int(order['id']), status=orders_pb2.Order.SHIPPED), timeout=10)
            newer = stub.CreateOrder(json_format.ParseDict(order_body([(product['id'], 2)]),
                                                           orders_pb2.CreateOrderRequest()), timeout=10)
        page.unroute(WATCH)

        expect(status_of(row)).to_have_text('shipped', timeout=RECONNECT_WAIT_MS)
        expect(order_row(orders, newer.id)).to_be_visible(timeout=LIVE_WAIT_MS)
        expect(watch_state(orders)).to_have_text('Live')
        assert shown_ids(orders) == [str(newer.id), order['id']]
        assert watches, 'the page did not watch again'
        assert {parse_qs(urlsplit(url).query)['after_event_id'][0] for url in watches} == {last_received['id']}


def test_an_orders_history_lists_its_changes_newest_first_with_their_request_ids_as_they_happen(
        console, api, orders_grpc):
    tag = unique_tag()
    product = create_product(api, name=f'Lamp {tag}', stock_quantity=5)
    email = f'{tag.lower()}@example.com'
    order = place_order(api, [(product['id'], 2)], email=email)
    orders = open_view(console, 'Orders')
    search(orders, **{'Customer email': email})
    row = order_row(orders, order['id'])
    row.get_by_text('1 item').click()
    history = row.locator('.history tbody tr')
    expect(history).to_have_count(1)

    # Other clients move the order while its history is open: each change joins it, with the request that made it.
    advanced_by, cancelled_by = f'advance-{tag}', f'cancel-{tag}'
    assert api.patch(f'/api/orders/{order["id"]}/status', {'status': 'processing'},
                     headers={'x-request-id': advanced_by}).status == 200
    expect(history).to_have_count(2, timeout=LIVE_WAIT_MS)
    orders_grpc.CancelOrder(orders_pb2.CancelOrderRequest(id=int(order['id'])),
                            metadata=[('x-request-id', cancelled_by)], timeout=10)
    expect(status_of(row)).to_have_text('cancelled', timeout=LIVE_WAIT_MS)
    expect(history).to_have_count(3)
    events = events_of(api, order['id'])
    assert [cells(event) | {'time': ''} for event in history.all()] == [
        {'time': '', 'change': 'processing → cancelled', 'request': cancelled_by, 'by': ''},
        {'time': '', 'change': 'pending → processing', 'request': advanced_by, 'by': ''},
        {'time': '', 'change': 'placed → pending', 'request': events[2]['request_id'], 'by': ''}]
    assert [event.locator('time').get_attribute('datetime') for event in history.all()] == [
        event['time'] for event in events]
    screenshot(console, 'order-history')


# --- low stock ----------------------------------------------------------------------------------------------

def test_the_low_stock_view_lists_exactly_the_products_below_the_threshold(console, api):
    tag = unique_tag()
    made = {units: create_product(api, name=f'Battery {tag} x{units}', stock_quantity=units)['id']
            for units in (0, 2, 4, 5, 7)}
    low = open_view(console, 'Low stock')
    search(low, **{'Fewer units than': '5'})
    shown = []
    while True:
        shown += [(row.get_attribute('data-id'), int(cells(row)['stock'])) for row in rows(low).all()]
        following = low.get_by_role('button', name='Next page')
        if following.is_disabled():
            break
        page_label = low.locator('.page-label').text_content()
        following.click()
        expect(low.locator('.page-label')).not_to_have_text(page_label)
    everything = all_pages(api, '/api/products', 'products', page_size=100)
    assert sorted(shown) == sorted((product['id'], product['stock_quantity']) for product in everything
                                   if product['stock_quantity'] < 5)
    assert {made[0], made[2], made[4]} <= {product_id for product_id, _units in shown}
    assert not {made[5], made[7]} & {product_id for product_id, _units in shown}
    screenshot(console, 'low-stock')

    # Restocked from this view, a product leaves it.
    low.get_by_role('button', name=f'Edit Battery {tag} x0').click()
    dialog = product_dialog(console)
    dialog.get_by_label('Units in stock').fill('40')
    dialog.get_by_role('button', name='Save').click()
    expect(low.get_by_role('status')).to_contain_text(f'Saved product {made[0]}')
    assert made[0] not in shown_ids(low)
    assert stock(api, made[0]) == 40

    threshold = low.get_by_label('Fewer units than')
    search(low, **{'Fewer units than': '-1'})
    _field, refusal = violation(api.get('/api/products/search?stock_below=-1'))
    expect(threshold).to_have_attribute('aria-invalid', 'true')
    expect(threshold).to_have_accessible_description(refusal)
    search(low, **{'Fewer units than': ''})
    expect(threshold).to_have_accessible_description('enter a number of units, 0 or more')


# --- carts --------------------------------------------------------------------------------------------------

CHECKOUT = {'customer_name': 'Ada Lovelace', 'shipping_address': '12 Analytical Row, London'}
CARTS = re.compile(r'/api/carts\b')


def cart_with(api, email, lines):
    """A new open cart of `email` holding `lines`, (product_id, quantity) pairs."""
    reply = api.post('/api/carts', {'customer_email': email})
    assert reply.status == 201, reply
    cart_id = reply.body['id']
    for product_id, quantity in lines:
        reply = api.post(f'/api/carts/{cart_id}/items', {'product_id': product_id, 'quantity': quantity})
        assert reply.status == 200, reply
    return reply.body


def cart_step(api, cart, step, body=None):
    """POST /api/carts/{id}/{step}: checkout (with CHECKOUT), complete or abandon; the API's answer."""
    reply = api.post(f'/api/carts/{cart["id"]}/{step}', body if body is not None else {})
    assert reply.status == 200, reply
    return reply.body


def cart_row(view, cart_id):
    return view.locator(f':scope > table > tbody > tr[data-id="{cart_id}"]')


def test_carts_in_every_state_are_listed_filtered_and_opened_and_an_abandoned_checkout_gives_its_stock_back(
        console, api):
    tag = unique_tag()
    lamp = create_product(api, name=f'Brass lamp {tag}', price='12.50', stock_quantity=10)
    pen = create_product(api, name=f'Fountain pen {tag}', price='2.00', stock_quantity=50)
    email = f'{tag.lower()}@example.com'
    browsing = cart_with(api, email, [(lamp['id'], 1), (pen['id'], 3)])
    paying = cart_step(api, cart_with(api, email, [(lamp['id'], 2)]), 'checkout', CHECKOUT)
    bought = cart_with(api, email, [(pen['id'], 1)])
    cart_step(api, bought, 'checkout', CHECKOUT)
    order = cart_step(api, bought, 'complete')
    walked_away = cart_with(api, email, [(lamp['id'], 1)])
    cart_step(api, walked_away, 'checkout', CHECKOUT)
    cart_step(api, walked_away, 'abandon')
    other = cart_with(api, f'other.{email}', [(pen['id'], 1)])
    assert stock(api, lamp['id']) == 8  # held for the checkout under way
    # The page's clock, which the view's countdown reads, moves when the test says (and on its own meanwhile).
    console.clock.install()

    carts = open_view(console, 'Carts')
    state = carts.get_by_label('State', exact=True)
    expect(state.locator('option')).to_have_text(
        ['Any state', 'open', 'checking out', 'completed', 'abandoned', 'expired'])
    # Every customer's carts, newest first: this test's are the newest.
    assert shown_ids(carts)[:5] == [other['id'], walked_away['id'], bought['id'], paying['id'], browsing['id']]

    # One customer's, in every state, each with its cells.
    search(carts, **{'Customer email': email})
    assert shown_ids(carts) == [walked_away['id'], bought['id'], paying['id'], browsing['id']]
    expect(carts.locator('.view-status')).to_have_text('Carts: 1–4 of 4.')
    shown = {row.get_attribute('data-id'): cells(row) | {'updated': ''} for row in rows(carts).all()}
    common = {'email': email, 'customer': 'Ada Lovelace', 'updated': '', 'line-count': '1 line'}
    assert shown == {
        browsing['id']: {**common, 'id': browsing['id'], 'customer': '', 'state': 'open', 'total': '18.50 USD',
                         'checkout': '', 'line-count': '2 lines'},
        paying['id']: {**common, 'id': paying['id'], 'state': 'checking out', 'total': '25.00 USD',
                       'checkout': shown[paying['id']]['checkout']},
        bought['id']: {**common, 'id': bought['id'], 'state': 'completed', 'total': '2.00 USD',
                       'checkout': f'order {order["id"]}'},
        walked_away['id']: {**common, 'id': walked_away['id'], 'state': 'abandoned', 'total': '12.50 USD',
                            'checkout': ''}}
    for cart in (browsing, bought, walked_away):
        expect(cart_row(carts, cart['id']).get_by_role('button')).to_have_count(0)

    # A row opens on its lines: each product, its price and quantity, and whether the cart can have it.
    browsing_row, paying_row = cart_row(carts, browsing['id']), cart_row(carts, paying['id'])
    browsing_row.get_by_text('2 lines').click()
    assert [cells(line) for line in browsing_row.locator('.items tbody tr').all()] == [
        {'product': f'Brass lamp {tag} (product {lamp["id"]})', 'price': '12.50 USD', 'quantity': '1',
         'subtotal': '12.50 USD', 'availability': 'in stock'},
        {'product': f'Fountain pen {tag} (product {pen["id"]})', 'price': '2.00 USD', 'quantity': '3',
         'subtotal': '6.00 USD', 'availability': 'in stock'}]
    paying_row.get_by_text('1 line').click()
    held = paying_row.locator('.items tbody tr')
    assert [cells(line) for line in held.all()] == [
        {'product': f'Brass lamp {tag} (product {lamp["id"]})', 'price': '12.50 USD', 'quantity': '2',
         'subtotal': '25.00 USD', 'availability': 'held'}]
    screenshot(console, 'carts')

    # Checkouts under way: the one, with when its hold ends and how long it has left, counted down by the page.
    search(carts, State='checking_out')
    assert shown_ids(carts) == [paying['id']]
    checkout = paying_row.locator('[data-cell="checkout"]')
    expect(checkout.locator('time')).to_have_attribute('datetime', paying['hold_expires_at'])
    expect(checkout).to_have_text(re.compile(r'^expires \d{1,2}:\d\d:\d\d\D* · \d+ min left$'))
    left = int(re.search(r'(\d+) min left$', checkout.text_content())[1])
    assert 10 <= left <= 14  # a 15-minute hold, taken moments ago
    asked = requests_to(console, CARTS)
    console.clock.fast_forward('05:00')
    expect(checkout).to_have_text(re.compile(rf' · ({left - 5}|{left - 6}) min left$'))
    assert asked == [], 'the page asked the API again to count down'

    # Abandoned from the console, after a yes: the row shows the cart as it now is, and the held stock is back.
    questions = []
    console.on('dialog', lambda dialog: questions.append(dialog.message))
    paying_row.get_by_role('button', name=f'Abandon checkout of cart {paying["id"]}').click()
    expect(paying_row.locator('[data-cell="state"]')).to_have_text('abandoned')
    assert questions and questions[0].startswith(f'Abandon the checkout of cart {paying["id"]} ({email})?')
    expect(paying_row.get_by_role('button')).to_have_count(0)
    expect(checkout).to_have_text('')
    expect(held.locator('[data-cell="availability"]')).to_have_text(['in stock'])
    assert api.get(f'/api/carts/{paying["id"]}').body['state'] == 'ABANDONED'
    assert stock(api, lamp['id']) == 10
    assert shown_ids(carts) == [paying['id']]  # stays where the operator saw it, out of the filter's state

    search(carts, State='abandoned')
    assert shown_ids(carts) == [walked_away['id'], paying['id']]  # newest first: in the order they were made
    search(carts, State='expired')
    expect(rows(carts)).to_have_count(0)
    expect(carts.locator('.view-status')).to_have_text('Carts: none.')


def test_abandoning_a_checkout_completed_meanwhile_shows_the_refusal_next_to_the_cart_as_it_is(console, api):
    tag = unique_tag()
    product = create_product(api, name=f'Desk {tag}', stock_quantity=3)
    email = f'{tag.lower()}@example.com'
    cart = cart_step(api, cart_with(api, email, [(product['id'], 1)]), 'checkout', CHECKOUT)
    carts = open_view(console, 'Carts')
    search(carts, State='checking_out', **{'Customer email': email})
    row = cart_row(carts, cart['id'])
    expect(row.locator('[data-cell="state"]')).to_have_text('checking out')

    # The customer pays while the page still shows the checkout under way; then the operator abandons it.
    order = cart_step(api, cart, 'complete')
    row.get_by_role('button', name=f'Abandon checkout of cart {cart["id"]}').click()
    refusal = api.post(f'/api/carts/{cart["id"]}/abandon', {})
    assert refusal.status == 400, refusal
    expect(row.get_by_role('alert')).to_have_text(refusal.body['message'])
    expect(row.locator('[data-cell="state"]')).to_have_text('completed')
    expect(row.locator('[data-cell="checkout"]')).to_have_text(f'order {order["id"]}')
    expect(row.get_by_role('button')).to_have_count(0)
    assert stock(api, product['id']) == 2

    # A bad email is refused next to its field.
    email_field = carts.get_by_label('Customer email')
    search(carts, **{'Customer email': 'not an email'})
    _field, message = violation(api.get('/api/carts?customer_email=not%20an%20email'))
    expect(email_field).to_have_attribute('aria-invalid', 'true')
    expect(email_field).to_have_accessible_description(message)


# --- stock movements ----------------------------------------------------------------------------------------

def test_a_products_stock_movements_show_what_orders_and_edits_did_and_add_up_to_its_stock(console, api):
    tag = unique_tag()
    product = create_product(api, name=f'Teapot {tag}', stock_quantity=10)
    first = place_order(api, [(product['id'], 3)])
    assert api.post(f'/api/orders/{first["id"]}/cancel').status == 200
    place_order(api, [(product['id'], 2)])
    for units in range(9, 30):  # 21 edits, one unit each: 24 movements in all, two pages
        assert api.patch(f'/api/products/{product["id"]}', {'stock_quantity': units}).status == 200

    products = console.locator('#products')
    search(products, **{'Name contains': tag})
    products.get_by_role('button', name=f'Stock movements of Teapot {tag}').click()
    dialog = console.get_by_role('dialog', name='Stock movements')
    status = dialog.locator('.view-status')
    movements = dialog.locator(':scope > table > tbody > tr')
    expect(status).to_have_text('Movements: 1–20 of 24.')
    shown = [cells(movement) for movement in movements.all()]
    dialog.get_by_role('button', name='Next page').click()
    expect(status).to_have_text('Movements: 21–24 of 24.')
    shown += [cells(movement) for movement in movements.all()]
    screenshot(console, 'stock-movements', full_page=False)

    # Newest first: the order's units taken and given back, the second order's, then the edits.
    assert [(movement['reason'], movement['delta'], movement['stock']) for movement in shown[-4:]] == [
        ('adjusted', '+1', '8 → 9'), ('reserved', '−2', '10 → 8'), ('released', '+3', '7 → 10'),
        ('reserved', '−3', '10 → 7')]
    assert sum(int(movement['delta'].replace('−', '-')) for movement in shown) == stock(api, product['id']) - 10
    listed = all_pages(api, f'/api/products/{product["id"]}/stock-movements', 'movements', page_size=100)
    assert [(movement['reservation'], movement['request']) for movement in shown] == [
        (movement['reservation_id'], movement['request_id']) for movement in listed]
    # The first order's units went and came back under its reservation, each with the request of its order's change.
    cancelled, placed = events_of(api, first['id'])
    assert (shown[-1]['request'], shown[-2]['request']) == (placed['request_id'], cancelled['request_id'])
    assert shown[-1]['reservation'] == shown[-2]['reservation'] != shown[-3]['reservation']

    dialog.get_by_role('button', name='Close').click()
    expect(dialog).to_be_hidden()


def test_a_checkouts_stock_movements_name_its_cart_and_the_order_it_became(console, api):
    tag = unique_tag()
    product = create_product(api, name=f'Inkwell {tag}', stock_quantity=5)
    place_order(api, [(product['id'], 1)])
    cart = cart_step(api, cart_with(api, f'{tag.lower()}@example.com', [(product['id'], 2)]), 'checkout', CHECKOUT)
    order = cart_step(api, cart, 'complete')

    products = console.locator('#products')
    search(products, **{'Name contains': tag})
    products.get_by_role('button', name=f'Stock movements of Inkwell {tag}').click()
    dialog = console.get_by_role('dialog', name='Stock movements')
    expect(dialog.locator('.view-status')).to_have_text('Movements: 1–3 of 3.')
    shown = [cells(movement) for movement in dialog.locator(':scope > table > tbody > tr').all()]
    # The hold became the order without moving a unit; an order placed directly has no checkout.
    assert [(movement['reason'], movement['delta'], movement['stock'], movement['cart']) for movement in shown] == [
        ('ordered', '0', '2 → 2', f'cart {cart["id"]} → order {order["id"]}'),
        ('held', '−2', '4 → 2', f'cart {cart["id"]}'),
        ('reserved', '−1', '5 → 4', '')]


# --- tokens ----------------------------------------------------------------------------------------------------

def test_where_tokens_are_checked_the_console_sends_the_one_it_is_given(browser, secure_system, auth_keys):
    issuer = auth.TokenIssuer.from_config(auth_keys / tokens.SIGNING_KEY)
    admin = (('authorization', f'Bearer {issuer.issue([auth.ADMIN])}'),)
    with grpc.insecure_channel(secure_system.products) as channel:
        product = products_pb2_grpc.ProductServiceStub(channel).CreateProduct(products_pb2.CreateProductRequest(
            product=products_pb2.Product(name='Lamp', price='19.90', stock_quantity=5,
                                         category=products_pb2.Product.HOME)), metadata=admin)
    with grpc.insecure_channel(secure_system.orders) as channel:
        order = orders_pb2_grpc.OrderServiceStub(channel).CreateOrder(orders_pb2.CreateOrderRequest(
            customer_name='Ann', customer_email='ann@example.com', shipping_address='1 Road',
            items=[orders_pb2.OrderItemRequest(product_id=product.id, quantity=1)]), metadata=admin)
    with open_console(browser, secure_system.gateway) as page:
        orders = open_view(page, 'Orders')
        expect(orders.locator('form.filters .form-error')).to_contain_text('needs a bearer token')
        form = page.get_by_role('form', name='Access token')
        form.get_by_label('Token').fill(f'Bearer {issuer.issue([auth.ADMIN])}')
        form.get_by_role('button', name='Use').click()
        expect(form.get_by_role('status')).to_have_text('token set')
        expect(order_row(orders, order.id)).to_be_visible()
        expect(watch_state(orders)).to_have_text('Live')
        # A customer's token is not enough for the console's listing of every order.
        form.get_by_label('Token').fill(issuer.issue([auth.CUSTOMER], email='ann@example.com'))
        form.get_by_role('button', name='Use').click()
        expect(orders.locator('form.filters .form-error')).to_contain_text('may not make this call')
