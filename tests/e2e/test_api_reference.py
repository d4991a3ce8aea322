"""The browsable API reference Envoy serves at /api/docs/ (Swagger UI, installed from npm by make; no CDN), in
Chromium: it shows the OpenAPI document's operations, and "Try it out" calls the same gateway and shows the answer."""
import pytest
from playwright.sync_api import expect

from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import RestClient

pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]  # a browser: the SQLite pass only


def test_the_reference_renders_the_document_and_try_it_calls_the_gateway(browser, system):
    api = RestClient(system.gateway)
    assert api.post('/api/products', {'name': 'Referenced lamp', 'price': '5.00', 'category': 'home'}).status == 201
    redirect = api.get('/api/docs')
    assert (redirect.status, redirect.headers['location']) == (301, f'http://{system.gateway}/api/docs/')

    page = browser.new_context().new_page()
    elsewhere = []  # requests to anywhere but the gateway
    page.on('request', lambda request: request.url.startswith(f'http://{system.gateway}/')
            or elsewhere.append(request.url))
    page.goto(f'http://{system.gateway}/api/docs/')
    expect(page.locator('.info .title')).to_contain_text('ecommerce-grpc REST API')
    operation = page.locator('#operations-ProductService-ListProducts')
    expect(operation).to_be_visible()
    operation.locator('.opblock-summary').click()
    operation.get_by_role('button', name='Try it out').click()
    operation.get_by_role('button', name='Execute').click()
    response = operation.locator('.live-responses-table .response')
    expect(response.locator('.response-col_status')).to_have_text('200')
    expect(response.locator('.response-col_description')).to_contain_text('Referenced lamp')
    assert elsewhere == []  # every file came from the gateway: no CDN
