"""Traces through real in-process servers, spans kept in memory: one CreateOrder is one trace, Orders' server span
the parent of its call to Products, which is the parent of Products' own server span; a refused call's span says
how it ended; and each call's log line names its trace."""
import logging
import time

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2_grpc
from ecommerce.products.v1 import products_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id

from services.orders.service import create_server as create_orders_server
from services.products.service import create_server as create_products_server
from storage import orders as orders_storage
from storage import products as products_storage
from tests.conftest import DATABASE_INDEPENDENT, new_product
from tests.servers import serving
from tests.service.test_orders_service import order_request, rpc_error

# Trace propagation is the same whatever the services' database: the SQLite pass only.
pytestmark = DATABASE_INDEPENDENT

CREATE_ORDER = '/ecommerce.orders.v1.OrderService/CreateOrder'
RESERVE_STOCK = '/ecommerce.products.v1.StockService/ReserveStocks'


@pytest.fixture
def spans():
    return InMemorySpanExporter()


@pytest.fixture
def traced(database_url, spans):
    """(Products stub, Orders stub, Products' address) of servers that trace every call into `spans`."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with serving(create_products_server('127.0.0.1:0', database_url('products'),
                                        tracer_provider=provider)) as (_server, products_port, _health), \
            serving(create_orders_server('127.0.0.1:0', database_url('orders'), f'127.0.0.1:{products_port}',
                                         tracer_provider=provider)) as (_server, orders_port, _health, _background), \
            grpc.insecure_channel(f'127.0.0.1:{products_port}') as products_channel, \
            grpc.insecure_channel(f'127.0.0.1:{orders_port}') as orders_channel:
        yield (products_pb2_grpc.ProductServiceStub(products_channel),
               orders_pb2_grpc.OrderServiceStub(orders_channel), f'127.0.0.1:{products_port}')
    products_storage.database.close_all()
    orders_storage.database.close_all()


def spans_named(spans, name, kind, timeout=5):
    """The finished spans of `name` and `kind`, waiting for one: a server ends its span a moment after the client
    has its answer."""
    deadline = time.monotonic() + timeout
    while True:
        found = [span for span in spans.get_finished_spans() if span.name == name and span.kind == kind]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def test_one_create_order_is_one_trace_from_orders_through_each_call_to_products(traced, spans, caplog):
    products, orders, _address = traced
    lamp, desk = new_product(products, name='Lamp'), new_product(products, name='Desk')
    spans.clear()
    with caplog.at_level(logging.INFO, logger='services'):
        orders.CreateOrder(order_request((lamp.id, 1), (desk.id, 2)))

    [order_span] = spans_named(spans, CREATE_ORDER, SpanKind.SERVER)
    [reserve_call] = spans_named(spans, RESERVE_STOCK, SpanKind.CLIENT)
    [reserve_served] = spans_named(spans, RESERVE_STOCK, SpanKind.SERVER)
    assert order_span.parent is None  # the test's client sent no trace context: the trace starts at Orders
    assert reserve_call.parent.span_id == order_span.context.span_id
    assert reserve_served.parent.span_id == reserve_call.context.span_id
    trace_id = order_span.context.trace_id
    assert {span.context.trace_id for span in spans.get_finished_spans()} == {trace_id}

    logged = {record.fields['method']: record.fields.get('trace_id') for record in caplog.records
              if record.getMessage() == 'rpc'}
    assert logged == {CREATE_ORDER: format_trace_id(trace_id), RESERVE_STOCK: format_trace_id(trace_id)}


def test_a_refused_order_ends_its_spans_with_the_status_it_was_answered(traced, spans):
    products, orders, _address = traced
    lamp = new_product(products, stock=1)
    spans.clear()
    error = rpc_error(orders.CreateOrder, order_request((lamp.id, 2)))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    [order_span] = spans_named(spans, CREATE_ORDER, SpanKind.SERVER)
    [reserve_served] = spans_named(spans, RESERVE_STOCK, SpanKind.SERVER)
    assert order_span.attributes['rpc.grpc.status_code'] == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    # The refusal is one outcome of the ReserveStocks call, which itself succeeded.
    assert reserve_served.attributes['rpc.grpc.status_code'] == grpc.StatusCode.OK.value[0]


def test_health_checks_make_no_spans(traced, spans):
    """Envoy and Kubernetes probe every few seconds: spans of those would bury the calls."""
    _products, _orders, products_address = traced
    spans.clear()
    with grpc.insecure_channel(products_address) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert spans.get_finished_spans() == ()
