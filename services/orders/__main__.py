"""Start the Orders service: python -m services.orders [--address HOST:PORT] [--products-address TARGET]."""
import datetime
import os

from services import auth, server, settings, workers
from services.money import shop_currency
from services.orders.service import create_server
from storage import orders as orders_storage


def parser(environ):
    """The service's flags, each defaulting to its variable in `environ` (the Kubernetes manifests' test reads it)."""
    parser = settings.service_parser(__doc__, environ, 'ORDERS', settings.ORDERS_ADDRESS,
                                     settings.ORDERS_DATABASE_URL, settings.ORDERS_METRICS_ADDRESS)
    parser.add_argument('--products-address', default=environ.get('PRODUCTS_ADDRESS', settings.PRODUCTS_ADDRESS),
                        help='the Products service: host:port, or any gRPC target naming several replicas, '
                             'e.g. ipv4:10.0.0.1:50051,10.0.0.2:50051 or dns:///products:50051; calls are spread '
                             'round-robin (env PRODUCTS_ADDRESS, default %(default)s)')
    parser.add_argument('--products-timeout', type=float,
                        default=float(environ.get('ORDERS_PRODUCTS_TIMEOUT', 5.0)),
                        help='deadline in seconds of every call to Products (default %(default)s)')
    parser.add_argument('--recovery-interval', type=float,
                        default=float(environ.get('ORDERS_RECOVERY_INTERVAL', 10.0)),
                        help='seconds between recovery passes (default %(default)s)')
    parser.add_argument('--checkout-hold', type=float,
                        default=float(environ.get('ORDERS_CHECKOUT_HOLD_SECONDS', settings.CHECKOUT_HOLD_SECONDS)),
                        help="seconds a cart's checkout holds its stock before it expires and the stock goes back "
                             '(env ORDERS_CHECKOUT_HOLD_SECONDS, default %(default)s)')
    parser.add_argument('--stale-after', type=float, default=environ.get('ORDERS_STALE_AFTER'),
                        help='age in seconds at which recovery undoes an unfinished placement '
                             '(default: six times --products-timeout, at least 30)')
    parser.add_argument('--products-tls-ca', default=environ.get('ORDERS_PRODUCTS_TLS_CA'),
                        help="call Products over TLS, verifying its certificate with this CA (PEM) "
                             "(env ORDERS_PRODUCTS_TLS_CA; with a client certificate only: the system's CAs)")
    parser.add_argument('--products-tls-cert', default=environ.get('ORDERS_PRODUCTS_TLS_CERT'),
                        help="the client certificate (PEM) shown to a Products that requires one (mutual TLS; "
                             "env ORDERS_PRODUCTS_TLS_CERT)")
    parser.add_argument('--products-tls-key', default=environ.get('ORDERS_PRODUCTS_TLS_KEY'),
                        help="that client certificate's private key (PEM; env ORDERS_PRODUCTS_TLS_KEY)")
    parser.add_argument('--service-key', default=environ.get('ORDERS_SERVICE_KEY'),
                        help="sign Orders' own short-lived `service` tokens for its calls to Products with this "
                             "private JWK (with --auth-secret, the secret signs them; env ORDERS_SERVICE_KEY)")
    return parser


def main():
    args = parser(os.environ).parse_args()
    server.configure_logging(args.log_level, 'orders')
    with server.exit_on_start_failure('orders'):
        tls = server.ServerTls.from_files(args.tls_cert, args.tls_key, args.tls_client_ca)
        products_tls = server.ChannelTls.from_files(args.products_tls_ca, args.products_tls_cert,
                                                    args.products_tls_key, flag='--products-tls')
        gate = auth.Gate.from_config(args.auth_jwks, args.auth_secret, args.auth_audience, 'orders')
        issuer = auth.TokenIssuer.from_config(args.service_key, args.auth_secret, args.auth_audience)
        currency = shop_currency(args.currency)
        if gate.enforcing and issuer is None:
            raise ValueError('with tokens checked, Orders needs --service-key (a private JWK whose public key '
                             'Products accepts) or --auth-secret to sign its calls to Products')
    stale_after = args.stale_after and datetime.timedelta(seconds=float(args.stale_after))

    async def start(address, tracer_provider):
        grpc_server, port, health, background = await create_server(
            address, args.database_url, args.products_address, args.products_timeout, args.database_threads,
            args.recovery_interval, stale_after, tls, products_tls, gate, issuer, tracer_provider, currency,
            args.checkout_hold)
        background.start()
        return grpc_server, port, health, [background.shutdown], [background.stop]

    workers.run_service('orders', orders_storage, args, start)


if __name__ == '__main__':
    main()
