"""Requests grpc cannot parse are the client's mistake: the interceptor's deserializer lets the handler say so."""
from ecommerce.orders.v1 import orders_pb2

from services.server import UnreadableRequest, lenient

# GetOrdersByCustomerRequest.email (field 1, length 2) holding b'\xc3\x28', which is not UTF-8: what Envoy sends
# for GET /api/orders/customer/%C3%28. grpc answered INTERNAL ("Exception deserializing request!") for it.
NOT_UTF8 = b'\x0a\x02\xc3\x28'


def test_a_request_that_cannot_be_parsed_becomes_an_unreadable_request():
    assert isinstance(lenient(orders_pb2.GetOrdersByCustomerRequest.FromString)(NOT_UTF8), UnreadableRequest)


def test_a_request_that_parses_is_returned_as_it_is():
    parse = lenient(orders_pb2.GetOrdersByCustomerRequest.FromString)
    assert parse(b'\x0a\x03a@b') == orders_pb2.GetOrdersByCustomerRequest(email='a@b')
