"""The OpenAPI document that scripts.openapi writes from the descriptor set: a valid OpenAPI 3.1 document, and
the transcoder's mapping of http rules, query parameters and messages, checked on a few RPCs."""
import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2
from google.rpc import status_pb2
from openapi_spec_validator import validate

from bench.processes import DESCRIPTOR
from scripts.openapi import build_document, read_descriptor_set

INT64 = {'type': 'string', 'format': 'int64', 'pattern': '^-?[0-9]+$'}
INT32 = {'type': 'integer', 'format': 'int32', 'minimum': -2 ** 31, 'maximum': 2 ** 31 - 1}
STATUS = {'application/json': {'schema': {'$ref': '#/components/schemas/google.rpc.Status'}}}
Field = descriptor_pb2.FieldDescriptorProto


@pytest.fixture(scope='module')
def document():
    return build_document(read_descriptor_set(DESCRIPTOR))


def operations(document):
    return {operation['operationId']: operation for path in document['paths'].values()
            for operation in path.values()}


def test_the_document_is_valid_openapi(document):
    validate(document)


def test_every_http_rule_is_an_operation_and_nothing_else(document):
    assert {(verb, path) for path, verbs in document['paths'].items() for verb in verbs} == {
        ('post', '/api/products'), ('get', '/api/products'), ('get', '/api/products/{id}'),
        ('patch', '/api/products/{id}'), ('put', '/api/products/{id}'), ('delete', '/api/products/{id}'),
        ('get', '/api/products/search'), ('get', '/api/products/{product_id}/stock-movements'),
        ('post', '/api/orders'), ('get', '/api/orders'), ('get', '/api/orders/{id}'),
        ('patch', '/api/orders/{id}/status'), ('post', '/api/orders/{id}/cancel'),
        ('get', '/api/orders/customer/{email}'), ('get', '/api/orders/{order_id}/events'),
        ('get', '/api/orders/{id}/watch'), ('get', '/api/orders/watch'),
        ('post', '/api/carts'), ('get', '/api/carts'), ('get', '/api/carts/{id}'),
        ('post', '/api/carts/{cart_id}/items'), ('patch', '/api/carts/{cart_id}/items/{product_id}'),
        ('delete', '/api/carts/{cart_id}/items/{product_id}'),
        ('post', '/api/carts/{id}/checkout'), ('post', '/api/carts/{id}/complete'), ('post', '/api/carts/{id}/abandon')}
    # ImportProducts and StockService's methods have no http rule: no REST form.
    assert not {'ImportProducts', 'ReserveStock', 'ReserveStocks', 'ReleaseStock', 'ConvertHold',
                'GetStockLevels'} & set(operations(document))


def test_a_get_takes_its_path_variable_as_a_64_bit_decimal_string(document):
    get_product = document['paths']['/api/products/{id}']['get']
    assert get_product['parameters'] == [{'name': 'id', 'in': 'path', 'required': True, 'schema': INT64}]
    assert get_product['summary'] == 'Returns one product, or NOT_FOUND'
    assert get_product['responses']['200']['content'] == {
        'application/json': {'schema': {'$ref': '#/components/schemas/ecommerce.products.v1.Product'}}}


def test_a_rule_and_its_additional_binding_share_one_path_template(document):
    """UpdateProduct's `{product.id}` is listed under GetProduct's `{id}`: OpenAPI allows one template per shape."""
    patch = document['paths']['/api/products/{id}']['patch']
    put = document['paths']['/api/products/{id}']['put']
    assert (patch['operationId'], put['operationId']) == ('UpdateProduct', 'UpdateProduct_put')
    assert patch['parameters'] == put['parameters'] == [
        {'name': 'id', 'in': 'path', 'required': True, 'schema': INT64,
         'description': "The request's `product.id`."},
        {'name': 'update_mask', 'in': 'query', 'required': False,
         'schema': {'type': 'string', 'description': 'Field paths separated by commas'},
         'description': 'Fields to change: name, description, price, stock_quantity, category, or\n'
                        '"*" for all of them.'}]
    assert patch['requestBody'] == {'required': False, 'content': {'application/json': {
        'schema': {'$ref': '#/components/schemas/ecommerce.products.v1.ProductInput'}}}}


def test_a_get_takes_every_other_field_from_the_query_string(document):
    search = document['paths']['/api/products/search']['get']
    assert [(parameter['name'], parameter['schema']) for parameter in search['parameters']] == [
        ('q', {'type': 'string'}),
        ('category', {'$ref': '#/components/schemas/ecommerce.products.v1.Product.CategoryInput'}),
        ('min_price', {'type': 'string'}), ('max_price', {'type': 'string'}),
        ('page_size', INT32), ('page_token', {'type': 'string'}), ('stock_below', INT32)]
    assert 'requestBody' not in search


