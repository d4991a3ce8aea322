"""Promise 6, dependency failures: with Products killed, Orders answers UNAVAILABLE within its deadline (gRPC,
and 503 through the real Envoy), reads of existing orders keep working, and nothing is half-written; when
Products comes back on its port, Orders places orders again by itself, without a restart.

(tests/e2e/test_orders_down.py covers Orders itself down; tests/service/test_orders_service.py covers an
address where Products never listened, in process.)
"""
import time

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from google.protobuf import json_format

from bench.processes import start_envoy
from tests.conftest import new_product
from tests.e2e.clients import RestClient
from tests.rpc_errors import error_details
from tests.stock_checks import all_orders, order_request, wait_until_settled

pytestmark = pytest.mark.e2e

PRODUCTS_TIMEOUT = 1.0  # s, Orders' deadline on every call to Products
ORDERS_SETTINGS = ['--products-timeout', str(PRODUCTS_TIMEOUT), '--recovery-interval', '0.5', '--stale-after', '3']
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]
EMAIL = 'ada@example.com'
# s that Products stays down: long enough for gRPC's default reconnection backoff (1 s, then x1.6 each attempt) to
# pass 3 s, which it does after about 5 s
OUTAGE = 8
BACK_WITHIN = 2.5  # s after Products is serving again, Orders places orders again


def rest_body(request):
    """The JSON a REST client posts for a CreateOrderRequest."""
    return json_format.MessageToDict(request, preserving_proto_field_name=True)


def reads(orders_stub, api, order):
    """Every way of reading `order` (gRPC and REST); returns how many answered it."""
    by_grpc = [
        orders_stub.GetOrder(orders_pb2.GetOrderRequest(id=order.id), timeout=5),
        *orders_stub.ListOrders(orders_pb2.ListOrdersRequest(), timeout=5).orders,
        *orders_stub.GetOrdersByCustomer(orders_pb2.GetOrdersByCustomerRequest(email=EMAIL), timeout=5).orders,
    ]
    assert [found for found in by_grpc if found.id == order.id] == [order] * len(by_grpc)
    as_json = json_format.MessageToDict(order, preserving_proto_field_name=True,
                                        always_print_fields_with_no_presence=True)
    by_rest = ((f'/api/orders/{order.id}', None), ('/api/orders', 'orders'),
               (f'/api/orders/customer/{EMAIL}', 'orders'))
    for path, key in by_rest:
        reply = api.get(path)
        assert reply.status == 200, (path, reply)
        found = [reply.body] if key is None else [o for o in reply.body[key] if o['id'] == as_json['id']]
        assert found == [as_json], (path, reply)
    return len(by_grpc) + len(by_rest)


def refused_in(orders_stub, api, request):
    """Place `request` over gRPC and through Envoy: both must be refused as unavailable within Orders' own
    deadline on Products (plus a second); returns the slower time."""
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        orders_stub.CreateOrder(request, timeout=10)
    by_grpc = time.monotonic() - started
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, raised.value
    assert error_details(raised.value).reason == 'PRODUCTS_UNAVAILABLE'
    started = time.monotonic()
    refused = api.post('/api/orders', rest_body(request))
    by_rest = time.monotonic() - started
    assert refused.status == 503 and refused.body['code'] == UNAVAILABLE and refused.body['message'], refused
    assert max(by_grpc, by_rest) < PRODUCTS_TIMEOUT + 1, (by_grpc, by_rest)
    return max(by_grpc, by_rest)


def test_products_down_then_back_orders_answers_quickly_reads_work_and_recovers_without_restart(
        run_service, database_url, tmp_path, figures):
    """Promise 6 with real processes: Products SIGKILLed, then restarted on its port; Orders never restarted."""
    products = run_service('products', database_url('products'))
    orders = run_service('orders', database_url('orders'), ['--products-address', products.address, *ORDERS_SETTINGS])
    envoy, gateway, _admin = start_envoy(tmp_path, products.address, orders.address)
    try:
        with grpc.insecure_channel(products.address) as products_channel, \
                grpc.insecure_channel(orders.address) as orders_channel:
            products_stub = products_pb2_grpc.ProductServiceStub(products_channel)
            orders_stub = orders_pb2_grpc.OrderServiceStub(orders_channel)
            api = RestClient(gateway)
            product = new_product(products_stub, stock=10)
            request = order_request([(product.id, 2)], email=EMAIL)
            placed = orders_stub.CreateOrder(request, timeout=5)
            before = all_orders(orders_stub, timeout=5)

            products.kill()
            # For the whole outage, placements are refused fast and reads answer, however long Products stays away.
            refusals, reads_worked, slowest = 0, 0, 0.0
            outage_ends = time.monotonic() + OUTAGE
            while time.monotonic() < outage_ends:
                slowest = max(slowest, refused_in(orders_stub, api, request))
                refusals += 2
                reads_worked += reads(orders_stub, api, placed)
                time.sleep(0.5)
            assert all_orders(orders_stub, timeout=5) == before  # the refused placements left nothing visible

            products.restart()
            started = time.monotonic()
            while True:  # Orders' channel reconnects by itself; until it has, placements are refused
                try:
                    again = orders_stub.CreateOrder(request, timeout=5)
                    break
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                    assert time.monotonic() - started < BACK_WITHIN, 'Orders did not reach Products again in time'
                    time.sleep(0.05)
            time_to_recover = time.monotonic() - started
            while True:  # through Envoy the call may reach another Orders worker, whose channel reconnects on its own
                by_rest = api.post('/api/orders', rest_body(request))
                if by_rest.status != 503:
                    break
                assert time.monotonic() - started < BACK_WITHIN, f'Orders did not reach Products in time: {by_rest}'
                time.sleep(0.05)
            assert by_rest.status == 201, by_rest
            assert [(item.product_id, item.quantity) for item in again.items] == [(product.id, 2)]
            assert by_rest.body['items'][0]['quantity'] == 2

            # Every refused placement was undone by recovery, its stock never taken or given back once.
            recovery_wait = wait_until_settled(database_url('orders'), timeout=10)
            assert [order.id for order in all_orders(orders_stub, timeout=5)] == [
                int(by_rest.body['id']), again.id, placed.id]
            stock = products_stub.GetProduct(products_pb2.GetProductRequest(id=product.id), timeout=5)
            assert stock.stock_quantity == 10 - 3 * 2
            assert len(orders.processes) == 1 and orders.process.popen.poll() is None  # never restarted
    finally:
        envoy.stop()
    figures(products_timeout_s=PRODUCTS_TIMEOUT, outage_s=OUTAGE, refusals=refusals,
            slowest_refusal_s=round(slowest, 2), reads_worked=reads_worked,
            time_to_recover_s=round(time_to_recover, 2), recovery_wait_s=recovery_wait)
