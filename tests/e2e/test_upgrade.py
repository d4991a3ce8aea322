"""An upgrade from the last release before migrations: its services fill both databases through the API, the
current services adopt them at start-up, and every row, search and stock figure reads back the same."""
import json
import subprocess
import sys
import uuid

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from google.protobuf import field_mask_pb2

from bench.processes import ROOT, start_service
from storage import schema
from tests.conftest import new_product
from tests.stock_checks import all_orders, assert_stock_conserved, order_request

pytestmark = pytest.mark.e2e

# The last commit before versioned migrations (44d6abd): the release whose databases have no schema_migration
# table and are adopted at start-up. Pinned, not HEAD~n, so the test keeps upgrading from that release as
# migrations are added after it.
PREVIOUS_RELEASE = 'c17610b'
Status = orders_pb2.Order.Status
Product = products_pb2.Product
PRODUCTS = [  # name, price, stock, category
    ('Wireless Mouse', '19.99', 40, Product.ELECTRONICS),
    ('Crème brûlée torch', '24.50', 30, Product.HOME),
    ('Straße map of München', '7.25', 25, Product.BOOKS),
    ('ÉCHARPE en laine', '35.00', 20, Product.CLOTHING),
    ('日本茶 sencha', '12.00', 50, Product.OTHER),
    ('Ελληνικό μέλι', '9.90', 15, Product.OTHER),
]
QUERIES = ['mouse', 'crème', 'CRÈME', 'strasse', 'straße', 'écharpe', '日本', 'μέλι', 'ΜΈΛΙ', 'e', '']
# Each order's steps after placement, so that every status is reached and some cancellations give stock back.
STEPS = {
    'pending': [],
    'processing': [Status.PROCESSING],
    'shipped': [Status.PROCESSING, Status.SHIPPED],
    'delivered': [Status.PROCESSING, Status.SHIPPED, Status.DELIVERED],
    'cancelled at once': ['cancel'],
    'cancelled while processing': [Status.PROCESSING, 'cancel'],
}


def git(*args):
    return subprocess.run(['git', *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope='module')
def previous_release(tmp_path_factory):
    """A worktree of PREVIOUS_RELEASE with its generated code, built by its own Makefile in our virtual
    environment; removed at the end."""
    if git('cat-file', '-e', f'{PREVIOUS_RELEASE}^{{commit}}').returncode:
        pytest.skip(f'commit {PREVIOUS_RELEASE} (the release before migrations) is not in this clone (shallow?)')
    worktree = tmp_path_factory.mktemp('previous-release') / 'tree'
    added = git('worktree', 'add', '--detach', str(worktree), PREVIOUS_RELEASE)
    assert added.returncode == 0, added.stderr
    try:
        (worktree / '.venv').symlink_to(ROOT / '.venv')
        # -o: the old release's setup.cfg is newer than our .venv/.installed; without it make would reinstall the
        # package from the worktree into our virtual environment.
        built = subprocess.run(['make', '-C', str(worktree), '-o', '.venv/.installed', 'all'],
                               capture_output=True, text=True)
        assert built.returncode == 0, built.stdout + built.stderr
        yield worktree
    finally:
        git('worktree', 'remove', '--force', str(worktree))


class Services:
    """Products and Orders as subprocesses of one checkout on two databases; stop() ends both (SIGTERM)."""

    def __init__(self, folder, urls, cwd=ROOT, flags=()):
        self.processes = []
        try:
            process, self.products = start_service('products', urls['products'], folder, list(flags), cwd=cwd)
            self.processes.append(process)
            process, self.orders = start_service('orders', urls['orders'], folder,
                                                 ['--products-address', self.products, *flags], cwd=cwd)
            self.processes.append(process)
        except Exception:
            self.stop()
            raise

    def stop(self):
        for process in reversed(self.processes):
            process.stop()

    def log(self):
        return ''.join(process.log() for process in self.processes)

    def __enter__(self):
        self._channels = [grpc.insecure_channel(self.products), grpc.insecure_channel(self.orders)]
        return (products_pb2_grpc.ProductServiceStub(self._channels[0]),
                orders_pb2_grpc.OrderServiceStub(self._channels[1]))

    def __exit__(self, *exc):
        for channel in self._channels:
            channel.close()
        self.stop()


def fill(products_stub, orders_stub):
    """Products, orders in every status, cancellations and idempotency keys, through the API; returns
    (initial stock by product id, {request_id: its CreateOrderRequest})."""
    products = [new_product(products_stub, name=name, price=price, stock=stock, category=category,
                            description=f'{name}: a description') for name, price, stock, category in PRODUCTS]
    # A rename after creation: its folded search name must follow.
    renamed = products_stub.UpdateProduct(products_pb2.UpdateProductRequest(
        product=products_pb2.Product(id=products[0].id, name='Souris sans fil — Wireless Mouse', price='18.75'),
        update_mask=field_mask_pb2.FieldMask(paths=['name', 'price'])))
    assert renamed.name.startswith('Souris')
    initial = {product.id: product.stock_quantity for product in products}
    placed = {}
    for round_number in range(2):
        for index, (label, steps) in enumerate(STEPS.items()):
            items = [(products[(index + offset + round_number) % len(products)].id, 1 + offset) for offset in range(3)]
            request = order_request(items, email=f'Buyer{index}.{round_number}@Example.com')
            request.request_id = str(uuid.uuid4())
            order = orders_stub.CreateOrder(request, metadata=[('x-request-id', f'place-{label}-{round_number}')])
            for step in steps:
                metadata = [('x-request-id', f'{step}-{order.id}')]
                if step == 'cancel':
                    orders_stub.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=metadata)
                else:
                    orders_stub.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(id=order.id, status=step),
                                                  metadata=metadata)
            placed[request.request_id] = request
    return initial, placed


