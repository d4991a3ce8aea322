"""Reading the rich details of a gRPC error (google.rpc.Status) in tests."""
from dataclasses import dataclass

from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass
class ErrorDetails:
    reason: str | None
    domain: str | None
    metadata: dict
    fields: dict  # field name -> description, from google.rpc.BadRequest


def error_details(error):
    """The ErrorInfo and BadRequest carried by an RpcError (empty when there are none)."""
    status = rpc_status.from_call(error)
    assert status is not None, f'{error.code()} carries no google.rpc.Status: {error.details()}'
    assert status.code == error.code().value[0]
    assert status.message == error.details()
    return status_details(status)


def status_details(status):
    """The ErrorInfo and BadRequest of a google.rpc.Status."""
    details = ErrorDetails(None, None, {}, {})
    for packed in status.details:
        info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if packed.Unpack(info):
            details.reason, details.domain, details.metadata = info.reason, info.domain, dict(info.metadata)
        elif packed.Unpack(bad_request):
            details.fields.update({v.field: v.description for v in bad_request.field_violations})
    return details
