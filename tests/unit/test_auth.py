"""Token checks and the access table, without gRPC: what a token must be to name a caller, and what a caller may do."""
import json
import time

import jwt
import pytest
from ecommerce.orders.v1 import orders_pb2

from scripts import tokens
from services import auth
from services.errors import PermissionDenied, Unauthenticated
from services.reflection import api_files
from tests.tokens import SECRET, bad_tokens_for


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    """A JWKS with two keys (the second made after the first, as in a rotation) and each private key's issuer."""
    folder = tmp_path_factory.mktemp('auth')
    tokens.new_key(folder)
    first = auth.TokenIssuer.from_config(folder / tokens.SIGNING_KEY)
    tokens.new_key(folder)
    second = auth.TokenIssuer.from_config(folder / tokens.SIGNING_KEY)
    return folder / tokens.JWKS, first, second


@pytest.fixture(scope='module')
def verifier(keys):
    return auth.TokenVerifier.from_config(keys[0])


def test_both_keys_of_a_rotation_are_accepted_each_chosen_by_kid(keys, verifier):
    _, first, second = keys
    assert first.key.key_id != second.key.key_id
    for issuer in (first, second):
        caller = verifier.caller(issuer.issue([auth.CUSTOMER], email='Ann@Example.com '))
        assert caller.roles == {auth.CUSTOMER}
        assert caller.email == 'ann@example.com'
        assert caller.own_orders_only == 'ann@example.com'


def test_an_admin_sees_every_order_even_with_a_customer_role_too(keys, verifier):
    caller = verifier.caller(keys[1].issue([auth.ADMIN, auth.CUSTOMER], email='ann@example.com'))
    assert caller.own_orders_only is None


def test_every_bad_token_is_refused_with_the_same_message(keys, verifier, tmp_path):
    for name, token in bad_tokens_for(keys[1], tmp_path).items():
        with pytest.raises(Unauthenticated) as refused:
            verifier.caller(token)
        assert refused.value.message == auth.INVALID_TOKEN, name


def test_a_token_signed_with_hs256_and_the_public_key_as_secret_is_refused(keys, verifier):
    """The classic algorithm confusion: the key, not the token, chooses the algorithm."""
    public = json.loads((keys[0]).read_text())['keys'][0]
    confused = jwt.encode({'aud': auth.DEFAULT_AUDIENCE, 'exp': int(time.time()) + 60, 'roles': [auth.ADMIN]},
                          json.dumps(public).encode() * 2, algorithm='HS256', headers={'kid': public['kid']})
    with pytest.raises(Unauthenticated):
        verifier.caller(confused)


def test_a_token_that_expires_after_it_was_first_checked_is_refused_then(keys, verifier, monkeypatch):
    token = keys[1].issue([auth.ADMIN], lifetime=60)
    assert verifier.caller(token).roles == {auth.ADMIN}  # checked once, then remembered
    later = time.time() + 60 + auth.CLOCK_SKEW_SECONDS + 1
    monkeypatch.setattr(auth.time, 'time', lambda: later)
    with pytest.raises(Unauthenticated):
        verifier.caller(token)


def test_a_shared_secret_verifies_tokens_it_signed_and_must_be_long():
    verifier = auth.TokenVerifier.from_config(secret=SECRET)
    issuer = auth.TokenIssuer.from_config(secret=SECRET)
    assert verifier.caller(issuer.issue([auth.SERVICE])).roles == {auth.SERVICE}
    with pytest.raises(Unauthenticated):
        verifier.caller(auth.TokenIssuer.from_config(secret=SECRET.upper()).issue([auth.SERVICE]))
    with pytest.raises(ValueError, match='at least 32 bytes'):
        auth.TokenVerifier.from_config(secret='short')


def test_configuration_mistakes_are_said_at_start(tmp_path, keys):
    assert auth.TokenVerifier.from_config() is None
    (tmp_path / 'bad.json').write_text('{"keys": "no"}')
    with pytest.raises(ValueError, match='not a JWKS'):
        auth.TokenVerifier.from_config(tmp_path / 'bad.json')
    (tmp_path / 'public.json').write_text(json.dumps(json.loads(keys[0].read_text())['keys'][0]))
    with pytest.raises(ValueError, match='public key'):
        auth.TokenIssuer.from_config(tmp_path / 'public.json')
    twice = json.loads(keys[0].read_text())
    twice['keys'][1]['kid'] = twice['keys'][0]['kid']
    (tmp_path / 'twice.json').write_text(json.dumps(twice))
    with pytest.raises(ValueError, match='two keys with kid'):
        auth.TokenVerifier.from_config(tmp_path / 'twice.json')


