"""Who is calling and what they may do: bearer tokens (JWT) checked against the configured keys, and the one table
of which roles may call each RPC (ACCESS). The interceptor (services.server) applies both to every call.

A token is a JWT signed by one of the keys (a JWKS file, chosen by the token's `kid`, so that a new key can be added
before the old one goes; or a shared secret, HS256) with `aud` = the configured audience, an `exp`, a `roles` list
(admin, customer, service) and, for a customer, an `email`. With no key configured, authentication is off: every
caller may do everything, as in local development (the services say so in a warning at start-up).
"""
import base64
import contextvars
import functools
import json
import logging
import time
from dataclasses import dataclass

import jwt

from services import request_context
from services.errors import PermissionDenied, Unauthenticated

log = logging.getLogger('services')

ADMIN = 'admin'
CUSTOMER = 'customer'
SERVICE = 'service'  # the services' own calls to each other: Orders reserving and releasing stock
ANONYMOUS = 'anonymous'  # a call without a token
ROLES = (ADMIN, CUSTOMER, SERVICE)

DEFAULT_AUDIENCE = 'ecommerce'
# Clocks of the token's issuer and of the services may differ this much.
CLOCK_SKEW_SECONDS = 30
# A shared secret shorter than this is refused: HS256 with a short key can be brute-forced offline from one token.
MIN_SECRET_BYTES = 32
# Verified tokens kept, so that a client calling many times with one token costs one signature check.
VERIFIED_TOKENS_KEPT = 4096
AUTHORIZATION_HEADER = 'authorization'

MISSING_TOKEN = 'this call needs a bearer token: an authorization header of Bearer and a JWT'
# Says nothing of why (expired, unknown key, bad signature): that would help someone forging one.
INVALID_TOKEN = 'the bearer token is not valid'
NOT_ALLOWED = 'the caller may not make this call'


@dataclass(frozen=True)
class Caller:
    """Who makes the call being served: their roles, the token's subject (`sub`) and, for a customer, their email
    address (lower case)."""
    roles: frozenset
    email: str = ''
    subject: str = ''

    @property
    def actor(self):
        """How the audit trail names them: the token's subject, else a customer's email."""
        return self.subject or self.email

    @property
    def own_orders_only(self):
        """The email whose orders alone this caller may see and change, or None for every order."""
        return self.email if CUSTOMER in self.roles and ADMIN not in self.roles else None


ANONYMOUS_CALLER = Caller(frozenset({ANONYMOUS}))
# With authentication off, everyone may do everything.
ANYONE_AT_ALL = Caller(frozenset({ADMIN, SERVICE}))

_caller = contextvars.ContextVar('caller', default=ANYONE_AT_ALL)


def current_caller():
    return _caller.get()


def may_name_actor():
    """Whether the call being served may say whom it acts for (x-ecommerce-actor, a ReserveStocks entry's actor): a
    service's, when tokens are checked. Without tokens nobody is known, so nobody is named."""
    caller = _caller.get()
    return caller is not ANYONE_AT_ALL and SERVICE in caller.roles


def own_orders_only():
    """For the call being served: the email whose orders alone it may read and change, or None for any order."""
    return _caller.get().own_orders_only


@dataclass(frozen=True)
class Access:
    """Who may call one RPC: these roles; and, for a customer, only about themselves. `own` names the request field
    that must hold the customer's own email (PERMISSION_DENIED otherwise), or is OWN_ORDER: the call names an order
    (or a cart) by id, and another customer's is NOT_FOUND to them, as if it did not exist (the Orders service
    filters by own_orders_only())."""
    roles: frozenset
    own: str = ''


OWN_ORDER = 'order id'


def allow(*roles, own=''):
    return Access(frozenset(roles), own)


EVERYONE = allow(ANONYMOUS, CUSTOMER, ADMIN, SERVICE)
ADMIN_ONLY = allow(ADMIN)

