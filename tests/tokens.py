"""Tokens that must be refused, for the unit tests of services.auth and the authorization matrix."""
import base64
import json
import time

import jwt

from scripts import tokens
from services import auth

# A shared secret for tests that sign with HS256.
SECRET = 'a shared secret long enough for HS256!'


def forged(token, header=None, claims=None, signature=None):
    """`token` with its header or claims changed (merged with the given dicts) or its signature replaced, and not
    signed again."""
    parts = token.split('.')

    def patched(part, changes):
        decoded = json.loads(base64.urlsafe_b64decode(part + '=' * (-len(part) % 4)))
        decoded.update(changes)
        return base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b'=').decode()
    if header:
        parts[0] = patched(parts[0], header)
    if claims:
        parts[1] = patched(parts[1], claims)
    if signature is not None:
        parts[2] = signature
    return '.'.join(parts)


def bad_tokens_for(issuer, folder):
    """{what is wrong: a token} for tokens that look like `issuer`'s (an ES256 auth.TokenIssuer) but are not valid;
    `folder` gets a stranger's key."""
    good = issuer.issue([auth.ADMIN])
    tokens.new_key(folder)
    stranger = auth.TokenIssuer.from_config(folder / tokens.SIGNING_KEY)
    signed = {'key': issuer.key.key, 'algorithm': 'ES256', 'headers': {'kid': issuer.key.key_id}}
    return {
        'expired': issuer.issue([auth.ADMIN], lifetime=-auth.CLOCK_SKEW_SECONDS - 5),
        'unknown key': stranger.issue([auth.ADMIN]),
        'alg none': forged(good, header={'alg': 'none'}, signature=''),
        'tampered': forged(issuer.issue([auth.CUSTOMER], email='ann@example.com'), claims={'roles': [auth.ADMIN]}),
        'unknown key claiming a known kid': forged(stranger.issue([auth.ADMIN]), header={'kid': issuer.key.key_id}),
        'other audience': auth.TokenIssuer(issuer.key, audience='another-shop').issue([auth.ADMIN]),
        'no expiry': jwt.encode({'aud': auth.DEFAULT_AUDIENCE, 'roles': [auth.ADMIN]}, **signed),
        'customer without email': issuer.issue([auth.CUSTOMER]),
        'roles not a list': jwt.encode({'aud': auth.DEFAULT_AUDIENCE, 'exp': int(time.time()) + 60,
                                        'roles': 'admin'}, **signed),
        'not a JWT': 'hello',
    }
