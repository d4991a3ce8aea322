"""Keys and tokens for running with authentication on.

    python -m scripts.tokens keys --dir data/auth     # a new signing key; its public half joins jwks.json
    python -m scripts.tokens issue --key data/auth/signing-key.json --role customer --email ann@example.com
    python -m scripts.tokens local --dir data/auth    # what `make run-secure` prints: tokens, curl and grpcurl

A real deployment takes its tokens from an identity provider and gives the services its JWKS (--auth-jwks); these
commands stand in for one on a developer's machine. Rotating a key: run `keys` again (the new key signs from then
on, both public keys are accepted), restart the services, and remove the old key from jwks.json once its tokens
have expired.
"""
import argparse
import json
import os
import pathlib
import secrets
import sys

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from services.auth import ADMIN, CUSTOMER, DEFAULT_AUDIENCE, ROLES, TokenIssuer
from services.settings import GATEWAY_ADDRESS, CommandLine

SIGNING_KEY = 'signing-key.json'
JWKS = 'jwks.json'
LOCAL_CUSTOMER = 'ann@example.com'
LOCAL_TOKEN_LIFETIME = 12 * 3600


def new_key(folder):
    """A new P-256 signing key: its private JWK replaces SIGNING_KEY (readable by its owner only), and its public JWK
    is added to JWKS, next to the keys already there. Returns the new key's kid."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kid = secrets.token_hex(8)
    private = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    private.update(kid=kid, alg='ES256', use='sig')
    public = {name: value for name, value in private.items() if name != 'd'}
    jwks_path = folder / JWKS
    jwks = json.loads(jwks_path.read_text()) if jwks_path.exists() else {'keys': []}
    jwks['keys'].append(public)
    key_path = folder / SIGNING_KEY
    descriptor = os.open(key_path.with_suffix('.tmp'), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, 'w') as file:
        json.dump(private, file)
    os.replace(key_path.with_suffix('.tmp'), key_path)
    jwks_path.write_text(json.dumps(jwks, indent=2) + '\n')
    return kid


def local_examples(folder, gateway=GATEWAY_ADDRESS, audience=DEFAULT_AUDIENCE):
    """Lines to print for a developer: an admin and a customer token, and a call with each through Envoy."""
    issuer = TokenIssuer.from_config(pathlib.Path(folder) / SIGNING_KEY, audience=audience)
    admin = issuer.issue([ADMIN], lifetime=LOCAL_TOKEN_LIFETIME, subject='local-admin')
    customer = issuer.issue([CUSTOMER], email=LOCAL_CUSTOMER, lifetime=LOCAL_TOKEN_LIFETIME, subject='local-customer')
    hours = LOCAL_TOKEN_LIFETIME // 3600
    return [
        f'Authentication is ON. Tokens valid for {hours} hours (new ones: python -m scripts.tokens local):',
        f'ADMIN_TOKEN={admin}',
        f'CUSTOMER_TOKEN={customer}   # {LOCAL_CUSTOMER}',
        '',
        f'curl -s -H "Authorization: Bearer $ADMIN_TOKEN" -X POST {gateway}/api/products \\',
        '  -d \'{"name": "Lamp", "price": "19.90", "stock_quantity": 5, "category": "home"}\'',
        f'curl -s -H "Authorization: Bearer $CUSTOMER_TOKEN" {gateway}/api/orders/customer/{LOCAL_CUSTOMER}',
        f'grpcurl -plaintext -H "authorization: Bearer $ADMIN_TOKEN" -d \'{{"page_size": 2}}\' '
        f'{gateway} ecommerce.products.v1.ProductService/ListProducts',
    ]


def main(argv=None):
    parser = CommandLine(prog='python -m scripts.tokens',
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    keys = commands.add_parser('keys', help='make a new signing key and add its public key to the JWKS')
    keys.add_argument('--dir', default='data/auth')
    keys.add_argument('--if-missing', action='store_true', help='do nothing when a signing key exists')
    issue = commands.add_parser('issue', help='print a token')
    issue.add_argument('--key', default=f'data/auth/{SIGNING_KEY}', help='private JWK to sign with')
    issue.add_argument('--role', action='append', choices=ROLES, required=True, help='repeat for several')
    issue.add_argument('--email', default='', help="the customer's email (required with --role customer)")
    issue.add_argument('--lifetime', type=int, default=3600, help='seconds (default %(default)s)')
    issue.add_argument('--audience', default=os.environ.get('AUTH_AUDIENCE', DEFAULT_AUDIENCE))
    local = commands.add_parser('local', help='print an admin and a customer token with example calls')
    local.add_argument('--dir', default='data/auth')
    local.add_argument('--gateway', default=GATEWAY_ADDRESS)
    args = parser.parse_args(argv)
    try:
        if args.command == 'keys':
            if args.if_missing and (pathlib.Path(args.dir) / SIGNING_KEY).exists():
                return 0
            print(f'new signing key {new_key(args.dir)} in {args.dir}/{SIGNING_KEY}; public keys: {args.dir}/{JWKS}')
        elif args.command == 'issue':
            if CUSTOMER in args.role and not args.email:
                parser.error('--role customer needs --email')
            print(TokenIssuer.from_config(args.key, audience=args.audience).issue(
                args.role, email=args.email, lifetime=args.lifetime))
        else:
            print('\n'.join(local_examples(args.dir, args.gateway)))
    except (OSError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
