"""The request id of the call being served and who it acts for: set by the interceptor for each call (the id from
the x-request-id header that Envoy adds or a client sends, else a new one; the actor by services.auth), read where a
change is recorded (order events, stock movements) and passed on to Products, so that one id ties a change to the
call that made it, and to the person it was made for, in both services."""
import contextlib
import contextvars
import uuid

REQUEST_ID_HEADER = 'x-request-id'
MAX_REQUEST_ID_LENGTH = 100
# Who a service's call acts for (Orders reserving stock for a customer's order): trusted from services only.
ACTOR_HEADER = 'x-ecommerce-actor'
MAX_ACTOR_LENGTH = 200

_request_id = contextvars.ContextVar('request_id', default='')
_actor = contextvars.ContextVar('actor', default='')


def start_request(metadata):
    """Take the request id from gRPC invocation metadata (pairs), or make one; return it."""
    given = next((value for key, value in metadata or () if key == REQUEST_ID_HEADER), '')
    request_id = _usable_id(given) or uuid.uuid4().hex
    _request_id.set(request_id)
    return request_id


def _usable_id(given):
    return given[:MAX_REQUEST_ID_LENGTH] if given.isprintable() else ''


@contextlib.contextmanager
def on_behalf(request_id, actor):
    """Within a call carrying several requests (ReserveStocks), one of them: its own request id (else the call's)
    and its actor, as act_for takes it."""
    id_token = _request_id.set(_usable_id(request_id) or _request_id.get())
    actor_token = _actor.set(_usable_actor(actor))
    try:
        yield
    finally:
        _actor.reset(actor_token)
        _request_id.reset(id_token)


def current_request_id():
    """The id of the call being served; '' outside a call (a recovery pass)."""
    return _request_id.get()


def act_for(actor):
    """Record the call being served as made by (or for) `actor`: a token's subject or a customer's email."""
    _actor.set(_usable_actor(actor))


def _usable_actor(actor):
    return actor[:MAX_ACTOR_LENGTH] if actor.isprintable() else ''


def current_actor():
    """Who the call being served acts for; '' when tokens are not checked, or outside a call."""
    return _actor.get()
