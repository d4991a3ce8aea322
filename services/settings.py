"""Default addresses, limits, and the settings each service takes from flags or the environment."""
import argparse
import os

# The facts a client needs too live with the client (clients/python), which the services depend on for their stubs.
from ecommerce.defaults import GATEWAY_ADDRESS as GATEWAY_ADDRESS
from ecommerce.defaults import MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES
from ecommerce.defaults import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from ecommerce.defaults import ORDERS_ADDRESS as ORDERS_ADDRESS
from ecommerce.defaults import PRODUCTS_ADDRESS as PRODUCTS_ADDRESS
from ecommerce.defaults import SHOP_CURRENCY as SHOP_CURRENCY
from ecommerce.defaults import release

GATEWAY_ADMIN_ADDRESS = '127.0.0.1:9901'
# Where each service serves its Prometheus metrics (http://HOST:PORT/metrics): loopback, like Envoy's admin, so that
# only this machine reads them unless the operator says otherwise (the Kubernetes manifests do).
PRODUCTS_METRICS_ADDRESS = '127.0.0.1:9461'
ORDERS_METRICS_ADDRESS = '127.0.0.1:9462'
PRODUCTS_DATABASE_URL = 'sqlite:///data/products.db'
ORDERS_DATABASE_URL = 'sqlite:///data/orders.db'
# The most products one ImportProducts stream may hold: the server keeps every row in memory until it has checked
# them all, and inserts them in one transaction, which on SQLite holds the writers' lock throughout (10,000 rows
# take about a second: docs/architecture.md).
MAX_IMPORT_ROWS = 100_000
# Writes one client address may send through Envoy (every call but the reads and watches: creating, changing,
# deleting and importing products; placing, changing and cancelling orders): a token bucket per address that holds
# at most WRITE_BURST and gains WRITES_PER_SECOND every second. A write over it is refused by Envoy with HTTP 429 /
# RESOURCE_EXHAUSTED before it reaches a service. Reads are not limited. (`python -m scripts.gateway
# --writes-per-second N --write-burst M` overrides both.)
WRITES_PER_SECOND = 50
WRITE_BURST = 100
# How long Envoy waits for a call's answer (retries included) before it answers DEADLINE_EXCEEDED / HTTP 504; an
# import of MAX_IMPORT_ROWS rows gets longer. Watches are not limited (an idle one is closed after an hour).
REQUEST_TIMEOUT_SECONDS = 15
IMPORT_TIMEOUT_SECONDS = 300
# The largest header block a request may carry, and so the largest token: Envoy refuses a larger one with HTTP 431
# (max_request_headers_kb) before any service sees it. Behind Envoy the same headers arrive with what Envoy adds
# (the REST path again in x-envoy-original-path, its own x-envoy-* and x-forwarded-* headers, and HPACK's 32 bytes
# per header), so each service accepts SERVICE_METADATA_BYTES, which a request Envoy lets through never exceeds; a
# direct client over it gets RESOURCE_EXHAUSTED.
MAX_HEADER_BYTES = 16 * 1024
SERVICE_METADATA_BYTES = 2 * MAX_HEADER_BYTES + 8 * 1024
# Envoy's defences against clients that hold connections without using them: a request whose headers have not all
# arrived this long after their first byte is refused and its connection closed; a connection with no request in
# flight for IDLE_CONNECTION_SECONDS (one that never sent anything included) is closed too. At most
# GATEWAY_MAX_CONNECTIONS client connections are open at once: more than one client address can open (one per
# source port), so that no single address can take them all.
REQUEST_HEADERS_TIMEOUT_SECONDS = 10
IDLE_CONNECTION_SECONDS = 60
GATEWAY_MAX_CONNECTIONS = 65_536
# Each gRPC server's defences against clients that hold resources without using them:
# pings every 60 s on a connection silent that long, and closes it when the ping is not answered within 20 s (a
# client that vanished without closing its connection);
KEEPALIVE_TIME_MS = 60_000
KEEPALIVE_TIMEOUT_MS = 20_000
# closes a connection that has had no call for 10 minutes (Envoy and the Orders service open a new one when needed);
MAX_CONNECTION_IDLE_MS = 10 * 60_000
# at most this many calls at once on one connection, so that one connection cannot take a worker's every call
# (Envoy opens at most 4 per connection to a service; a client of its own may hold a hundred watches and still call);
MAX_STREAMS_PER_CONNECTION = 250
# at most this many calls at once in one worker process, whatever the connections: beyond it a new call is refused
# at once with RESOURCE_EXHAUSTED rather than queued behind calls a slow client holds open. Open watches count.
MAX_CONCURRENT_CALLS = 1000
# Listings (ListProducts, SearchProducts, ListOrders, ...): rows per page when the client names no page_size (at most
# MAX_PAGE_SIZE, above).
DEFAULT_PAGE_SIZE = 20
# An order holds at most MAX_ITEMS lines, each of 1 to MAX_QUANTITY units (INVALID_ARGUMENT naming the field).
# The lengths of text fields (names, addresses, descriptions) are rules of each service: services/*/rules.py.
MAX_ITEMS = 100
MAX_QUANTITY = 1000
# How long a cart's checkout holds its stock (Orders' --checkout-hold): time for a shopper to pay, after which the
# units go back to stock by themselves and the checkout can no longer complete.
CHECKOUT_HOLD_SECONDS = 15 * 60
# Changes an order watch may have waiting (WatchOrder, WatchOrders); a watcher that reads slower than orders change
# is ended with UNAVAILABLE, to resume later from its last change.
WATCH_BACKLOG_LIMIT = 10_000
# The most bytes of BadRequest field violations one error carries. They travel in the response's trailing
# metadata, which gRPC clients refuse beyond 8 KiB by default (grpc.max_metadata_size; between 8 and 16 KiB, at
# random): an import with more bad values lists the first ones and counts them all.
MAX_ERROR_DETAILS_BYTES = 4096
# Threads per worker process that run database statements while its event loop serves other calls. 0: statements
# run on the loop itself, fastest when the database answers in well under a millisecond (SQLite; a PostgreSQL
# nearby): a pool cost a third of GetProduct's throughput on a local PostgreSQL (docs/performance.md). Give a
# pool to a worker whose database is far away, so that one slow round trip does not hold every call.
DATABASE_THREADS = 0


