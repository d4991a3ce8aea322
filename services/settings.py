"""Default addresses and the settings each service takes from flags or the environment."""
import argparse
import os

PRODUCTS_ADDRESS = '127.0.0.1:50051'
ORDERS_ADDRESS = '127.0.0.1:50052'
GATEWAY_ADDRESS = '127.0.0.1:8080'
GATEWAY_ADMIN_ADDRESS = '127.0.0.1:9901'
PRODUCTS_DATABASE_URL = 'sqlite:///data/products.db'
ORDERS_DATABASE_URL = 'sqlite:///data/orders.db'
# The largest request either server reads (gRPC answers RESOURCE_EXHAUSTED above it) and the largest REST body Envoy
# takes (413 above it). A JSON body is never smaller than its protobuf, so whatever Envoy passes on fits.
MAX_MESSAGE_BYTES = 1024 * 1024
# Threads serving calls in each worker process. Calls beyond them wait in gRPC's queue. More threads only
# fight over the GIL: at 32 clients on 2 cores, 4 threads served 23% more GetProduct calls than 16 (34% on
# PostgreSQL) and as many orders (docs/performance.md). Raise it when calls mostly wait on a slow remote database.
THREADS_PER_WORKER = 4


def service_parser(description, environ, prefix, address, database_url):
    """Flags shared by both services; each falls back to PREFIX_NAME in `environ`, then to the default."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--address', default=environ.get(f'{prefix}_ADDRESS', address),
                        help=f'host:port to listen on (env {prefix}_ADDRESS, default %(default)s)')
    parser.add_argument('--database-url', default=environ.get(f'{prefix}_DATABASE_URL', database_url),
                        help=f'sqlite:///path or postgresql://user:password@host/db '
                             f'(env {prefix}_DATABASE_URL, default %(default)s)')
    parser.add_argument('--workers', type=int, default=int(environ.get(f'{prefix}_WORKERS', os.cpu_count() or 1)),
                        help=f'worker processes sharing the port, one core each '
                             f'(env {prefix}_WORKERS, default: the number of cores, %(default)s)')
    parser.add_argument('--threads', type=int, default=int(environ.get(f'{prefix}_THREADS', THREADS_PER_WORKER)),
                        help=f'threads serving calls in each worker (env {prefix}_THREADS, default %(default)s)')
    parser.add_argument('--grace', type=float, default=float(environ.get(f'{prefix}_GRACE_SECONDS', 10)),
                        help='seconds calls in flight get to finish on SIGTERM (default %(default)s)')
    parser.add_argument('--log-level', default=environ.get('LOG_LEVEL', 'INFO'))
    return parser
