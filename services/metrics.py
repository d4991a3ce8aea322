"""Prometheus metrics of both services: every definition (one place), and the endpoint that serves them.

A service runs several worker processes, so prometheus-client runs in its multiprocess mode: each worker writes its
samples to files in PROMETHEUS_MULTIPROC_DIR, and the supervising parent, which serves /metrics, adds them up at each
scrape. prometheus-client picks that mode once, when it is first imported, from that variable: so no module imports
it at the top, the parent sets the variable first (MetricsEndpoint.start), and the metrics are made on first use.
With one worker the parent is the worker, and the same files are read.
"""
import functools
import logging
import os
import shutil
import sys
import tempfile

from services.settings import split_address

log = logging.getLogger('services')

MULTIPROCESS_DIRECTORY = 'PROMETHEUS_MULTIPROC_DIR'
# Most calls take a few milliseconds; an import or a call waiting for the database's lock up to seconds.
LATENCY_BUCKETS_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RECOVERY_KINDS = ('placement_undone', 'cancellation_released')
# What happens to checkouts: their stock held, then one of the others (services/orders/carts.py).
CHECKOUT_STEPS = ('held', 'completed', 'abandoned', 'expired', 'interrupted')


class MetricsEndpoint:
    """The parent's /metrics over HTTP, adding up every worker's files; `port` is where it listens (None: off)."""

    def __init__(self, directory=None, http_server=None):
        self.directory = directory
        self._http_server = http_server
        self.port = http_server and http_server.server_port

    @classmethod
    def start(cls, service, address):
        """Serve the metrics on `address` (host:port; port 0 picks one; '' serves none), logging the port.

        Call it before any worker exists and before anything imports prometheus_client (a RuntimeError otherwise:
        each process would count on its own and the endpoint would show none of it)."""
        if not address:
            return cls()
        host, port = split_address(address)
        if 'prometheus_client' in sys.modules:
            raise RuntimeError('prometheus_client was imported before its multiprocess directory was set')
        directory = tempfile.mkdtemp(prefix=f'{service}-metrics-')
        os.environ[MULTIPROCESS_DIRECTORY] = directory
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, directory)
        try:
            http_server, _thread = start_http_server(port, host, registry)
        except OSError as error:
            shutil.rmtree(directory, ignore_errors=True)
            raise OSError(f'cannot serve metrics on {address}: {error.strerror}') from None
        endpoint = cls(directory, http_server)
        log.info('metrics', extra={'fields': {'service': service, 'port': endpoint.port, 'path': '/metrics'}})
        return endpoint

    def worker_exited(self, pid):
        """A worker is gone: its in-flight gauges go with it (its counters stay in the sums)."""
        if self.directory:
            from prometheus_client import multiprocess
            multiprocess.mark_process_dead(pid, self.directory)

    def stop(self):
        if self._http_server:
            self._http_server.shutdown()
            self._http_server.server_close()
            shutil.rmtree(self.directory, ignore_errors=True)


class MethodMetrics:
    """The labelled samples of one gRPC method, looked up once rather than at every call."""
    __slots__ = ('_handled', '_handled_by_code', '_in_flight', '_labels', '_latency')

    def __init__(self, calls, method, kind):
        service, _, name = method.lstrip('/').partition('/')
        self._labels = (kind, service, name)
        self._in_flight = calls.in_flight.labels(*self._labels)
        self._latency = calls.handling_seconds.labels(*self._labels)
        self._handled = calls.handled
        self._handled_by_code = {}

    def started(self):
        self._in_flight.inc()

    def finished(self, code, seconds):
        self._in_flight.dec()
        self._latency.observe(seconds)
        handled = self._handled_by_code.get(code)
        if handled is None:
            handled = self._handled_by_code[code] = self._handled.labels(*self._labels, code.name)
        handled.inc()


class CallMetrics:
    """Every call of either service, named as go-grpc-prometheus names them; recorded by services.server."""

    def __init__(self):
        from prometheus_client import Counter, Gauge, Histogram
        labels = ('grpc_type', 'grpc_service', 'grpc_method')
        self.handled = Counter('grpc_server_handled_total', 'Calls finished, by method and gRPC status code.',
                               (*labels, 'grpc_code'))
        self.handling_seconds = Histogram('grpc_server_handling_seconds',
                                          'Time from a call arriving to its status being sent, in seconds.', labels,
                                          buckets=LATENCY_BUCKETS_SECONDS)
        # livesum: the sum over the workers alive, so that a worker that died takes its calls with it.
        self.in_flight = Gauge('grpc_server_calls_in_flight', 'Calls started and not yet finished (open watches too).',
                               labels, multiprocess_mode='livesum')

    def for_method(self, method, kind):
        return MethodMetrics(self, method, kind)


class OrderMetrics:
    """What the Orders service did, counted once its transaction committed (services/orders/workflow.py)."""

    def __init__(self):
        from prometheus_client import Counter
        self.created = Counter('ecommerce_orders_created_total', 'Orders placed (a retry with the same request_id '
                                                                 'is not counted again).')
        self.cancelled = Counter('ecommerce_orders_cancelled_total', 'Orders cancelled, by CancelOrder or by '
                                                                     'UpdateOrderStatus to CANCELLED.')
        recovery_actions = Counter('ecommerce_order_recovery_actions_total',
                                   'Orders recovery settled, by kind: placement_undone (a placement cut off, its '
                                   'stock given back), cancellation_released (a cancelled order\'s stock given back '
                                   'late).', ('kind',))
        self.recovery_actions = {kind: recovery_actions.labels(kind) for kind in RECOVERY_KINDS}
        checkouts = Counter('ecommerce_checkouts_total',
                            "Carts' checkouts, by step: held (their stock held), then completed (an order), abandoned "
                            '(by the shopper), expired (nobody completed them in time) or interrupted (cut off by a '
                            'crash or an outage, their stock given back).', ('step',))
        self.checkouts = {step: checkouts.labels(step) for step in CHECKOUT_STEPS}


class StockMetrics:
    """What the Products service did with stock, counted once its transaction committed
    (services/products/catalog.py)."""

    def __init__(self):
        from prometheus_client import Counter
        self.reservations_refused = Counter('ecommerce_stock_reservations_refused_total',
                                            'Stock reservations refused for lack of stock (nothing was taken).')
        self.units_reserved = Counter('ecommerce_stock_units_reserved_total',
                                      'Units of stock taken by reservations, holds included (a replayed '
                                      'reservation is not counted).')
        self.units_released = Counter('ecommerce_stock_units_released_total',
                                      'Units of stock given back by released reservations, expired holds included.')


# Made on first use, in the process that records them (see the module's docstring); one set per process.
calls = functools.cache(CallMetrics)
orders = functools.cache(OrderMetrics)
stock = functools.cache(StockMetrics)