# The server's distribution (pyproject.toml), whose version the VERSION file states.
DISTRIBUTION = 'ecommerce-grpc'


def version():
    """What `--version` prints on every server command: `ecommerce-grpc 0.1.0`."""
    return release(DISTRIBUTION)


class CommandLine(argparse.ArgumentParser):
    """The argument parser of every command here (the services, the operator's and the developer's tools): with
    --version."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument('--version', action='version', version=version())


def service_parser(description, environ, prefix, address, database_url, metrics_address):
    """Flags shared by both services; each falls back to PREFIX_NAME in `environ`, then to the default."""
    # Run as `python -m services.products` (the only way: the server's code runs from the checkout), argparse would
    # call the command __main__.py.
    parser = CommandLine(prog=f'python -m services.{prefix.lower()}', description=description)
    parser.add_argument('--address', default=environ.get(f'{prefix}_ADDRESS', address),
                        help=f'host:port to listen on (env {prefix}_ADDRESS, default %(default)s)')
    parser.add_argument('--metrics-address', default=environ.get(f'{prefix}_METRICS_ADDRESS', metrics_address),
                        help=f'host:port to serve Prometheus metrics on, at /metrics; port 0 picks a free one, '
                             f'an empty value serves none (env {prefix}_METRICS_ADDRESS, default %(default)s)')
    parser.add_argument('--database-url', default=environ.get(f'{prefix}_DATABASE_URL', database_url),
                        help=f'sqlite:///path or postgresql://user:password@host/db '
                             f'(env {prefix}_DATABASE_URL, default %(default)s)')
    parser.add_argument('--workers', type=int, default=int(environ.get(f'{prefix}_WORKERS', os.cpu_count() or 1)),
                        help=f'worker processes sharing the port, one core each '
                             f'(env {prefix}_WORKERS, default: the number of cores, %(default)s)')
    parser.add_argument('--database-threads', type=int,
                        default=int(environ.get(f'{prefix}_DATABASE_THREADS', DATABASE_THREADS)),
                        help=f'threads per worker running database statements; 0 runs them on the event loop, '
                             f'best for a database nearby (env {prefix}_DATABASE_THREADS, default %(default)s)')
    parser.add_argument('--grace', type=float, default=float(environ.get(f'{prefix}_GRACE_SECONDS', 10)),
                        help='seconds calls in flight get to finish on SIGTERM (default %(default)s)')
    parser.add_argument('--tls-cert', default=environ.get(f'{prefix}_TLS_CERT'),
                        help=f'serve TLS with this certificate (PEM, its chain after it); plaintext without '
                             f'(env {prefix}_TLS_CERT)')
    parser.add_argument('--tls-key', default=environ.get(f'{prefix}_TLS_KEY'),
                        help=f"the certificate's private key (PEM; env {prefix}_TLS_KEY)")
    parser.add_argument('--tls-client-ca', default=environ.get(f'{prefix}_TLS_CLIENT_CA'),
                        help=f'require a client certificate issued by this CA (PEM): mutual TLS '
                             f'(env {prefix}_TLS_CLIENT_CA)')
    parser.add_argument('--auth-jwks', default=environ.get('AUTH_JWKS'),
                        help='check bearer tokens (JWT) against the keys in this JWKS file, chosen by kid; without '
                             'it or --auth-secret, every caller may do everything (env AUTH_JWKS)')
    parser.add_argument('--auth-secret', default=environ.get('AUTH_SECRET'),
                        help='check bearer tokens signed with this shared secret (HS256, at least 32 bytes); '
                             'prefer the variable, which other users cannot see (env AUTH_SECRET)')
    parser.add_argument('--auth-audience', default=environ.get('AUTH_AUDIENCE', 'ecommerce'),
                        help="the `aud` every token must name (env AUTH_AUDIENCE, default %(default)s)")
    parser.add_argument('--currency', default=environ.get('SHOP_CURRENCY', SHOP_CURRENCY),
                        help="the shop's currency, an ISO 4217 code: new prices and orders are in it, and amounts "
                             "written before a release stated currencies get it on upgrade; give both services the "
                             "same (env SHOP_CURRENCY, default %(default)s)")
    parser.add_argument('--log-level', default=environ.get('LOG_LEVEL', 'INFO'))
    return parser


def split_address(address):
    """('host', port) from 'host:port' or '[v6]:port'; ValueError without a port."""
    host, _, port = address.rpartition(':')
    if not host or not port.isdigit():
        raise ValueError(f'expected host:port, got {address!r}')
    return host.strip('[]'), int(port)
