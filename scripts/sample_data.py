"""Fill a running system with sample products in every category and a few orders, through gRPC."""
import argparse
import os

import grpc
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from services import settings

Category = products_pb2.Product.Category
PRODUCTS = [
    ('Laptop Pro 14', 'Aluminium laptop, 16 GB RAM, 512 GB SSD', '1299.00', 15, Category.ELECTRONICS),
    ('Noise-Cancelling Headphones', 'Over-ear, 30 h battery', '249.99', 40, Category.ELECTRONICS),
    ('USB-C Charger 65 W', 'Two ports, foldable plug', '39.90', 120, Category.ELECTRONICS),
    ('Merino T-Shirt', 'Lightweight, crew neck', '45.00', 80, Category.CLOTHING),
    ('Rain Jacket', 'Waterproof, packable', '129.50', 25, Category.CLOTHING),
    ('The Pragmatic Programmer', '20th anniversary edition', '42.99', 30, Category.BOOKS),
    ('Designing Data-Intensive Applications', 'Martin Kleppmann', '54.00', 18, Category.BOOKS),
    ('Cast Iron Skillet', '26 cm, pre-seasoned', '34.95', 50, Category.HOME),
    ('Desk Lamp', 'LED, dimmable', '27.49', 60, Category.HOME),
    ('Yoga Mat', '6 mm, non-slip', '24.99', 70, Category.SPORTS),
    ('Running Shoes', 'Neutral cushioning', '119.00', 35, Category.SPORTS),
    ('Building Blocks Set', '500 pieces', '59.99', 45, Category.TOYS),
    ('Puzzle 1000', 'Mountain landscape', '19.99', 55, Category.TOYS),
    ('Gift Card', 'Printed card, any occasion', '25.00', 500, Category.OTHER),
]
ORDERS = [
    ('Ada Lovelace', 'ada@example.com', '12 Analytical Row, London', [(0, 1), (2, 2)]),
    ('Alan Turing', 'alan@example.com', '3 Bletchley Park, Milton Keynes', [(5, 1), (6, 1), (9, 2)]),
    ('Grace Hopper', 'grace@example.com', '1 Compiler Way, Arlington', [(11, 1), (13, 4)]),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--products-address', default=os.environ.get('PRODUCTS_ADDRESS', settings.PRODUCTS_ADDRESS))
    parser.add_argument('--orders-address', default=os.environ.get('ORDERS_ADDRESS', settings.ORDERS_ADDRESS))
    args = parser.parse_args()
    with grpc.insecure_channel(args.products_address) as products_channel, \
            grpc.insecure_channel(args.orders_address) as orders_channel:
        products = products_pb2_grpc.ProductServiceStub(products_channel)
        orders = orders_pb2_grpc.OrderServiceStub(orders_channel)
        existing = products.ListProducts(products_pb2.ListProductsRequest(page_size=1), timeout=10).total_size
        if existing:
            print(f'The catalogue already holds {existing} products; adding nothing.')
            return
        ids = [products.CreateProduct(products_pb2.CreateProductRequest(product=products_pb2.Product(
            name=name, description=description, price=price, stock_quantity=stock, category=category)),
            timeout=10).id for name, description, price, stock, category in PRODUCTS]
        print(f'Created {len(ids)} products in {len(Category.keys()) - 1} categories.')
        for name, email, address, items in ORDERS:
            order = orders.CreateOrder(orders_pb2.CreateOrderRequest(
                customer_name=name, customer_email=email, shipping_address=address,
                items=[orders_pb2.OrderItemRequest(product_id=ids[index], quantity=quantity)
                       for index, quantity in items]), timeout=10)
            print(f'Order {order.id} for {email}: {order.total_amount}')


if __name__ == '__main__':
    main()
