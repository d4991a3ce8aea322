"""Each RPC's exposure agrees everywhere it shows: for every method of the descriptor set, its route in Envoy's
rendered configuration (class, cluster, rate limit, or none for an internal service), its REST verbs, its kind
(unary or stream) and its row in the access table. A method added to a proto fails here until all of them agree;
the last tests add such methods to a copy of the descriptor set and check that they are caught."""
import json
import re

import pytest
import yaml
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from bench.processes import DESCRIPTOR
from scripts import exposure
from scripts.gateway import LUA_FILTER, render_config, route_classes
from services import auth
from services.settings import IMPORT_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS

# The verbs AIP-131..136 give standard methods; any other write is a custom method, POST (AIP-136), or a PATCH of a
# sub-resource for an Update.
WRITE_VERBS = {'Create': {'post'}, 'Update': {'patch', 'put'}, 'Delete': {'delete'}}


def descriptor_set():
    return descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes())


def rendered_routes(descriptor_path):
    config = yaml.safe_load(render_config(descriptor_path, '127.0.0.1:8080', '127.0.0.1:9901', '127.0.0.1:50051',
                                          '127.0.0.1:50052'))
    manager = config['static_resources']['listeners'][0]['filter_chains'][0]['filters'][0]['typed_config']
    return manager['route_config']['virtual_hosts'][0]['routes']


def route_for(routes, path):
    """The first route whose match takes a request on `path` with no other condition, as Envoy picks routes."""
    for route in routes:
        match = route['match']
        if match.get('headers') or match.get('query_parameters'):
            continue
        if (match.get('path') == path or path.startswith(match.get('prefix', '\0'))
                or ('safe_regex' in match and re.fullmatch(match['safe_regex']['regex'], path))):
            return route
    return None


def disagreements(descriptor_path):
    """What does not agree about each of our RPCs, one line each; [] when all is well."""
    api = exposure.read_api(descriptor_path)
    routes = rendered_routes(descriptor_path)
    classes = route_classes({'request_timeout_seconds': REQUEST_TIMEOUT_SECONDS,
                             'import_timeout_seconds': IMPORT_TIMEOUT_SECONDS})
    problems = []
    for rpc in api.ours():
        problems += [f'{rpc.path}: {problem}' for problem in
                     kind_problems(rpc) + verb_problems(rpc) + access_problems(rpc)
                     + route_problems(rpc, route_for(routes, rpc.path), classes)]
    return problems


def kind_problems(rpc):
    watch, read = rpc.name.startswith(exposure.WATCH_PREFIX), rpc.name.startswith(exposure.READ_PREFIXES)
    problems = []
    if watch != (rpc.server_streaming and not rpc.client_streaming):
        problems.append('a Watch method, and only one, is a server stream')
    if read and (rpc.server_streaming or rpc.client_streaming):
        problems.append('a Get, List or Search method is unary')
    if rpc.client_streaming and rpc.bindings:
        problems.append('a client stream has no REST form')
    return problems


def verb_problems(rpc):
    if rpc.route_class in (exposure.READ, exposure.WATCH):
        allowed = {'get'}
    else:
        allowed = next((verbs for prefix, verbs in WRITE_VERBS.items() if rpc.name.startswith(prefix)), {'post'})
    return [f'REST {binding.verb.upper()} {binding.template}, expected {"/".join(sorted(allowed)).upper()} for a '
            f'{rpc.route_class}' for binding in rpc.bindings if binding.verb not in allowed]


def access_problems(rpc):
    if rpc.path not in auth.ACCESS:
        return ['no row in services/auth.py ACCESS']
    service_only = auth.ACCESS[rpc.path].roles == {auth.SERVICE}
    if service_only != rpc.internal:
        return ['the service role alone may call exactly the methods of internal services']
    return []


def route_problems(rpc, route, classes):
    if rpc.internal:
        return [] if route is None else ['an internal method has a route through Envoy']
    if route is None:
        return ['no route through Envoy']
    expected = classes[rpc.route_class]
    problems = []
    if route['route']['cluster'] != rpc.cluster:
        problems.append(f'routed to {route["route"]["cluster"]}, not {rpc.cluster}')
    if any(route['route'].get(key) != value for key, value in expected['route'].items()):
        problems.append(f'its route is not a {rpc.route_class} route')
    limited = route.get('metadata', {}).get('filter_metadata', {}).get('ecommerce', {}).get('limit') == 'writes'
    if limited != (rpc.route_class in (exposure.WRITE, exposure.IMPORT)):
        problems.append('writes, and only writes, count against the write limit')
    return problems


def test_every_rpc_agrees_everywhere():
    assert disagreements(DESCRIPTOR) == []


def test_every_class_is_what_its_name_says():
    classes = {rpc.name: rpc.route_class for rpc in exposure.read_api(DESCRIPTOR).public()}
    assert classes['GetProduct'] == classes['ListOrders'] == classes['SearchProducts'] == exposure.READ
    assert classes['WatchOrders'] == exposure.WATCH
    assert classes['ImportProducts'] == exposure.IMPORT
    assert classes['CreateOrder'] == classes['CancelOrder'] == classes['DeleteProduct'] == exposure.WRITE


