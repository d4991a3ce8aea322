"""Native gRPC users through Envoy's one public port: server reflection describes both public services (and no
internal one), and the health service answers for each service as Envoy sees it (envoy/envoy.yaml, gateway_health)."""
import time
import urllib.request

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from bench.processes import start_envoy, start_service
from services.reflection import api_files, is_internal, public_services
from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import grpcurl, grpcurl_json

pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]

PRODUCTS = 'ecommerce.products.v1.ProductService'
ORDERS = 'ecommerce.orders.v1.OrderService'
CARTS = 'ecommerce.orders.v1.CartService'
HEALTH = 'grpc.health.v1.Health'
REFLECTION = 'grpc.reflection.v1alpha.ServerReflection'
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
FILES = api_files()
PUBLIC = {service.full_name: service for service in public_services(FILES)}
INTERNAL = sorted(service.full_name for file in FILES for service in file.services_by_name.values()
                  if is_internal(service.GetOptions()))


def listed(address):
    result = grpcurl(address, 'list')
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def health_check(address, service):
    """The status the health service at `address` answers for `service`; RpcError for an error status."""
    with grpc.insecure_channel(address) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                         timeout=5).status


def wait_for_health(address, service, expected, timeout=15):
    """Seconds until the gateway answers `expected` for `service`; every answer meanwhile must be a status (never an
    error such as UNAVAILABLE)."""
    started = time.monotonic()
    while (status := health_check(address, service)) != expected:
        assert time.monotonic() - started < timeout, f'{service} still {status} after {timeout} s'
        time.sleep(0.1)
    return time.monotonic() - started


def test_the_gateway_lists_the_public_services_and_no_internal_one(system):
    assert sorted(PUBLIC) == [CARTS, ORDERS, PRODUCTS]
    services = listed(system.gateway)
    assert services == sorted([*PUBLIC, HEALTH, REFLECTION])
    assert not set(services) & set(INTERNAL)


@pytest.mark.parametrize('server, own, other', [('products', PRODUCTS, ORDERS), ('orders', ORDERS, PRODUCTS)])
def test_each_service_port_still_lists_its_own_services_only(system, server, own, other):
    services = listed(getattr(system, server))
    assert own in services and other not in services
    assert {HEALTH, REFLECTION} <= set(services)


@pytest.mark.parametrize('service', [PRODUCTS, ORDERS, CARTS])
def test_grpcurl_describes_each_public_service_through_the_gateway(system, service):
    result = grpcurl(system.gateway, 'describe', service)
    assert result.returncode == 0, result.stderr
    assert f'{service} is a service' in result.stdout
    for method in PUBLIC[service].methods:
        assert f'rpc {method.name} (' in result.stdout, method.name


def test_reflection_through_the_gateway_describes_every_public_file_as_built(system):
    """Every message a public RPC takes or returns, and every file those import, as the build has them: a client
    (here grpc's own reflection client) builds the same descriptors through the gateway alone."""
    with grpc.insecure_channel(system.gateway) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        for name, expected in PUBLIC.items():
            service = pool.FindServiceByName(name)
            reflected, built = descriptor_pb2.FileDescriptorProto(), descriptor_pb2.FileDescriptorProto()
            service.file.CopyToProto(reflected)
            expected.file.CopyToProto(built)
            assert reflected == built, name


@pytest.mark.parametrize('symbol', INTERNAL)
def test_an_internal_service_is_not_described_through_the_gateway(system, symbol):
    result = grpcurl(system.gateway, 'describe', symbol)
    assert result.returncode != 0 and 'not found' in result.stderr.lower(), result.stderr
    assert grpcurl(system.products, 'describe', symbol).returncode == 0  # on Products' own port it is


