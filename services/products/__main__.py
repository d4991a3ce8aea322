"""Start the Products service: python -m services.products [--address HOST:PORT] [--database-url URL]."""
import os
import sys

from services import server, settings, workers
from services.products.service import create_server


def main():
    args = settings.service_parser(__doc__, os.environ, 'PRODUCTS', settings.PRODUCTS_ADDRESS,
                                   settings.PRODUCTS_DATABASE_URL).parse_args()
    server.configure_logging(args.log_level)
    address, _held = workers.reserve_port(args.address)

    def work():
        grpc_server, port, health = server.start_or_exit(
            'products', lambda: create_server(address, args.database_url, args.threads))
        server.serve(grpc_server, health, args.grace, 'products', port)

    sys.exit(workers.run(args.workers, work))


if __name__ == '__main__':
    main()
