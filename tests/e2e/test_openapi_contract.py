"""The OpenAPI document against the running system: Envoy serves it, and schemathesis sends requests made from it
through the real Envoy, to services that check tokens, and checks every answer: no 5xx, only documented status
codes, bodies and headers as the document says, and requests the document calls invalid refused.

A bounded number of examples per operation, the same ones on every run (derandomize): ECOMMERCE_FUZZ_EXAMPLES=500
makes a longer search locally (docs/operations.md)."""
import os

import pytest
import requests
import schemathesis
from hypothesis import settings
from schemathesis.checks import positive_data_acceptance, unsupported_method

from bench.processes import ROOT
from scripts import tokens
from services import auth
from tests.e2e.clients import RestClient

pytestmark = pytest.mark.e2e

DOCUMENT = ROOT / 'build' / 'openapi.json'
EXAMPLES = int(os.environ.get('ECOMMERCE_FUZZ_EXAMPLES', '25'))
# The watches answer a stream that lasts as long as the client wants (WatchOrders until it goes away, WatchOrder
# until the order is delivered or cancelled): a generated request would wait for its end until it timed out.
# test_a_watch_streams_lines_the_document_describes checks their answers instead.
STREAMS = ['WatchOrder', 'WatchOrders']
# Checks left out, each for a reason:
# - positive_data_acceptance expects a 2xx (or 404) for every request the schema allows, but the schema gives the
#   protos' types only, not the services' rules (a positive id, a decimal price, a valid email): those requests are
#   answered 400 INVALID_ARGUMENT naming the field, which the document lists for every operation.
# - unsupported_method expects 405 for a method a path does not have (TRACE /api/orders); Envoy's transcoder answers
#   404 for every method and path it has no rule for and has no setting for 405 (README "REST through Envoy").
NOT_CHECKED = [positive_data_acceptance, unsupported_method]

schema = schemathesis.openapi.from_path(DOCUMENT).exclude(operation_id=STREAMS)


def test_envoy_serves_the_document_as_json(system):
    reply = RestClient(system.gateway).get('/api/openapi.json')
    assert reply.status == 200
    assert reply.headers['content-type'] == 'application/json'
    assert reply.text == DOCUMENT.read_text()


@pytest.fixture(scope='module')
def admin_token(auth_keys):
    return auth.TokenIssuer.from_config(auth_keys / tokens.SIGNING_KEY).issue([auth.ADMIN])


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True)
def test_every_operation_answers_as_documented(case, secure_system, admin_token):
    """As an admin, on a system that checks tokens: schemathesis also calls each operation the document says needs
    a token without one (its ignored_auth check), which must be refused."""
    case.call_and_validate(base_url=f'http://{secure_system.gateway}', timeout=10, excluded_checks=NOT_CHECKED,
                           headers={'Authorization': f'Bearer {admin_token}'})


def test_a_watch_streams_lines_the_document_describes(system):
    """A watch of a cancelled order sends the order's latest change and ends: one line to check."""
    api = RestClient(system.gateway)
    product = api.post('/api/products', {'name': 'Lamp', 'price': '12.00', 'stock_quantity': 2,
                                         'category': 'home'}).body
    order = api.post('/api/orders', {'customer_name': 'Ada', 'customer_email': 'ada@example.com',
                                      'shipping_address': '12 Analytical Row',
                                      'items': [{'product_id': product['id'], 'quantity': 1}]}).body
    assert api.post(f'/api/orders/{order["id"]}/cancel').status == 200
    watch = schemathesis.openapi.from_path(DOCUMENT)['/api/orders/{id}/watch']['GET']
    streamed = requests.get(f'http://{system.gateway}/api/orders/{order["id"]}/watch', timeout=10)
    assert streamed.status_code == 200 and len(streamed.text.splitlines()) == 1
    watch.validate_response(streamed)
    unknown = requests.get(f'http://{system.gateway}/api/orders/987654321/watch', timeout=10)
    assert unknown.status_code == 404
    watch.validate_response(unknown)