def test_the_service_token_is_reused_until_shortly_before_it_expires(monkeypatch):
    issuer = auth.TokenIssuer.from_config(secret=SECRET)
    first = issuer.service_token(lifetime=300)
    assert issuer.service_token(lifetime=300) == first
    later = time.time() + 241
    monkeypatch.setattr(auth.time, 'time', lambda: later)
    renewed = issuer.service_token(lifetime=300)
    claims = [jwt.decode(token, options={'verify_signature': False}) for token in (first, renewed)]
    assert abs(claims[1]['exp'] - claims[0]['exp'] - 241) <= 1
    assert claims[1]['roles'] == [auth.SERVICE]


# --- the gate -------------------------------------------------------------------------------------------------

def test_every_rpc_of_every_service_is_in_the_access_table():
    methods = {f'/{service.full_name}/{method.name}'
               for descriptor in api_files() for service in descriptor.services_by_name.values()
               for method in service.methods}
    assert methods == set(auth.ACCESS)


@pytest.fixture
def gate():
    return auth.Gate(auth.TokenVerifier.from_config(secret=SECRET))


def bearer(*roles, email=''):
    return [('authorization', 'Bearer ' + auth.TokenIssuer.from_config(secret=SECRET).issue(roles, email=email))]


def admitted(gate, method, metadata, request=None):
    """The caller the gate admits to `method` (a name of any service)."""
    service = next(prefix for prefix in (auth.ORDERS, auth.STOCK, auth.PRODUCTS) if prefix + method in auth.ACCESS)
    gate.admit(service + method, metadata, request)
    return auth.current_caller()


def test_the_gate_refuses_by_role_and_says_who_must_authenticate(gate):
    assert admitted(gate, 'GetProduct', []).roles == {auth.ANONYMOUS}
    with pytest.raises(Unauthenticated, match='needs a bearer token'):
        admitted(gate, 'CreateProduct', [])
    with pytest.raises(PermissionDenied):
        admitted(gate, 'CreateProduct', bearer(auth.CUSTOMER, email='ann@example.com'))
    with pytest.raises(PermissionDenied):
        admitted(gate, 'ReserveStock', bearer(auth.ADMIN))
    assert admitted(gate, 'ReserveStock', bearer(auth.SERVICE)).roles == {auth.SERVICE}
    with pytest.raises(Unauthenticated, match='not valid'):  # a bad token is refused even where none is needed
        admitted(gate, 'GetProduct', [('authorization', 'Basic dXNlcjpwYXNz')])


def test_a_customer_names_only_their_own_email(gate):
    ann = bearer(auth.CUSTOMER, email='ann@example.com')
    own = orders_pb2.CreateOrderRequest(customer_email=' ANN@example.com')
    assert admitted(gate, 'CreateOrder', ann, own).email == 'ann@example.com'
    with pytest.raises(PermissionDenied, match='customer_email'):
        admitted(gate, 'CreateOrder', ann, orders_pb2.CreateOrderRequest(customer_email='bob@example.com'))
    with pytest.raises(PermissionDenied, match='email'):
        admitted(gate, 'GetOrdersByCustomer', ann, orders_pb2.GetOrdersByCustomerRequest(email='bob@example.com'))
    with pytest.raises(PermissionDenied):  # every customer's changes
        admitted(gate, 'WatchOrders', ann, orders_pb2.WatchOrdersRequest())
    assert admitted(gate, 'CreateOrder', bearer(auth.ADMIN), orders_pb2.CreateOrderRequest(
        customer_email='bob@example.com')).own_orders_only is None


def test_without_keys_everyone_may_do_everything():
    open_gate = auth.Gate.from_config()
    assert not open_gate.enforcing
    open_gate.admit(auth.STOCK + 'ReserveStock', [])
    assert auth.current_caller() == auth.ANYONE_AT_ALL
