"""With Orders stopped, Envoy answers its routes 503 with a google.rpc.Status body; Products keeps working.

This module stops the Orders process of its own `system` (the fixture is per module), so it runs alone.
"""
import pytest

from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import RestClient, grpcurl

# Envoy's answer for a service that is down is the same whatever the services' database: the SQLite pass only.
pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]

UNAVAILABLE = 14


def test_orders_routes_are_503_while_product_routes_still_work(system):
    api = RestClient(system.gateway)
    product = api.post('/api/products', {'name': 'Lamp', 'price': '30.00', 'stock_quantity': 5, 'category': 'home'})
    assert product.status == 201, product
    product_id = product.body['id']
    order = api.post('/api/orders', {'customer_name': 'Ada', 'customer_email': 'ada@example.com',
                                     'shipping_address': 'Row', 'items': [{'product_id': product_id, 'quantity': 2}]})
    assert order.status == 201, order

    orders_process = system.processes['orders']
    assert orders_process.stop() == 0

    for method, path, body in (
            ('get', f'/api/orders/{order.body["id"]}', None),
            ('get', '/api/orders?status=pending', None),
            ('get', '/api/orders/customer/ada@example.com', None),
            ('post', f'/api/orders/{order.body["id"]}/cancel', None),
            ('patch', f'/api/orders/{order.body["id"]}/status', {'status': 'processing'}),
            ('post', '/api/orders', {'customer_name': 'Ada', 'customer_email': 'ada@example.com',
                                     'shipping_address': 'Row', 'items': [{'product_id': product_id, 'quantity': 1}]}),
    ):
        reply = getattr(api, method)(path, **({'body': body} if body is not None else {}))
        assert reply.status == 503, (method, path, reply)
        assert reply.body['code'] == UNAVAILABLE and reply.body['details'] == [], reply
        assert reply.body['message'].startswith(
            'the orders service is not answering (starting, stopped or out of reach); try again ('), reply

    # Native gRPC through Envoy gets a plain gRPC status, not the JSON body meant for REST.
    result = grpcurl(system.gateway, 'ecommerce.orders.v1.OrderService/GetOrder', data={'id': order.body['id']},
                     protoset=True)
    assert result.returncode != 0
    assert 'Code: Unavailable' in result.stderr, result.stderr
    assert '"code"' not in result.stderr, result.stderr

    after = api.get(f'/api/products/{product_id}')
    assert after.status == 200, after
    assert after.body == {**product.body, 'stock_quantity': 3}  # nothing given back, nothing taken
    listed = api.get('/api/products?page_size=10')
    assert listed.status == 200 and product_id in [p['id'] for p in listed.body['products']]
