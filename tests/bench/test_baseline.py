"""The Django baseline answers the benchmark's four routes as the seed's DRF API did, on the dataset's products."""
from decimal import Decimal

import pytest

from bench import dataset
from tests.bench.conftest import BASELINE_PRODUCTS
from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import RestClient

# The baseline has a SQLite database of its own, whatever the suite's: the SQLite pass only.
pytestmark = [pytest.mark.baseline, DATABASE_INDEPENDENT]

SEEDED = list(dataset.products(BASELINE_PRODUCTS))


@pytest.fixture(scope='module')
def client(baseline):
    return RestClient(f'127.0.0.1:{baseline.port}')


def seeded(product_id):
    """The dataset's product with this id, as the baseline should render it."""
    return {'id': product_id, **SEEDED[product_id - 1]}


def test_a_product_has_the_seeded_fields(client):
    reply = client.get('/api/products/7/')
    assert reply.status == 200
    assert {field: reply.body[field] for field in seeded(7)} == seeded(7)
    assert {'created_at', 'updated_at'} <= reply.body.keys()
    assert client.get(f'/api/products/{BASELINE_PRODUCTS + 1}/').status == 404


def test_the_list_is_paginated_as_drf_does(client):
    first = client.get('/api/products/').body
    assert first['count'] == BASELINE_PRODUCTS and first['previous'] is None
    assert [product['id'] for product in first['results']] == list(range(1, 21))
    second = client.get('/api/products/?page=2').body
    assert first['next'].endswith('/api/products/?page=2')
    assert [product['id'] for product in second['results']] == list(range(21, 41))


@pytest.mark.parametrize('query, keep', [
    (f'q={dataset.SEARCH_TERM.upper()}', lambda product: dataset.SEARCH_TERM in product['name'].lower()),
    ('category=toys&min_price=100&max_price=500',
     lambda product: product['category'] == 'toys' and 100 <= Decimal(product['price']) <= 500),
])
def test_search_returns_exactly_the_matching_products(client, query, keep):
    expected = [product_id for product_id in range(1, BASELINE_PRODUCTS + 1) if keep(seeded(product_id))]
    reply = client.get(f'/api/products/search/?{query}')
    assert reply.status == 200 and expected
    assert reply.body['count'] == len(expected)
    assert [product['id'] for product in reply.body['results']] == expected[:20]


def order(*items):
    return {'customer_name': 'Ada Lovelace', 'customer_email': 'ada@example.com',
            'shipping_address': '12 Analytical Row, London',
            'items': [{'product_id': product_id, 'quantity': quantity} for product_id, quantity in items]}


def stock(client, product_id):
    return client.get(f'/api/products/{product_id}/').body['stock_quantity']


def test_an_order_takes_its_stock_and_is_returned(client):
    reply = client.post('/api/orders/', order((11, 2), (12, 1)))
    assert reply.status == 201, reply
    prices = [Decimal(seeded(11)['price']), Decimal(seeded(12)['price'])]
    assert Decimal(reply.body['total_amount']) == 2 * prices[0] + prices[1]
    assert reply.body['status'] == 'pending'
    assert [(item['product'], item['quantity'], item['product_name']) for item in reply.body['items']] == [
        (11, 2, seeded(11)['name']), (12, 1, seeded(12)['name'])]
    assert (stock(client, 11), stock(client, 12)) == (dataset.STOCK_QUANTITY - 2, dataset.STOCK_QUANTITY - 1)
    assert client.get(f"/api/orders/{reply.body['id']}/").body == reply.body


def test_an_order_short_of_stock_takes_nothing(client):
    reply = client.post('/api/orders/', order((13, 1), (14, dataset.STOCK_QUANTITY + 1)))
    assert reply.status == 400, reply
    assert (stock(client, 13), stock(client, 14)) == (dataset.STOCK_QUANTITY, dataset.STOCK_QUANTITY)
