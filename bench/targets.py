"""Where a scenario's requests go: our system by gRPC direct or by REST via Envoy, or the Django baseline. A scenario
asks its target for the request h2load should repeat, or for the calls of the python client; a target that has no
such route answers None and the scenario is skipped on it.

The baseline is the Django project of bench/baseline, started by bench/baseline_server.py in its own virtualenv."""
import contextlib
import json
from pathlib import Path
from urllib.parse import quote

from ecommerce.orders.v1 import orders_pb2
from ecommerce.products.v1 import products_pb2

from bench.asyncclient import GrpcCalls, RestCalls, order_fields
from bench.loadgen import grpc_request, http_request
from services.orders.servicer import OrderServicer, customer_listing, events_listing, status_listing
from services.pagination import encode_page_token
from services.products.servicer import LISTING, ProductServicer

GRPC_DIRECT, REST_ENVOY, BASELINE = 'gRPC direct', 'REST via Envoy', 'baseline'
# Target 3's pair: gRPC through our gateway, and through an Envoy with only a router (bench.processes.BARE_ENVOY).
GRPC_ENVOY, GRPC_BARE_ENVOY = 'gRPC via Envoy', 'gRPC via bare Envoy'
FLOOR = 'grpc.aio floor'  # a constant GetProduct answer on grpc.aio (bench.floor_server): what a call costs before ours
PAGE_SIZE = 20  # the baseline's fixed page size, and our default
IDLE_WATCHERS = 100  # target 7: open WatchOrders streams that see no change while GetProduct is measured
LIVE_HOLDS = 10_000  # target 9: checkouts holding stock, waiting for their shoppers, while GetProduct is measured
PRODUCT_SERVICE = ProductServicer.SERVICE_NAME
ORDER_SERVICE = OrderServicer.SERVICE_NAME


