"""Start the Products service: python -m services.products [--address HOST:PORT] [--database-url URL]."""
import os

from services import auth, server, settings, workers
from services.money import shop_currency
from services.products.service import create_server
from storage import products as products_storage


def parser(environ):
    """The service's flags, each defaulting to its variable in `environ` (the Kubernetes manifests' test reads it)."""
    return settings.service_parser(__doc__, environ, 'PRODUCTS', settings.PRODUCTS_ADDRESS,
                                   settings.PRODUCTS_DATABASE_URL, settings.PRODUCTS_METRICS_ADDRESS)


def main():
    args = parser(os.environ).parse_args()
    server.configure_logging(args.log_level, 'products')
    with server.exit_on_start_failure('products'):
        tls = server.ServerTls.from_files(args.tls_cert, args.tls_key, args.tls_client_ca)
        gate = auth.Gate.from_config(args.auth_jwks, args.auth_secret, args.auth_audience, 'products')
        currency = shop_currency(args.currency)

    async def start(address, tracer_provider):
        return (*await create_server(address, args.database_url, args.database_threads, tls, gate, tracer_provider,
                                     currency), (), ())

    workers.run_service('products', products_storage, args, start)


if __name__ == '__main__':
    main()
