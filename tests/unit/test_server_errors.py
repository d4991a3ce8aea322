"""The shared interceptor's last line of defence: a database outage is UNAVAILABLE (retry later), anything
else unexpected is a bare INTERNAL, never a traceback sent to the client."""
import grpc
import peewee
import pytest
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from playhouse.pool import MaxConnectionsExceeded

from services import server
from storage.database import open_database
from tests.rpc_errors import error_details
from tests.servers import serving


class FailingProducts(products_pb2_grpc.ProductServiceServicer):
    """GetProduct raises whatever the test puts in `error`."""
    SERVICE_NAME = 'ecommerce.products.v1.ProductService'
    error = None

    def GetProduct(self, request, context):
        raise self.error


@pytest.fixture
def failing(tmp_path):
    servicer = FailingProducts()
    steps = server.DatabaseSteps(open_database(f'sqlite:///{tmp_path}/x.db'))
    with serving(server.create_server('127.0.0.1:0', steps, [
            (products_pb2_grpc.add_ProductServiceServicer_to_server, servicer)])) as (_server, port, _health):
        with grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
            yield servicer, products_pb2_grpc.ProductServiceStub(channel)


@pytest.mark.parametrize('error', [
    peewee.OperationalError('database is locked'),
    peewee.OperationalError('server closed the connection unexpectedly'),
    peewee.InterfaceError('connection already closed'),
    MaxConnectionsExceeded('Exceeded maximum connections.'),
], ids=['locked', 'connection-lost', 'closed', 'pool-exhausted'])
def test_a_database_outage_is_unavailable_with_a_reason(failing, error):
    servicer, stub = failing
    servicer.error = error
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetProduct(products_pb2.GetProductRequest(id=1))
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() == 'the database is unavailable or busy; try again'
    assert error_details(raised.value).reason == 'DATABASE_UNAVAILABLE'


def test_any_other_failure_is_internal_without_details(failing):
    servicer, stub = failing
    servicer.error = KeyError('secret internals')
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetProduct(products_pb2.GetProductRequest(id=1))
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert raised.value.details() == 'internal error'
