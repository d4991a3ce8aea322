"""Fill a running system with sample products in every category and a few orders, through gRPC: the products by
importing scripts/sample_products.csv as `ecommerce products import` does, the orders with CreateOrder."""
import os
import sys
from pathlib import Path

from ecommerce.cli.api import CommandFailed, Connection, first_items
from ecommerce.cli.product_csv import import_products
from ecommerce.orders.v1 import orders_pb2
from ecommerce.products.v1 import products_pb2

from services import settings
from services.settings import CommandLine

PRODUCTS_CSV = Path(__file__).with_name('sample_products.csv')
# Customer, email, address, and the items: (product name, quantity).
ORDERS = [
    ('Ada Lovelace', 'ada@example.com', '12 Analytical Row, London', [('Laptop Pro 14', 1), ('USB-C Charger 65 W', 2)]),
    ('Alan Turing', 'alan@example.com', '3 Bletchley Park, Milton Keynes',
     [('The Pragmatic Programmer', 1), ('Designing Data-Intensive Applications', 1), ('Yoga Mat', 2)]),
    ('Grace Hopper', 'grace@example.com', '1 Compiler Way, Arlington', [('Building Blocks Set', 1), ('Gift Card', 4)]),
]


def fill(connection):
    """Import the sample products and place the sample orders, unless the catalogue holds products already."""
    existing = connection.products.ListProducts(products_pb2.ListProductsRequest(page_size=1)).total_size
    if existing:
        print(f'The catalogue already holds {existing} products; adding nothing.')
        return
    imported = import_products(connection.products, PRODUCTS_CSV)
    print(f'Imported {imported.imported_count} products from {PRODUCTS_CSV.name}.')
    listing = first_items(connection.products.ListProducts, products_pb2.ListProductsRequest(), 'products')
    ids = {product.name: product.id for product in listing.products}
    for name, email, address, items in ORDERS:
        order = connection.orders.CreateOrder(orders_pb2.CreateOrderRequest(
            customer_name=name, customer_email=email, shipping_address=address,
            items=[orders_pb2.OrderItemRequest(product_id=ids[product], quantity=quantity)
                   for product, quantity in items]))
        print(f'Order {order.id} for {email}: {order.total_amount}')


def main():
    parser = CommandLine(prog='python -m scripts.sample_data', description=__doc__)
    parser.add_argument('--products-address', default=os.environ.get('PRODUCTS_ADDRESS', settings.PRODUCTS_ADDRESS))
    parser.add_argument('--orders-address', default=os.environ.get('ORDERS_ADDRESS', settings.ORDERS_ADDRESS))
    args = parser.parse_args()
    connection = Connection(args.products_address, args.orders_address, timeout=10)
    try:
        fill(connection)
    except CommandFailed as failure:
        sys.exit('\n'.join(failure.lines))
    finally:
        connection.close()


if __name__ == '__main__':
    main()
