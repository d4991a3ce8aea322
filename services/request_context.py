"""The request id of the call being served: set by the interceptor for each call (from the x-request-id header that
Envoy adds or a client sends, else a new one), read where a change is recorded (order events, stock movements) and
passed on to Products, so one id ties a change to the call that made it in both services."""
import contextvars
import uuid

REQUEST_ID_HEADER = 'x-request-id'
MAX_REQUEST_ID_LENGTH = 100

_request_id = contextvars.ContextVar('request_id', default='')


def start_request(metadata):
    """Take the request id from gRPC invocation metadata (pairs), or make one; return it."""
    given = next((value for key, value in metadata or () if key == REQUEST_ID_HEADER), '')
    request_id = given[:MAX_REQUEST_ID_LENGTH] if given.isprintable() and given else uuid.uuid4().hex
    _request_id.set(request_id)
    return request_id


def current_request_id():
    """The id of the call being served; '' outside a call (a recovery pass)."""
    return _request_id.get()
