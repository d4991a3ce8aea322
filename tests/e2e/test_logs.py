"""What the logs tell an operator: one JSON line per call in each service and in Envoy's access log, all three
carrying the request's id, so that one id finds a request everywhere it went; and no customer's email in them, nor
the page tokens of a query string."""
import datetime
import json
import re
import time
import uuid

import pytest

from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import RestClient
from tests.metric_samples import Scrape

# What the services and Envoy log is the same whatever the services' database: the SQLite pass only.
pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]


RFC3339_UTC_MS = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z')


def json_lines(process):
    """The JSON objects a process logged (Envoy's access log and the services' own lines alike)."""
    found = []
    for line in process.log().splitlines():
        start = line.find('{')
        if start >= 0:
            try:
                found.append(json.loads(line[start:]))
            except ValueError:
                continue
    return found


def lines_with(process, request_id, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        lines = [entry for entry in json_lines(process) if entry.get('request_id') == request_id]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)  # Envoy writes its access log a moment after the answer


def test_one_request_id_finds_an_order_in_envoys_log_and_both_services_logs(system):
    api = RestClient(system.gateway)
    email = f'log-{uuid.uuid4().hex[:8]}@example.com'
    product = api.post('/api/products', {'name': 'Log Lamp', 'price': '5.00', 'stock_quantity': 3,
                                         'category': 'home'}).body
    request_id = f'trace-me-{uuid.uuid4().hex[:8]}'
    reply = api.post('/api/orders', {'customer_name': 'Ada', 'customer_email': email, 'shipping_address': 'x',
                                     'items': [{'product_id': product['id'], 'quantity': 1}]},
                     headers={'x-request-id': request_id})
    assert reply.status == 201, reply

    [access] = lines_with(system.processes['envoy'], request_id)
    assert (access['method'], access['rpc'], access['status']) == (
        'POST', '/ecommerce.orders.v1.OrderService/CreateOrder', 201)
    [orders_call] = lines_with(system.processes['orders'], request_id)
    assert {key: orders_call[key] for key in ('service', 'message', 'method', 'code')} == {
        'service': 'orders', 'message': 'rpc', 'method': '/ecommerce.orders.v1.OrderService/CreateOrder',
        'code': 'OK'}
    assert orders_call['duration_ms'] > 0 and orders_call['peer'].startswith('ipv4:127.0.0.1:')
    [products_call] = lines_with(system.processes['products'], request_id)  # Orders passed the id on
    assert (products_call['service'], products_call['method']) == (
        'products', '/ecommerce.products.v1.StockService/ReserveStocks')
    for name in ('envoy', 'orders', 'products'):
        assert email not in system.processes[name].log(), f'{name} logged the customer\'s email'
    # The three lines line up: each time is RFC 3339 in UTC with milliseconds, within a second of the others.
    times = [entry['time'] for entry in (access, orders_call, products_call)]
    assert all(RFC3339_UTC_MS.fullmatch(moment) for moment in times), times
    moments = [datetime.datetime.fromisoformat(moment) for moment in times]
    assert max(moments) - min(moments) < datetime.timedelta(seconds=1), times


def test_envoys_health_checks_are_not_logged_at_info(system):
    """Envoy checks each service's health every second: those calls are counted, not logged at INFO."""
    time.sleep(2)  # at least two rounds of checks since the system started
    for name in ('products', 'orders'):
        methods = {entry.get('method') for entry in json_lines(system.processes[name]) if entry.get('message') == 'rpc'}
        assert not any(method.startswith('/grpc.health.v1.Health/') for method in methods), (name, methods)
        metrics = Scrape(f'127.0.0.1:{system.processes[name].wait_for_port(message="metrics")}')
        assert metrics.value('grpc_server_handled_total', grpc_type='unary', grpc_service='grpc.health.v1.Health',
                             grpc_method='Check', grpc_code='OK') >= 2, name


def test_every_service_line_names_its_service(system):
    for name in ('products', 'orders'):
        entries = [entry for entry in json_lines(system.processes[name]) if 'level' in entry]
        assert entries and {entry['service'] for entry in entries} == {name}


BY_CUSTOMER = '/ecommerce.orders.v1.OrderService/GetOrdersByCustomer'


@pytest.mark.parametrize(('path', 'logged_as'), [
    ('/api/orders/customer/{email}', BY_CUSTOMER),
    ('/api/orders/customer/{email}?page_size=1&page_token=secret-page-token', BY_CUSTOMER),
    ('/api/orders/customers/{email}', '/api/…'),  # no such route: answered by Envoy, 404
    ('/admin/?customer={email}', '/admin/'),
])
def test_envoys_access_log_names_the_call_not_the_customers_email_in_its_path(system, path, logged_as):
    email = f'private-{uuid.uuid4().hex[:8]}@example.com'
    request_id = f'log-{uuid.uuid4().hex[:8]}'
    reply = RestClient(system.gateway).call('GET', path.format(email=email), headers={'x-request-id': request_id})
    assert reply.status in (200, 400, 404), reply

    [access] = lines_with(system.processes['envoy'], request_id)
    assert (access['method'], access['rpc']) == ('GET', logged_as)
    for name in ('envoy', 'orders', 'products'):
        assert email not in system.processes[name].log(), f'{name} logged the customer\'s email'
        assert 'secret-page-token' not in system.processes[name].log(), f'{name} logged the page token'