PRODUCTS = '/ecommerce.products.v1.ProductService/'
STOCK = '/ecommerce.products.v1.StockService/'
ORDERS = '/ecommerce.orders.v1.OrderService/'
CARTS = '/ecommerce.orders.v1.CartService/'
# Every RPC of both services and who may call it. A method missing here is refused to everyone (a test checks that
# the table names every method of the protos). Health checks and reflection are open to everyone.
ACCESS = {
    PRODUCTS + 'GetProduct': EVERYONE,
    PRODUCTS + 'ListProducts': EVERYONE,
    PRODUCTS + 'SearchProducts': EVERYONE,
    PRODUCTS + 'CreateProduct': ADMIN_ONLY,
    PRODUCTS + 'UpdateProduct': ADMIN_ONLY,
    PRODUCTS + 'DeleteProduct': ADMIN_ONLY,
    PRODUCTS + 'ImportProducts': ADMIN_ONLY,
    PRODUCTS + 'ListStockMovements': ADMIN_ONLY,
    # Taking, holding and giving back stock without an order: the Orders service alone.
    STOCK + 'ReserveStock': allow(SERVICE),
    STOCK + 'ReserveStocks': allow(SERVICE),
    STOCK + 'ReleaseStock': allow(SERVICE),
    STOCK + 'ConvertHold': allow(SERVICE),
    STOCK + 'GetStockLevels': allow(SERVICE),
    ORDERS + 'CreateOrder': allow(ADMIN, CUSTOMER, own='customer_email'),
    ORDERS + 'GetOrder': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
    ORDERS + 'ListOrderEvents': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
    ORDERS + 'CancelOrder': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
    ORDERS + 'WatchOrder': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
    ORDERS + 'GetOrdersByCustomer': allow(ADMIN, CUSTOMER, own='email'),
    ORDERS + 'WatchOrders': allow(ADMIN, CUSTOMER, own='customer_email'),
    ORDERS + 'ListOrders': ADMIN_ONLY,
    ORDERS + 'UpdateOrderStatus': ADMIN_ONLY,
    CARTS + 'CreateCart': allow(ADMIN, CUSTOMER, own='customer_email'),
    CARTS + 'ListCarts': allow(ADMIN, CUSTOMER, own='customer_email'),
    CARTS + 'GetCart': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
    CARTS + 'AddCartItem': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
    CARTS + 'UpdateCartItem': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
    CARTS + 'DeleteCartItem': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
    CARTS + 'CheckoutCart': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
    CARTS + 'CompleteCheckout': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
    CARTS + 'AbandonCheckout': allow(ADMIN, CUSTOMER, own=OWN_ORDER),
}
OPEN_PREFIXES = ('/grpc.health.', '/grpc.reflection.')
NOBODY = allow()


def access_for(method):
    return EVERYONE if method.startswith(OPEN_PREFIXES) else ACCESS.get(method, NOBODY)


def same_email(given, own):
    """Whether an email a request names is the caller's own (the services keep emails trimmed and in lower case)."""
    return given.strip().lower() == own


@dataclass
class Gate:
    """Checks each call against ACCESS with the caller its token names; with `verifier` None, lets everyone in."""
    verifier: 'TokenVerifier | None'

    @classmethod
    def from_config(cls, jwks_path=None, secret=None, audience=DEFAULT_AUDIENCE, service='service'):
        """The gate of a service's flags (--auth-jwks, --auth-secret, --auth-audience); says in a warning when
        it lets everyone in."""
        verifier = TokenVerifier.from_config(jwks_path, secret, audience)
        if verifier is None:
            log.warning('authentication is off: anyone who can reach this port may make every call; give '
                        '--auth-jwks or --auth-secret (AUTH_JWKS, AUTH_SECRET) to check tokens',
                        extra={'fields': {'service': service}})
        return cls(verifier)

    @property
    def enforcing(self):
        return self.verifier is not None

    def admit(self, method, metadata, request=None):
        """Make the caller of a call known (current_caller()) and refuse a call they may not make: raise
        Unauthenticated or PermissionDenied. `request`: the single request of the call (None for a stream of them)."""
        if self.verifier is None:
            _caller.set(ANYONE_AT_ALL)
            request_context.act_for('')
            return
        token = bearer_token(metadata)
        caller = self.verifier.caller(token) if token is not None else ANONYMOUS_CALLER
        _caller.set(caller)
        acting_for = may_name_actor() and next(
            (value for key, value in metadata or () if key == request_context.ACTOR_HEADER), '')
        request_context.act_for(acting_for or caller.actor)
        access = access_for(method)
        allowed = access.roles & caller.roles
        if not allowed:
            if token is None and access.roles:
                raise Unauthenticated(MISSING_TOKEN)
            raise PermissionDenied(NOT_ALLOWED)
        named = getattr(request, access.own, None) if access.own not in ('', OWN_ORDER) else None
        if caller.own_orders_only is not None and named is not None and not same_email(named, caller.email):
            raise PermissionDenied(f'{access.own}: a customer may only name their own email address')


def bearer_token(metadata):
    """The token of an `authorization: Bearer <token>` pair in `metadata`; None without one; Unauthenticated for
    an authorization that is not a bearer token."""
    value = next((value for key, value in metadata or () if key == AUTHORIZATION_HEADER), None)
    if value is None:
        return None
    scheme, _, token = value.strip().partition(' ')
    if scheme.lower() != 'bearer' or not token.strip():
        raise Unauthenticated(INVALID_TOKEN)
    return token.strip()