def order_lines(product_count, items):
    """The lines of the one order a CreateOrder scenario repeats: 1 unit each of `items` products from the middle of
    the catalogue (every product has dataset.STOCK_QUANTITY units, more than any run orders)."""
    first = max(1, product_count // 2)
    return [(first + index, 1) for index in range(items)]


def order_json(product_count, items):
    return json.dumps({**order_fields(0), 'items': [{'product_id': product_id, 'quantity': quantity}
                                                     for product_id, quantity in order_lines(product_count,
                                                                                             items)]}).encode()


class Target:
    """One path into a system. Pages are addressed by the 0-based position of their first row (product n has id n)."""
    path = ''

    def __init__(self, pids):
        self.pids = pids  # name -> pid of every process serving this path, for CPU and memory

    def get_product(self, product_id):
        return None

    def list_page(self, first_row):
        return None

    def search(self, term):
        return None

    def list_orders(self, status, after=0):
        """ListOrders of one status (a name: 'shipped'). Orders' pages are addressed by the key they follow, which
        their token carries: 0 for the first page, a bench.dataset.Listing's last_page_after(PAGE_SIZE) for the last."""
        return None

    def orders_by_customer(self, email, after=0):
        return None

    def order_events(self, order_id, after=0, page_size=PAGE_SIZE):
        return None

    def create_order(self, product_count, items):
        return None

    calls = None  # calls(clients): the python client's calls on this path (GrpcCalls, RestCalls), where it has them
    has_carts = False  # whether those calls reach carts


class GrpcDirect(Target):
    path = GRPC_DIRECT
    has_carts = True

    def __init__(self, system):
        super().__init__(system.pids)
        self._products, self._orders = system.products, system.orders

    def _call(self, method, message):
        return grpc_request(self._products, f'{PRODUCT_SERVICE}/{method}', message)

    def create_order(self, product_count, items):
        return grpc_request(self._orders, f'{ORDER_SERVICE}/CreateOrder', orders_pb2.CreateOrderRequest(
            **order_fields(0), items=[orders_pb2.OrderItemRequest(product_id=product_id, quantity=quantity)
                                      for product_id, quantity in order_lines(product_count, items)]))

    def get_product(self, product_id):
        return get_product_call(self._products, product_id)

    def list_page(self, first_row):
        return self._call('ListProducts', products_pb2.ListProductsRequest(
            page_size=PAGE_SIZE, page_token=page_token(first_row)))

    def search(self, term):
        return self._call('SearchProducts', products_pb2.SearchProductsRequest(q=term, page_size=PAGE_SIZE))

    def list_orders(self, status, after=0):
        return self._orders_page('ListOrders', status_listing(status), after, status=status.upper())

    def orders_by_customer(self, email, after=0):
        return self._orders_page('GetOrdersByCustomer', customer_listing(email), after, email=email)

    def order_events(self, order_id, after=0, page_size=PAGE_SIZE):
        return self._orders_page('ListOrderEvents', events_listing(order_id), after, page_size, order_id=order_id)

    def _orders_page(self, method, listing, after, page_size=PAGE_SIZE, **fields):
        """A page of `page_size` rows of an Orders listing (the servicer's name for it, which tokens are tied to): the
        first (after=0), or the one after the row keyed `after` with the token the service gives for it."""
        message = getattr(orders_pb2, f'{method}Request')(
            page_size=page_size, page_token=encode_page_token(after, listing) if after else '', **fields)
        return grpc_request(self._orders, f'{ORDER_SERVICE}/{method}', message)

    def calls(self, clients):
        return GrpcCalls(self._products, self._orders, clients)


def get_product_call(address, product_id):
    return grpc_request(address, f'{PRODUCT_SERVICE}/GetProduct', products_pb2.GetProductRequest(id=product_id))


def page_token(first_row):
    """The token of the page starting at row `first_row`, minted as the service would after id `first_row`."""
    return encode_page_token(first_row, LISTING) if first_row else ''


class RestEnvoy(Target):
    """REST through Envoy's transcoder over HTTP/1.1, as curl and most REST clients speak it."""
    path = REST_ENVOY
    has_carts = True

    def __init__(self, system):
        super().__init__(system.pids)
        self._base_url = f'http://{system.gateway}'

    def get_product(self, product_id):
        return http_request(f'{self._base_url}/api/products/{product_id}')

    def list_page(self, first_row):
        token = page_token(first_row)
        return http_request(f'{self._base_url}/api/products?page_size={PAGE_SIZE}'
                            + (f'&page_token={token}' if token else ''))

    def search(self, term):
        return http_request(f'{self._base_url}/api/products/search?q={quote(term)}&page_size={PAGE_SIZE}')

    def create_order(self, product_count, items):
        return http_request(f'{self._base_url}/api/orders', order_json(product_count, items))

    def calls(self, clients):
        return RestCalls(self._base_url, clients)


class GrpcGetProduct(Target):
    """GetProduct alone over gRPC at `address`, on the path named `path`: through our Envoy or a bare one in front of
    Products (target 3), or to the constant answer of bench.floor_server (FLOOR). `pids`: every process it crosses."""

    def __init__(self, path, address, pids):
        super().__init__(pids)
        self.path = path
        self._address = address

    def get_product(self, product_id):
        return get_product_call(self._address, product_id)


class Baseline(Target):
    """The Django REST framework baseline: trailing slashes, page-number pagination of PAGE_SIZE rows."""
    path = BASELINE

    def __init__(self, base_url, pids):
        super().__init__(pids)
        self._base_url = base_url.rstrip('/')

    def get_product(self, product_id):
        return http_request(f'{self._base_url}/api/products/{product_id}/')

    def list_page(self, first_row):
        return http_request(f'{self._base_url}/api/products/?page={first_row // PAGE_SIZE + 1}')

    def search(self, term):
        return http_request(f'{self._base_url}/api/products/search/?q={quote(term)}')

    def create_order(self, product_count, items):
        return http_request(f'{self._base_url}/api/orders/', order_json(product_count, items))

    def calls(self, clients):
        return RestCalls(self._base_url, clients, '/api/products/{id}/', '/api/orders/')


def baseline_runner():
    """(running_baseline, None) when the baseline can run (its virtualenv is built on first use), else (None, why)."""
    try:
        from bench.baseline_env import ensure_baseline_venv
        ensure_baseline_venv()
    except (ImportError, RuntimeError, OSError) as error:
        return None, f'baseline not built: {str(error).strip()[:300]}'
    return running_baseline, None


@contextlib.contextmanager
def running_baseline(folder, product_count):
    """The Django baseline (bench/baseline_server.py) seeded with the same products, as a Baseline target."""
    from bench.baseline_env import ensure_baseline_venv
    from bench.baseline_server import prepare_database, start_baseline
    python = ensure_baseline_venv()
    database = Path(folder) / 'baseline.sqlite3'
    prepare_database(database, product_count, python=python)
    server = start_baseline(0, database, Path(folder) / 'baseline.log', python=python)
    try:
        server.wait_until_ready()
        yield Baseline(server.url, {'baseline': server.popen.pid})
    finally:
        server.stop()
