"""A resumed watch through the real Envoy (REST): each change it replays carries the order as it was right after it."""
import http.client
import json

import pytest

from tests.e2e.clients import RestClient
from tests.e2e.test_rest import create_product, place_order, unique_tag

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def api(system):
    return RestClient(system.gateway)


def replayed_orders(gateway, path, count):
    """The `order` of each of the first `count` JSON lines a watch at `path` sends."""
    connection = http.client.HTTPConnection(gateway, timeout=15)
    try:
        connection.request('GET', path)
        response = connection.getresponse()
        assert response.status == 200
        return [json.loads(response.readline())['order'] for _ in range(count)]
    finally:
        connection.close()


def test_a_resumed_rest_watch_replays_each_change_with_the_order_as_it_was_then(system, api):
    email = f'{unique_tag().lower()}@example.com'
    order = place_order(api, [(create_product(api, stock_quantity=5)['id'], 1)], email=email)
    placed = api.get(f'/api/orders/{order["id"]}/events').body['events'][0]['id']
    after_each = []
    for status in ('processing', 'shipped'):
        reply = api.patch(f'/api/orders/{order["id"]}/status', {'status': status})
        assert reply.status == 200, reply
        after_each.append(reply.body)
    for path in (f'/api/orders/{order["id"]}/watch?after_event_id={placed}',
                 f'/api/orders/watch?customer_email={email}&after_event_id={placed}'):
        assert replayed_orders(system.gateway, path, 2) == after_each, path
