"""TLS on a Products server: a client must speak TLS and trust the server's CA, and with a client CA configured
(mutual TLS) it must show a certificate that CA issued."""
import contextlib

import grpc
import pytest
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from services import server
from services.products.service import create_server as create_products_server
from storage import products as products_storage
from tests.certificates import CertificateAuthority
from tests.conftest import DATABASE_INDEPENDENT, new_product
from tests.servers import serving

# TLS on the server's port is the same whatever its database: the SQLite pass only.
pytestmark = DATABASE_INDEPENDENT


@pytest.fixture(scope='module')
def authorities(tmp_path_factory):
    """(the CA our servers and clients use, one nobody here trusts)."""
    folder = tmp_path_factory.mktemp('certificates')
    return CertificateAuthority(folder), CertificateAuthority(folder, 'stranger CA')


@pytest.fixture
def tls_products(authorities, database_url):
    """tls_products(client_ca=None): the address of a Products server serving TLS with a certificate from our CA;
    with `client_ca`, requiring client certificates issued by it."""
    ca, _stranger = authorities
    issued = ca.issue('products', server=True)
    with contextlib.ExitStack() as stack:
        def start(client_ca=None):
            tls = server.ServerTls.from_files(issued.cert, issued.key, client_ca)
            _server, port, _health = stack.enter_context(
                serving(create_products_server('127.0.0.1:0', database_url('products'), tls=tls)))
            return f'127.0.0.1:{port}'
        yield start
    products_storage.database.close_all()


def tls_channel(address, ca=None, client=None):
    """A channel to `address` verifying its certificate with the CA file `ca`, showing `client` (an Issued)."""
    tls = server.ChannelTls.from_files(ca, client and client.cert, client and client.key)
    return grpc.secure_channel(address, tls.credentials())


def product_count(channel):
    stub = products_pb2_grpc.ProductServiceStub(channel)
    return len(stub.ListProducts(products_pb2.ListProductsRequest(), timeout=5).products)


def refused(channel):
    """The status code of a call on `channel` that must not get through."""
    with pytest.raises(grpc.RpcError) as raised:
        product_count(channel)
    return raised.value.code()


def test_a_client_trusting_the_ca_gets_data_and_others_are_refused(authorities, tls_products):
    ca, stranger = authorities
    address = tls_products()
    with tls_channel(address, ca.cert) as channel:
        new_product(products_pb2_grpc.ProductServiceStub(channel), name='Over TLS')
        assert product_count(channel) == 1
    with grpc.insecure_channel(address) as plaintext:
        assert refused(plaintext) == grpc.StatusCode.UNAVAILABLE
    with tls_channel(address, stranger.cert) as distrustful:
        assert refused(distrustful) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_requires_a_client_certificate_from_the_client_ca(authorities, tls_products):
    ca, stranger = authorities
    address = tls_products(client_ca=ca.cert)
    with tls_channel(address, ca.cert, ca.issue('test-client')) as channel:
        assert product_count(channel) == 0
    with tls_channel(address, ca.cert) as anonymous:
        assert refused(anonymous) == grpc.StatusCode.UNAVAILABLE
    with tls_channel(address, ca.cert, stranger.issue('stranger-client')) as impostor:
        assert refused(impostor) == grpc.StatusCode.UNAVAILABLE
