"""The shared interceptor's last line of defence: a database outage is UNAVAILABLE (retry later), anything
else unexpected is a bare INTERNAL, never a traceback sent to the client; and how domain errors name the fields
at fault."""
import grpc
import peewee
import pytest
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from playhouse.pool import MaxConnectionsExceeded

from services import errors, server
from services.settings import MAX_ERROR_DETAILS_BYTES
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


# --- field violations in the status -------------------------------------------------------------------

def _sent(error):
    """The google.rpc.Status that status_for(error) sends, and its BadRequest's (field, description) pairs."""
    status = server.status_for(error)
    sent = status_pb2.Status.FromString(dict(status.trailing_metadata)['grpc-status-details-bin'])
    assert (sent.code, sent.message) == (status.code.value[0], status.details)
    violations = []
    for packed in sent.details:
        bad_request = error_details_pb2.BadRequest()
        if packed.Unpack(bad_request):
            violations += [(violation.field, violation.description) for violation in bad_request.field_violations]
    return sent, violations


def test_one_bad_field_is_one_violation_as_before():
    sent, violations = _sent(errors.InvalidArgument('price', 'must be greater than zero'))
    assert (sent.code, sent.message) == (code_pb2.INVALID_ARGUMENT, 'price: must be greater than zero')
    assert violations == [('price', 'must be greater than zero')]


def test_several_bad_values_are_one_violation_each():
    problems = [errors.InvalidArgument(f'products[{row}].price', 'must be greater than zero') for row in (3, 8, 9)]
    sent, violations = _sent(errors.InvalidArguments(problems))
    assert sent.code == code_pb2.INVALID_ARGUMENT
    assert sent.message == 'products[3].price: must be greater than zero (and 2 more invalid values)'
    assert violations == [(problem.field, problem.problem) for problem in problems]


def test_violations_past_the_details_budget_are_counted_not_listed():
    problems = [errors.InvalidArgument(f'products[{row}].name', 'is required') for row in range(10_000)]
    sent, violations = _sent(errors.InvalidArguments(problems))
    assert 10 < len(violations) < 10_000
    assert violations == [(problem.field, problem.problem) for problem in problems[:len(violations)]]
    assert sent.ByteSize() < MAX_ERROR_DETAILS_BYTES + 500
    info = error_details_pb2.ErrorInfo()
    assert sent.details[0].Unpack(info) and info.metadata['violation_count'] == '10000'
