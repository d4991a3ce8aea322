"""The whole system over TLS: clients reach Envoy over TLS only, Envoy reaches both services over mutual TLS (its
health checks too), and Orders reaches Products over mutual TLS; every certificate from a throwaway CA."""
import http.client
import ssl
import urllib.request

import grpc
import pytest
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from bench.processes import running_system
from scripts.gateway import GatewayTls
from services import server
from tests.certificates import CertificateAuthority
from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import RestClient
from tests.e2e.test_rest import create_product, place_order, stock

# TLS between clients, Envoy and the services is the same whatever their database: the SQLite pass only.
pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]


@pytest.fixture(scope='module')
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp('certificates'))


@pytest.fixture(scope='module')
def tls_system(tmp_path_factory, new_database, ca):
    """Products and Orders requiring client certificates from `ca`, and Envoy serving TLS to clients."""
    services = {name: ca.issue(name, server=True) for name in ('products', 'orders', 'gateway')}
    envoy, orders_client = ca.issue('envoy'), ca.issue('orders-client')

    def serve_args(name):
        return ['--tls-cert', services[name].cert, '--tls-key', services[name].key, '--tls-client-ca', ca.cert]

    envoy_tls = GatewayTls(services['gateway'].cert, services['gateway'].key, ca.cert, envoy.cert, envoy.key)
    orders_args = [*serve_args('orders'), '--products-tls-ca', ca.cert,
                   '--products-tls-cert', orders_client.cert, '--products-tls-key', orders_client.key]
    with running_system(tmp_path_factory.mktemp('tls-system'), new_database('products'), new_database('orders'),
                        serve_args('products'), orders_args, envoy_tls=envoy_tls) as running:
        yield running


def test_rest_over_https_works_end_to_end(tls_system, ca):
    api = RestClient(tls_system.gateway, ssl_context=ssl.create_default_context(cafile=ca.cert))
    product = create_product(api, stock_quantity=5)
    order = place_order(api, [(product['id'], 2)])  # Orders reserves the stock on Products over mutual TLS
    assert order['status'] == 'PENDING'
    assert stock(api, product['id']) == 3


def test_native_grpc_through_envoy_over_tls(tls_system, ca):
    credentials = server.ChannelTls.from_files(ca.cert).credentials()
    with grpc.secure_channel(tls_system.gateway, credentials) as channel:
        stub = products_pb2_grpc.ProductServiceStub(channel)
        assert stub.ListProducts(products_pb2.ListProductsRequest(), timeout=10) is not None


def test_plain_http_to_the_tls_listener_fails(tls_system):
    with pytest.raises((OSError, http.client.HTTPException)):
        RestClient(tls_system.gateway, timeout=5).get('/api/products')


def test_envoy_health_checks_reach_the_services_over_mutual_tls(tls_system):
    with urllib.request.urlopen(f'http://{tls_system.admin}/clusters', timeout=5) as reply:
        flags = [line for line in reply.read().decode().splitlines()
                 if '::health_flags::' in line and line.startswith(('products::', 'orders::'))]
    # The services' two clusters, one replica each; a failed check would read /failed_active_hc instead.
    assert len(flags) == 2 and all(line.endswith('::healthy') for line in flags), flags