def test_a_body_star_is_the_request_less_its_path_variables(document):
    update_status = document['paths']['/api/orders/{id}/status']['patch']
    assert [parameter['name'] for parameter in update_status['parameters']] == ['id']
    assert update_status['requestBody']['content']['application/json']['schema'] == {
        'type': 'object', 'properties': {'status': {
            '$ref': '#/components/schemas/ecommerce.orders.v1.Order.StatusInput',
            'description': 'The status to move to.'}}}
    create_order = document['paths']['/api/orders']['post']
    assert create_order['parameters'] == []
    body = create_order['requestBody']['content']['application/json']['schema']
    assert list(body['properties']) == ['customer_name', 'customer_email', 'shipping_address', 'items', 'request_id']
    assert body['properties']['items']['items'] == {
        '$ref': '#/components/schemas/ecommerce.orders.v1.OrderItemRequestInput'}
    assert 'required' not in body


def test_enums_are_printed_by_name_and_read_by_name_in_any_case_or_number(document):
    schemas = document['components']['schemas']
    assert schemas['ecommerce.products.v1.Product.Category'] == {
        'type': 'string', 'description': 'Product categories.',
        'enum': ['CATEGORY_UNSPECIFIED', 'ELECTRONICS', 'CLOTHING', 'BOOKS', 'HOME', 'SPORTS', 'TOYS', 'OTHER']}
    read = schemas['ecommerce.products.v1.Product.CategoryInput']['anyOf']
    assert read[0] == {key: value for key, value in schemas['ecommerce.products.v1.Product.Category'].items()
                       if key != 'description'}
    assert read[1]['pattern'].startswith('^([Cc][Aa][Tt][Ee][Gg][Oo][Rr][Yy]_[Uu][Nn]')
    assert read[2] == {'type': 'integer', 'enum': [0, 1, 2, 3, 4, 5, 6, 7]}
    assert schemas['ecommerce.products.v1.StockMovement.Reason']['description'].splitlines() == [
        "- RESERVED: Taken for an order (the reservation's id is the order's).",
        '- RELEASED: Given back when the order was cancelled, its placement undone, or a checkout abandoned.',
        '- ADJUSTED: Set by an update of the product.',
        "- HELD: Held for a cart's checkout (cart_id).",
        "- EXPIRED: Given back when a checkout's hold expired.",
        "- ORDERED: A checkout's hold became the order order_id: no units move (delta 0)."]


def test_responses_require_every_field_without_presence(document):
    """always_print_primitive_fields prints every field but `optional` ones and unset messages."""
    schemas = document['components']['schemas']
    product = schemas['ecommerce.products.v1.Product']
    assert product['required'] == ['id']
    assert product['properties']['name'] == {'type': 'string', 'description': 'Required, 1 to 200 characters.'}
    assert product['properties']['created_at'] == {'type': 'string', 'format': 'date-time',
                                                   'description': 'Output only.'}
    assert product['description'] == 'A product in the catalogue.'
    assert schemas['ecommerce.orders.v1.Order']['required'] == [
        'id', 'customer_name', 'customer_email', 'total_amount', 'status', 'shipping_address', 'items',
        'currency_code']
    assert 'required' not in schemas['ecommerce.products.v1.ProductInput']
    assert schemas['google.rpc.Status']['required'] == ['code', 'message', 'details']


def test_each_call_lists_the_statuses_its_comment_names_and_those_envoy_answers(document):
    by_id = operations(document)
    create_order = by_id['CreateOrder']['responses']
    assert set(create_order) == {'201', '400', '401', '403', '413', '429', '503', '504'}
    assert create_order['201']['headers']['Location']['required'] is True
    assert create_order['400']['content'] == STATUS
    assert create_order['400']['description'].startswith(
        'FAILED_PRECONDITION (see the description); INVALID_ARGUMENT (see the description); a query parameter')
    assert create_order['503']['description'].startswith('UNAVAILABLE (see the description); ')
    # A read has no body and no write limit; a path variable may make the path match no route.
    assert set(by_id['ListOrders']['responses']) == {'200', '400', '401', '403', '503', '504'}
    assert set(by_id['GetOrder']['responses']) == {'200', '400', '401', '403', '404', '503', '504'}
    assert set(by_id['DeleteProduct']['responses']) == {'204', '400', '401', '403', '404', '429', '503', '504'}
    assert 'content' not in by_id['DeleteProduct']['responses']['204']
    # The catalogue's reads need no token: a bad one is still refused, but no role is.
    assert set(by_id['GetProduct']['responses']) == {'200', '400', '401', '404', '503', '504'}