def paged(call, request, field):
    """Every item of a paged listing, page by page."""
    items = []
    while True:
        page = call(request)
        items.extend(getattr(page, field))
        if not page.next_page_token:
            return items
        request.page_token = page.next_page_token


def snapshot(products_stub, orders_stub):
    """Everything the API shows of the data: products, orders with items, their events, stock movements, and
    which products each query finds."""
    products = paged(products_stub.ListProducts, products_pb2.ListProductsRequest(page_size=100), 'products')
    orders = all_orders(orders_stub)
    return {
        'products': products,
        'orders': orders,
        'events': {order.id: paged(orders_stub.ListOrderEvents, orders_pb2.ListOrderEventsRequest(
            order_id=order.id, page_size=100), 'events') for order in orders},
        'movements': {product.id: paged(products_stub.ListStockMovements, products_pb2.ListStockMovementsRequest(
            product_id=product.id, page_size=100), 'movements') for product in products},
        'searches': {query: sorted(product.id for product in paged(
            products_stub.SearchProducts, products_pb2.SearchProductsRequest(q=query, page_size=100), 'products'))
            for query in QUERIES},
    }


def assert_priced_in(currency, products=(), orders=()):
    """Check that every amount of `products` and `orders` (messages) states `currency`, then clear it: the previous
    release stated none, and the upgrade gives its rows the shop's."""
    amounts = [*products, *orders, *(item for order in orders for item in order.items)]
    assert {message.currency_code for message in amounts} == {currency}
    for message in amounts:
        message.ClearField('currency_code')


def migration_status(service, url):
    return subprocess.run([sys.executable, '-m', 'storage.migrate', 'status', '--service', service,
                           '--database-url', url], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_current_release_adopts_the_previous_releases_databases(previous_release, new_database, tmp_path,
                                                                      figures):
    urls = {service: new_database(f'upgrade_{service}') for service in ('products', 'orders')}
    with Services(tmp_path, urls, cwd=previous_release) as (products_stub, orders_stub):
        initial, placed = fill(products_stub, orders_stub)
        before = snapshot(products_stub, orders_stub)
    assert {order.status for order in before['orders']} == set(Status.values()) - {Status.STATUS_UNSPECIFIED}
    assert before['searches']['crème'] and before['searches']['日本'], before['searches']
    for service, url in urls.items():  # made by the previous release: no history, to be adopted
        status = migration_status(service, url)
        assert status.returncode == 1 and '[~] 0001_initial' in status.stdout, (service, status.stdout, status.stderr)

    migrated = {f'{service} database migrated to {path.stem}' for service in urls
                for path in schema.migrations_folder(service).glob('[0-9]*.py') if not path.stem.startswith('0001')}
    for start, schema_changes in (('first start', {'products database adopted at 0001_initial',
                                                   'orders database adopted at 0001_initial', *migrated}),
                                  ('second start', set())):
        services = Services(tmp_path, urls, flags=['--currency', 'EUR'])  # the shop's currency on upgrade
        with services as (products_stub, orders_stub):
            after = snapshot(products_stub, orders_stub)
            assert_priced_in('EUR', after['products'], after['orders'])
            for part, rows in before.items():
                assert after[part] == rows, (start, part)
            assert_stock_conserved(products_stub, orders_stub, initial)
            # A retry of an order the previous release placed: the same order, no new one, no stock taken.
            for request_id, request in placed.items():
                again = orders_stub.CreateOrder(request)
                assert_priced_in('EUR', orders=[again])
                assert again == next(order for order in after['orders'] if order.id == again.id), request_id
            assert len(all_orders(orders_stub)) == len(before['orders'])
            assert_stock_conserved(products_stub, orders_stub, initial)
        logged = {json.loads(line)['message'] for line in services.log().splitlines() if line.startswith('{')}
        assert {message for message in logged if ' database ' in message} == schema_changes, start
        for service, url in urls.items():
            status = migration_status(service, url)
            assert status.returncode == 0, (start, service, status.stdout, status.stderr)
            assert '[x] 0001_initial' in status.stdout, status.stdout
    figures(products=len(before['products']), orders=len(before['orders']),
            events=sum(map(len, before['events'].values())),
            movements=sum(map(len, before['movements'].values())), retries=2 * len(placed),
            statuses=len({order.status for order in before['orders']}))
