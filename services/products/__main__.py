"""Start the Products service: python -m services.products [--address HOST:PORT] [--database-url URL]."""
import os
import sys

from services import server, settings, workers
from services.products.service import create_server
from storage import products as products_storage
from storage.database import prepare_schema


def main():
    args = settings.service_parser(__doc__, os.environ, 'PRODUCTS', settings.PRODUCTS_ADDRESS,
                                   settings.PRODUCTS_DATABASE_URL).parse_args()
    server.configure_logging(args.log_level)
    # The schema once, before the workers start: on a new database they would all create it at once.
    server.start_or_exit('products', lambda: prepare_schema(products_storage, args.database_url))
    address, _held = workers.reserve_port(args.address)

    def work():
        grpc_server, port, health = server.start_or_exit(
            'products', lambda: create_server(address, args.database_url, args.threads))
        server.serve(grpc_server, health, args.grace, 'products', port)

    sys.exit(workers.run(args.workers, work))


if __name__ == '__main__':
    main()
