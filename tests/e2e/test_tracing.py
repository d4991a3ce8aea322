"""Traces of the whole system: Envoy started with --otlp-address and both services with OTEL_TRACES_EXPORTER=otlp
export to a small OTLP/gRPC collector inside the test. One REST CreateOrder is one trace: Envoy's span, Orders'
server span under it, Orders' call to Products under that and Products' server span under the call; and the
trace's id is in each service's log line of the request and in Envoy's access log."""
import contextlib
import threading
import time
import uuid
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from bench.processes import running_system
from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import RestClient
from tests.e2e.test_logs import lines_with

# Trace propagation is the same whatever the services' database: the SQLite pass only.
pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]

CREATE_ORDER = '/ecommerce.orders.v1.OrderService/CreateOrder'
RESERVE_STOCK = '/ecommerce.products.v1.StockService/ReserveStocks'


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """The OTLP trace service: keeps every span it receives with its sender's service.name."""

    def __init__(self):
        self._lock = threading.Lock()
        self._spans = []  # (service name, span)

    def Export(self, request, context):
        with self._lock:
            for resource_spans in request.resource_spans:
                service = next((attribute.value.string_value for attribute in resource_spans.resource.attributes
                                if attribute.key == 'service.name'), '')
                self._spans.extend((service, span) for scope in resource_spans.scope_spans for span in scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def trace(self, trace_id, expected, timeout=20):
        """{(service, span name): [spans]} of the trace `trace_id` (bytes), once it holds `expected` spans."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                spans = [(service, span) for service, span in self._spans if span.trace_id == trace_id]
            if len(spans) >= expected or time.monotonic() > deadline:
                found = {}
                for service, span in spans:
                    found.setdefault((service, span.name), []).append(span)
                return found
            time.sleep(0.1)


@contextlib.contextmanager
def running_collector():
    collector = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port('127.0.0.1:0')
    server.start()
    try:
        yield collector, f'127.0.0.1:{port}'
    finally:
        server.stop(0)


def services_exporting_to(address):
    """The environment that makes a service export its spans to the collector at `address` within 0.1 s."""
    return {'OTEL_TRACES_EXPORTER': 'otlp', 'OTEL_EXPORTER_OTLP_ENDPOINT': f'http://{address}',
            'OTEL_BSP_SCHEDULE_DELAY': '100'}


@pytest.fixture(scope='module')
def traced_system(tmp_path_factory, new_database):
    """The system with tracing on everywhere, exporting to a collector: (System, Collector)."""
    with running_collector() as (collector, address):
        with running_system(tmp_path_factory.mktemp('traced'), new_database('products'), new_database('orders'),
                            env=services_exporting_to(address), gateway_settings={'otlp_address': address}) as system:
            yield system, collector


def test_a_rest_create_order_is_one_trace_from_envoy_through_orders_to_products(traced_system):
    system, collector = traced_system
    api = RestClient(system.gateway)
    product = api.post('/api/products', {'name': 'Traced Lamp', 'price': '5.00', 'stock_quantity': 3,
                                         'category': 'home'}).body
    trace_id = uuid.uuid4().hex
    client_span = uuid.uuid4().hex[:16]
    request_id = str(uuid.uuid4())
    reply = api.post('/api/orders', {'customer_name': 'Ada', 'customer_email': 'ada@example.com',
                                     'shipping_address': 'x', 'items': [{'product_id': product['id'], 'quantity': 1}]},
                     headers={'traceparent': f'00-{trace_id}-{client_span}-01', 'x-request-id': request_id})
    assert reply.status == 201, reply

    spans = collector.trace(bytes.fromhex(trace_id), expected=4)
    [gateway] = spans[next(key for key in spans if key[0] == 'envoy')]
    [order] = spans[('orders', CREATE_ORDER)]
    [reserve_call] = spans[('orders', RESERVE_STOCK)]
    [reserve_served] = spans[('products', RESERVE_STOCK)]
    assert gateway.parent_span_id.hex() == client_span  # Envoy continued the client's trace
    assert order.parent_span_id == gateway.span_id
    assert reserve_call.parent_span_id == order.span_id
    assert reserve_served.parent_span_id == reserve_call.span_id

    for name in ('envoy', 'orders', 'products'):
        [line] = lines_with(system.processes[name], request_id)
        assert line['trace_id'] == trace_id, name


def test_without_tracing_envoy_passes_the_clients_trace_context_on_unchanged(tmp_path, new_database):
    """Envoy's default configuration traces nothing, but a client's traceparent still reaches the services."""
    with running_collector() as (collector, address), \
            running_system(tmp_path, new_database('products'), new_database('orders'),
                           env=services_exporting_to(address)) as system:
        trace_id, client_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        reply = RestClient(system.gateway).call('GET', '/api/products/1',
                                                headers={'traceparent': f'00-{trace_id}-{client_span}-01'})
        assert reply.status == 404, reply
        spans = collector.trace(bytes.fromhex(trace_id), expected=1)
        assert [(service, span.parent_span_id.hex()) for (service, _name), found in spans.items() for span in found] \
            == [('products', client_span)]


def test_envoys_span_of_a_customers_orders_holds_no_email(traced_system):
    system, collector = traced_system
    email = f'private-{uuid.uuid4().hex[:8]}@example.com'
    trace_id = uuid.uuid4().hex
    reply = RestClient(system.gateway).call('GET', f'/api/orders/customer/{email}?page_token=secret-page-token',
                                            headers={'traceparent': f'00-{trace_id}-{"1" * 16}-01'})
    assert reply.status == 400, reply  # the page token is not one the server made

    spans = collector.trace(bytes.fromhex(trace_id), expected=2)
    [gateway] = spans[next(key for key in spans if key[0] == 'envoy')]
    values = {attribute.key: attribute.value.string_value for attribute in gateway.attributes}
    assert values['grpc.path'] == '/ecommerce.orders.v1.OrderService/GetOrdersByCustomer'
    assert email not in str(gateway) and 'secret-page-token' not in str(gateway)