def test_calls_of_both_services_through_the_gateway_with_reflection_alone(system):
    product = grpcurl_json(system.gateway, f'{PRODUCTS}/CreateProduct', {'product': {
        'name': 'Gateway Lamp', 'price': '12.50', 'stock_quantity': 4, 'category': 'HOME'}})
    order = grpcurl_json(system.gateway, f'{ORDERS}/CreateOrder', {
        'customer_name': 'Ada', 'customer_email': 'ada@example.com', 'shipping_address': '12 Analytical Row',
        'items': [{'product_id': product['id'], 'quantity': 3}]})
    assert (order['status'], order['total_amount']) == ('PENDING', '37.50')
    assert grpcurl_json(system.gateway, f'{ORDERS}/GetOrder', {'id': order['id']}) == order
    assert grpcurl_json(system.gateway, f'{PRODUCTS}/GetProduct', {'id': product['id']})['stock_quantity'] == 1


@pytest.mark.parametrize('service', ['', PRODUCTS, ORDERS])
def test_grpcurl_health_check_through_the_gateway_is_serving(system, service):
    assert grpcurl_json(system.gateway, f'{HEALTH}/Check', {'service': service}) == {'status': 'SERVING'}


@pytest.mark.parametrize('service', ['ecommerce.products.v1.NoSuchService', HEALTH, 'ecommerce.orders.v1.OrderService ',
                                     'caf\u00e9', *INTERNAL])
def test_health_of_an_unknown_or_internal_service_through_the_gateway_is_not_found(system, service):
    with pytest.raises(grpc.RpcError) as raised:
        health_check(system.gateway, service)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_health_request_the_gateway_cannot_read_is_invalid_argument(system):
    cut_short = b'\x0a\x20ecommerce'  # field 1 says 32 bytes, 9 follow
    with grpc.insecure_channel(system.gateway) as channel:
        check = channel.unary_unary(f'/{HEALTH}/Check', request_serializer=bytes,
                                    response_deserializer=health_pb2.HealthCheckResponse.FromString)
        with pytest.raises(grpc.RpcError) as raised:
            check(cut_short, timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value


def test_health_watch_through_the_gateway_is_unimplemented_at_once(system):
    started = time.monotonic()
    with grpc.insecure_channel(system.gateway) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=ORDERS), timeout=10)
        with pytest.raises(grpc.RpcError) as raised:
            next(watch)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert 'call Check' in raised.value.details()
    assert time.monotonic() - started < 5


@pytest.fixture
def own_system(tmp_path, database_url, run_service):
    """Products, a restartable Orders and Envoy of this test's own: (orders, gateway, admin)."""
    products_process, products = start_service('products', database_url('products'), tmp_path)
    try:
        orders = run_service('orders', database_url('orders'), ['--products-address', products])
        envoy, gateway, admin = start_envoy(tmp_path, products, orders.address)
        try:
            yield orders, gateway, admin
        finally:
            envoy.stop()
    finally:
        products_process.stop()


def test_orders_is_not_serving_through_the_gateway_while_stopped_and_serving_again_once_restarted(own_system,
                                                                                                  figures):
    orders, gateway, _admin = own_system
    assert [health_check(gateway, name) for name in ('', PRODUCTS, ORDERS)] == [SERVING] * 3
    assert orders.stop() == 0
    down = wait_for_health(gateway, ORDERS, NOT_SERVING)
    # The gateway and the other service are still up.
    assert [health_check(gateway, name) for name in ('', PRODUCTS)] == [SERVING] * 2
    assert health_check(gateway, ORDERS) == NOT_SERVING
    orders.restart()
    up = wait_for_health(gateway, ORDERS, SERVING)
    figures(seconds_to_not_serving=round(down, 2), seconds_to_serving=round(up, 2))


def test_the_empty_name_follows_envoys_own_health_check_state(own_system):
    _orders, gateway, admin = own_system

    def admin_post(path):
        with urllib.request.urlopen(urllib.request.Request(f'http://{admin}{path}', method='POST'), timeout=5):
            pass

    admin_post('/healthcheck/fail')  # what an operator does before taking Envoy out of service
    try:
        assert [health_check(gateway, name) for name in ('', PRODUCTS, ORDERS)] == [NOT_SERVING] * 3
    finally:
        admin_post('/healthcheck/ok')
    assert [health_check(gateway, name) for name in ('', PRODUCTS, ORDERS)] == [SERVING] * 3
