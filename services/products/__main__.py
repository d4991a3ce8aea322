"""Start the Products service: python -m services.products [--address HOST:PORT] [--database-url URL]."""
import os

from services import server, settings
from services.products.service import create_server


def main():
    args = settings.service_parser(__doc__, os.environ, 'PRODUCTS', settings.PRODUCTS_ADDRESS,
                                   settings.PRODUCTS_DATABASE_URL).parse_args()
    server.configure_logging(args.log_level)
    grpc_server, port, health = server.start_or_exit(
        'products', lambda: create_server(args.address, args.database_url, args.workers))
    server.serve(grpc_server, health, args.grace, 'products', port)


if __name__ == '__main__':
    main()
