"""Every listing that takes a page_token, through real in-process servers: a made-up, mangled or foreign token is
INVALID_ARGUMENT naming page_token, with nothing in the log and nothing changed; the tokens it issued still work."""
import base64
import logging

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2
from ecommerce.products.v1 import products_pb2

from services import pagination
from tests.conftest import new_product
from tests.hostile import assert_clear_refusal
from tests.rpc_errors import error_details
from tests.service.test_orders_service import order_request

EMAIL = 'ada@example.com'


def _encoded(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip('=')


def checksummed(cursor, listing):
    """A token with a good checksum for `listing` whose cursor is any text: the key is in the public source."""
    payload = f'{cursor}.{pagination._listing_digest(listing)}'
    return _encoded(f'{payload}.{pagination._checksum(payload)}')


# Each listing RPC: (stub fixture, method, its request given the shop's product and order ids, its listing key).
LISTINGS = {
    'ListProducts': ('products_stub', lambda shop: products_pb2.ListProductsRequest(), lambda shop: 'products'),
    'SearchProducts': ('products_stub', lambda shop: products_pb2.SearchProductsRequest(q='lamp'),
                       lambda shop: 'search|lamp||None|None|None'),
    'ListStockMovements': ('products_stub', lambda shop: products_pb2.ListStockMovementsRequest(product_id=shop[0]),
                           lambda shop: f'movements|{shop[0]}'),
    'ListOrders': ('orders_stub', lambda shop: orders_pb2.ListOrdersRequest(), lambda shop: 'orders|'),
    'GetOrdersByCustomer': ('orders_stub', lambda shop: orders_pb2.GetOrdersByCustomerRequest(email=EMAIL),
                            lambda shop: f'customer|{EMAIL}'),
    'ListOrderEvents': ('orders_stub', lambda shop: orders_pb2.ListOrderEventsRequest(order_id=shop[1]),
                        lambda shop: f'events|{shop[1]}'),
}

# Tokens no listing issued, given the listing's key: each gave INTERNAL with a traceback before.
BAD_TOKENS = {
    'cursor past int64': lambda listing: checksummed(2**64, listing),
    'cursor not a number': lambda listing: checksummed('x', listing),
    'negative cursor': lambda listing: checksummed(-5, listing),
    'cursor of 5000 digits': lambda listing: checksummed('9' * 5000, listing),
    'non-ASCII checksum': lambda listing: _encoded(f'1.{pagination._listing_digest(listing)}.é'),
    'another listing': lambda listing: pagination.encode_page_token(1, listing + '|other'),
    'padded': lambda listing: pagination.encode_page_token(1, listing) + '==',
    'junk': lambda listing: 'not-a-token',
}


@pytest.fixture
def shop(products_stub, orders_stub):
    """(a product's id, an order's id), with two rows in every listing: two lamps, two orders of the first, two events
    of the first order."""
    lamp = new_product(products_stub, name='Desk lamp', stock=10)
    new_product(products_stub, name='Floor lamp')
    order, _ = (orders_stub.CreateOrder(order_request((lamp.id, 2), email=EMAIL)) for _ in range(2))
    orders_stub.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(id=order.id, status=orders_pb2.Order.PROCESSING))
    return lamp.id, order.id


@pytest.mark.parametrize('kind', sorted(BAD_TOKENS))
@pytest.mark.parametrize('rpc', sorted(LISTINGS))
def test_a_token_no_listing_issued_is_invalid_argument_naming_page_token(request, shop, caplog, rpc, kind):
    stub_name, build, listing = LISTINGS[rpc]
    method = getattr(request.getfixturevalue(stub_name), rpc)
    first_page = method(build(shop))
    asked = build(shop)
    asked.page_token = BAD_TOKENS[kind](listing(shop))
    with caplog.at_level(logging.WARNING), pytest.raises(grpc.RpcError) as raised:
        method(asked)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert_clear_refusal(raised.value)
    assert list(error_details(raised.value).fields) == ['page_token']
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING or record.exc_info]
    assert method(build(shop)) == first_page  # nothing changed


@pytest.mark.parametrize('rpc', sorted(LISTINGS))
def test_the_tokens_a_listing_issues_lead_through_it(request, shop, rpc):
    """The listing key each test above forges for is the one the server uses: its own tokens page through."""
    stub_name, build, listing = LISTINGS[rpc]
    method = getattr(request.getfixturevalue(stub_name), rpc)
    asked = build(shop)
    asked.page_size = 1
    first = method(asked)
    assert pagination.page_request(1, first.next_page_token, listing(shop)).after is not None
    asked.page_token = first.next_page_token
    assert method(asked).next_page_token == ''