def test_who_may_call_each_operation_is_the_access_tables(document):
    security = {operation_id: operation['security'] for operation_id, operation in operations(document).items()}
    public = {operation_id for operation_id, allowed in security.items() if {} in allowed}
    assert public == {'GetProduct', 'ListProducts', 'SearchProducts'}
    assert all(allowed == [{'bearer': []}] for operation_id, allowed in security.items() if operation_id not in public)
    bearer = document['components']['securitySchemes']['bearer']
    assert (bearer['type'], bearer['scheme'], bearer['bearerFormat']) == ('http', 'bearer', 'JWT')


def test_a_server_stream_is_described_line_by_line(document):
    watch = document['paths']['/api/orders/{id}/watch']['get']['responses']['200']
    assert watch['content'] == {
        'application/json': {'schema': {'$ref': '#/components/schemas/ecommerce.orders.v1.OrderUpdate'}}}
    assert watch['description'].startswith('A stream: one JSON object per line')


def test_services_are_tags_described_by_their_comments(document):
    assert [tag['name'] for tag in document['tags']] == ['OrderService', 'CartService', 'ProductService']
    assert document['tags'][0]['description'].startswith('Orders and their items.')
    assert document['info']['version'] == 'v1'


# --- mapping rules the protos of this project do not use yet, on a descriptor made here -------------------

def field(name, number, kind, type_name='', repeated=False):
    return Field(name=name, number=number, type=kind, type_name=type_name,
                 label=Field.LABEL_REPEATED if repeated else Field.LABEL_OPTIONAL)


def method(name, rule, client_streaming=False):
    options = descriptor_pb2.MethodOptions()
    options.Extensions[annotations_pb2.http].CopyFrom(rule)
    return descriptor_pb2.MethodDescriptorProto(name=name, input_type='.shop.v1.FindRequest',
                                                output_type='.shop.v1.Filter', options=options,
                                                client_streaming=client_streaming)


def descriptor_set(*methods):
    filter_message = descriptor_pb2.DescriptorProto(name='Filter', field=[
        field('tags', 1, Field.TYPE_STRING, repeated=True),
        field('since', 2, Field.TYPE_MESSAGE, '.google.protobuf.Timestamp'),
        field('counts', 3, Field.TYPE_UINT64, repeated=True),
        field('parent', 4, Field.TYPE_MESSAGE, '.shop.v1.Filter')])
    request = descriptor_pb2.DescriptorProto(name='FindRequest', field=[
        field('shop_id', 1, Field.TYPE_INT64), field('filter', 2, Field.TYPE_MESSAGE, '.shop.v1.Filter')])
    status = descriptor_pb2.FileDescriptorProto()
    status_pb2.DESCRIPTOR.CopyToProto(status)  # every error's body
    return descriptor_pb2.FileDescriptorSet(file=[status, descriptor_pb2.FileDescriptorProto(
        name='shop.proto', package='shop.v1', message_type=[filter_message, request],
        service=[descriptor_pb2.ServiceDescriptorProto(name='ShopService', method=list(methods))])])


def test_nested_fields_are_dotted_query_parameters_and_repeated_ones_repeat():
    document = build_document(descriptor_set(method('Find', http_pb2.HttpRule(get='/v1/shops/{shop_id}/things'))))
    validate(document)
    parameters = document['paths']['/v1/shops/{shop_id}/things']['get']['parameters']
    assert parameters == [
        {'name': 'shop_id', 'in': 'path', 'required': True, 'schema': INT64},
        {'name': 'filter.tags', 'in': 'query', 'required': False, 'style': 'form', 'explode': True,
         'schema': {'type': 'array', 'items': {'type': 'string'}}},
        {'name': 'filter.since', 'in': 'query', 'required': False,
         'schema': {'type': 'string', 'format': 'date-time'}},
        {'name': 'filter.counts', 'in': 'query', 'required': False, 'style': 'form', 'explode': True,
         'schema': {'type': 'array', 'items': {'type': 'string', 'format': 'uint64', 'pattern': '^[0-9]+$'}}}]
    # A message that holds itself: its schema refers to itself rather than recursing without end.
    assert document['components']['schemas']['shop.v1.Filter']['properties']['parent'] == {
        '$ref': '#/components/schemas/shop.v1.Filter'}


def test_a_body_field_leaves_the_other_fields_to_the_query_string():
    document = build_document(descriptor_set(method('Find', http_pb2.HttpRule(post='/v1/shops', body='filter'))))
    operation = document['paths']['/v1/shops']['post']
    assert operation['parameters'] == [{'name': 'shop_id', 'in': 'query', 'required': False, 'schema': INT64}]
    assert operation['requestBody']['content']['application/json']['schema'] == {
        '$ref': '#/components/schemas/shop.v1.FilterInput'}


def test_a_client_stream_with_an_http_rule_is_refused():
    with pytest.raises(ValueError, match=r'ShopService\.Find: a client stream has no REST form'):
        build_document(descriptor_set(method('Find', http_pb2.HttpRule(post='/v1/shops', body='*'),
                                             client_streaming=True)))
