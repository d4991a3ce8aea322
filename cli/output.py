"""What the CLI prints: Rich tables for people, the API's own JSON for programs."""
import datetime

from ecommerce.orders.v1 import orders_pb2
from ecommerce.products.v1 import products_pb2
from google.protobuf import json_format
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

Category = products_pb2.Product.Category
Status = orders_pb2.Order.Status


def as_json(message):
    """`message` as Envoy's transcoder prints it: proto field names, every primitive field even when zero."""
    return json_format.MessageToJson(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True, ensure_ascii=False, indent=2)


def print_message(message, render, json_output):
    """Print `message` as JSON, or as the Rich renderable that `render(message)` makes."""
    if json_output:
        print(as_json(message))
    else:
        Console().print(render(message))


def _time(timestamp, zone=' UTC'):
    return f'{timestamp.ToDatetime(datetime.UTC):%Y-%m-%d %H:%M:%S}{zone}'


def plural(count, noun):
    """'1 product', '1,234 products'."""
    return f'{count:,} {noun}{"" if count == 1 else "s"}'


def _counted(table, shown, total, noun):
    """`table` above a line such as '3 products', or '20 of 1,234 products (--all or --limit N for more)'."""
    count = plural(total, noun)
    return Group(table, count if shown >= total else f'{shown:,} of {count} (--all or --limit N for more)')


# Columns printed to the right, as numbers are; and the columns of free text, the only ones that wrap in a narrow
# terminal.
_NUMBERS = {'id', 'price', 'stock', 'total', 'items', 'product_id', 'quantity', 'subtotal'}
_TEXT = {'name', 'customer', 'email', 'product_name'}


def _table(headings, **options):
    table = Table(**options)
    for heading in headings:
        table.add_column(heading, justify='right' if heading in _NUMBERS else 'left',
                         **({'overflow': 'fold'} if heading in _TEXT else {'no_wrap': True}))
    return table


def _add_row(table, *values):
    """Values as plain text: a name such as "Lamp [blue]" is not Rich markup, ":star:" not an emoji code."""
    table.add_row(*[Text(str(value)) for value in values])


def _fields(rows):
    table = Table(show_header=False, box=None)
    table.add_column(style='bold')
    table.add_column(overflow='fold')
    for name, value in rows:
        _add_row(table, name, value)
    return table


def product_table(listing):
    """A listing's products (a List/SearchProductsResponse), one per row."""
    table = _table(['id', 'name', 'category', 'price', 'stock'])
    for product in listing.products:
        _add_row(table, product.id, product.name, Category.Name(product.category).lower(), product.price,
                 product.stock_quantity)
    return _counted(table, len(listing.products), listing.total_size, 'product')


def product_detail(product):
    return _fields([('id', product.id), ('name', product.name), ('description', product.description),
                    ('price', product.price), ('stock_quantity', product.stock_quantity),
                    ('category', Category.Name(product.category).lower()),
                    ('created_at', _time(product.created_at)), ('updated_at', _time(product.updated_at))])


def order_table(listing):
    """A listing's orders (a ListOrders/GetOrdersByCustomerResponse), one per row."""
    table = _table(['id', 'customer', 'email', 'status', 'total', 'items', 'created (UTC)'])
    for order in listing.orders:
        _add_row(table, order.id, order.customer_name, order.customer_email, Status.Name(order.status).lower(),
                 order.total_amount, sum(item.quantity for item in order.items), _time(order.created_at, zone=''))
    return _counted(table, len(listing.orders), listing.total_size, 'order')


def order_detail(order):
    items = _table(['product_id', 'product_name', 'price', 'quantity', 'subtotal'], title='items')
    for item in order.items:
        _add_row(items, item.product_id, item.product_name, item.price, item.quantity, item.subtotal)
    details = _fields([('id', order.id), ('status', Status.Name(order.status).lower()),
                       ('customer_name', order.customer_name), ('customer_email', order.customer_email),
                       ('shipping_address', order.shipping_address), ('total_amount', order.total_amount),
                       ('created_at', _time(order.created_at)), ('updated_at', _time(order.updated_at))])
    table = Table.grid()
    table.add_row(details)
    table.add_row(items)
    return table