class TokenVerifier:
    """Verifies tokens against keys by `kid` (None: the key for tokens without one) for one audience."""

    def __init__(self, keys, audience=DEFAULT_AUDIENCE):
        if not keys:
            raise ValueError('no key to verify tokens with')
        self._keys = dict(keys)
        self._audience = audience
        self._verified = functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)(self._verify)

    @classmethod
    def from_config(cls, jwks_path=None, secret=None, audience=DEFAULT_AUDIENCE):
        """A verifier of the keys in a JWKS file and/or a shared secret; None when neither is given (auth off).
        ValueError or OSError saying what is wrong with them."""
        keys = {}
        if jwks_path:
            keys.update(read_jwks(jwks_path))
        if secret:
            keys[None] = secret_key(secret)
        return cls(keys, audience) if keys else None

    def caller(self, token):
        """The Caller a token names; Unauthenticated if it is not valid now."""
        caller, expires = self._verified(token)
        if expires + CLOCK_SKEW_SECONDS < time.time():
            raise Unauthenticated(INVALID_TOKEN)
        return caller

    def _verify(self, token):
        try:
            key = self._keys.get(jwt.get_unverified_header(token).get('kid'))
            if key is None:
                raise Unauthenticated(INVALID_TOKEN)
            # The key decides the algorithm: never the token's own header (`alg: none`, or HS256 keyed with a
            # public key).
            claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=self._audience,
                                leeway=CLOCK_SKEW_SECONDS, options={'require': ['exp', 'aud']})
        except jwt.PyJWTError:
            raise Unauthenticated(INVALID_TOKEN) from None
        return caller_of(claims), claims['exp']


def caller_of(claims):
    """The Caller of a verified token's claims; Unauthenticated when they do not say who it is."""
    roles = claims.get('roles', [])
    if not isinstance(roles, list):
        raise Unauthenticated(INVALID_TOKEN)
    known = frozenset(role for role in roles if role in ROLES)
    email = claims.get('email', '')
    if CUSTOMER in known and not (isinstance(email, str) and email.strip()):  # a customer must say who they are
        raise Unauthenticated(INVALID_TOKEN)
    subject = claims.get('sub', '')
    return Caller(known, email.strip().lower() if CUSTOMER in known else '',
                  subject if isinstance(subject, str) else '')


def read_jwks(path):
    """{kid: PyJWK} of the public (or symmetric) keys in a JWKS file."""
    with open(path, encoding='utf-8') as file:
        try:
            document = json.load(file)
            keys = jwt.PyJWKSet.from_dict(document).keys
        except (ValueError, jwt.PyJWKSetError, jwt.InvalidKeyError) as error:
            raise ValueError(f'{path} is not a JWKS with usable keys: {error}') from None
    by_kid = {}
    for key in keys:
        if key.key_id in by_kid:
            raise ValueError(f'{path}: two keys with kid {key.key_id!r}: a token could not say which it means')
        by_kid[key.key_id] = key
    return by_kid


def secret_key(secret):
    secret = secret.encode() if isinstance(secret, str) else secret
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f'the shared secret must be at least {MIN_SECRET_BYTES} bytes long')
    return jwt.PyJWK({'kty': 'oct', 'k': base64.urlsafe_b64encode(secret).rstrip(b'=').decode()}, 'HS256')


@dataclass
class TokenIssuer:
    """Signs tokens with one key (a private JWK or a shared secret): for the Orders service's own calls to Products,
    and for `python -m scripts.tokens`."""
    key: jwt.PyJWK
    audience: str = DEFAULT_AUDIENCE
    _service: tuple = ('', 0.0)  # the service token last signed, and when to sign a new one

    @classmethod
    def from_config(cls, private_jwk_path=None, secret=None, audience=DEFAULT_AUDIENCE):
        if private_jwk_path:
            with open(private_jwk_path, encoding='utf-8') as file:
                try:
                    data = json.load(file)
                    key = jwt.PyJWK(data)
                except (ValueError, jwt.PyJWKError, jwt.InvalidKeyError) as error:
                    raise ValueError(f'{private_jwk_path} is not a private JWK: {error}') from None
            if 'd' not in data:
                raise ValueError(f'{private_jwk_path} holds a public key; signing needs the private one')
            return cls(key, audience)
        if secret:
            return cls(secret_key(secret), audience)
        return None

    def issue(self, roles, email='', lifetime=3600, subject=''):
        now = int(time.time())
        claims = {'aud': self.audience, 'iat': now, 'exp': now + int(lifetime), 'roles': list(roles)}
        if email:
            claims['email'] = email
        if subject:
            claims['sub'] = subject
        headers = {'kid': self.key.key_id} if self.key.key_id else None
        return jwt.encode(claims, self.key.key, algorithm=self.key.algorithm_name, headers=headers)

    def service_token(self, lifetime=300):
        """A short-lived `service` token, reused until a minute before it expires."""
        token, renew_at = self._service
        if time.time() >= renew_at:
            token = self.issue([SERVICE], lifetime=lifetime, subject='orders')
            self._service = (token, time.time() + lifetime - 60)
        return token