def test_internal_services_are_neither_transcoded_nor_routed():
    api = exposure.read_api(DESCRIPTOR)
    internal = {rpc.service for rpc in api.ours() if rpc.internal}
    assert internal == {'ecommerce.products.v1.StockService'}
    assert not internal & set(api.public_services())


# --- a method added without its exposure agreeing is caught ----------------------------------------------------

def with_method(tmp_path, service, name, verb=None, client_streaming=False, server_streaming=False):
    """A copy of the descriptor set with one more method on `service` (taking the service's first method's
    messages), written to a file; its path."""
    descriptors = descriptor_set()
    target = next(found for file in descriptors.file for found in file.service if found.name == service)
    method = target.method.add(name=name, input_type=target.method[0].input_type,
                               output_type=target.method[0].output_type, client_streaming=client_streaming,
                               server_streaming=server_streaming)
    if verb:
        method.options.Extensions[annotations_pb2.http].CopyFrom(http_pb2.HttpRule(**{verb: f'/api/{name.lower()}'}))
    path = tmp_path / 'changed.pb'
    path.write_bytes(descriptors.SerializeToString())
    return path


@pytest.fixture
def access_row(monkeypatch):
    """access_row(path): gives the method an ACCESS row for the length of the test."""
    return lambda path, access=auth.ADMIN_ONLY: monkeypatch.setitem(auth.ACCESS, path, access)


def test_a_read_mapped_to_post_is_caught(tmp_path, access_row):
    access_row('/ecommerce.products.v1.ProductService/GetWidget')
    problems = disagreements(with_method(tmp_path, 'ProductService', 'GetWidget', verb='post'))
    assert problems == ['/ecommerce.products.v1.ProductService/GetWidget: REST POST /api/getwidget, expected GET '
                        'for a read']


def test_a_method_without_an_access_row_is_caught(tmp_path):
    problems = disagreements(with_method(tmp_path, 'OrderService', 'ArchiveOrder', verb='post'))
    assert problems == ['/ecommerce.orders.v1.OrderService/ArchiveOrder: no row in services/auth.py ACCESS']


def test_a_watch_that_is_not_a_stream_is_caught(tmp_path, access_row):
    access_row('/ecommerce.orders.v1.OrderService/WatchStock')
    problems = disagreements(with_method(tmp_path, 'OrderService', 'WatchStock', verb='get'))
    assert problems == [
        '/ecommerce.orders.v1.OrderService/WatchStock: a Watch method, and only one, is a server stream',
        '/ecommerce.orders.v1.OrderService/WatchStock: REST GET /api/watchstock, expected POST for a write']


def test_an_internal_method_open_to_others_is_caught(tmp_path, access_row):
    access_row('/ecommerce.products.v1.StockService/AdjustStock')
    problems = disagreements(with_method(tmp_path, 'StockService', 'AdjustStock'))
    assert problems == ['/ecommerce.products.v1.StockService/AdjustStock: the service role alone may call exactly '
                        'the methods of internal services']


def test_a_new_public_method_is_routed_by_its_class(tmp_path, access_row):
    access_row('/ecommerce.orders.v1.OrderService/ListReturns')
    changed = with_method(tmp_path, 'OrderService', 'ListReturns', verb='get')
    assert disagreements(changed) == []
    route = route_for(rendered_routes(changed), '/ecommerce.orders.v1.OrderService/ListReturns')
    assert route['route']['cluster'] == 'orders' and 'metadata' not in route
    assert 'unavailable' in route['route']['retry_policy']['retry_on']


def test_creates_answer_201_with_their_location_and_deletes_204_over_rest():
    answers = {rpc.name: rpc.rest_answer for rpc in exposure.read_api(DESCRIPTOR).public()}
    assert answers['CreateProduct'] == {'status': '201', 'location': '/api/products/'}
    assert answers['CreateOrder'] == {'status': '201', 'location': '/api/orders/'}
    assert answers['DeleteProduct'] == {'status': '204'}
    assert answers['CancelOrder'] is answers['UpdateProduct'] is answers['GetProduct'] is None


def test_each_rest_answer_is_the_one_its_route_gives_and_the_openapi_document_states():
    api = exposure.read_api(DESCRIPTOR)
    routes = rendered_routes(DESCRIPTOR)
    document = json.loads(DESCRIPTOR.with_name('openapi.json').read_text())
    for rpc in api.public():
        assert route_for(routes, rpc.path).get('metadata', {}).get('filter_metadata', {}).get(LUA_FILTER) == \
            rpc.rest_answer, rpc.name
        for binding in rpc.bindings:
            path = re.sub(r'{(?:[^}=.]+\.)*([^}=.]+)(=[^}]*)?}', r'{\1}', binding.template)  # as OpenAPI writes it
            operation = document['paths'][path][binding.verb]
            assert [code for code in operation['responses'] if code.startswith('2')] == [
                str(binding.success(rpc.name))], (rpc.name, binding)
