"""What the CLI prints: Rich tables for people, the API's own JSON for programs."""
import datetime

from google.protobuf import json_format, timestamp_pb2
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ecommerce.orders.v1 import carts_pb2, orders_pb2
from ecommerce.products.v1 import products_pb2

Category = products_pb2.Product.Category
Status = orders_pb2.Order.Status
CartState = carts_pb2.Cart.State


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
_NUMBERS = {'id', 'price', 'stock', 'total', 'items', 'lines', 'order', 'product_id', 'quantity', 'unit_price',
            'subtotal', 'available_quantity'}
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


def _shown(message, field):
    """A field's value as the CLI prints it: an enum's name in lower case, a time in UTC (nothing for none, such as
    a cart's hold before its checkout), anything else as it is."""
    value = getattr(message, field.name)
    if field.enum_type:
        known = field.enum_type.values_by_number.get(value)  # None for a value newer than this CLI's contract
        return known.name.lower() if known else value
    if field.message_type and field.message_type.full_name == timestamp_pb2.Timestamp.DESCRIPTOR.full_name:
        return _time(value) if message.HasField(field.name) else ''
    return value


def _detail(message):
    """Every field of `message` but the repeated ones, one per line, in the contract's order (read from its
    descriptor, so that a field added to the contract shows too)."""
    return _fields([(field.name, _shown(message, field)) for field in message.DESCRIPTOR.fields
                    if not field.is_repeated])


def product_detail(product):
    return _detail(product)


def order_table(listing):
    """A listing's orders (a ListOrders/GetOrdersByCustomerResponse), one per row."""
    table = _table(['id', 'customer', 'email', 'status', 'total', 'items', 'created (UTC)'])
    for order in listing.orders:
        _add_row(table, order.id, order.customer_name, order.customer_email, Status.Name(order.status).lower(),
                 order.total_amount, sum(item.quantity for item in order.items), _time(order.created_at, zone=''))
    return _counted(table, len(listing.orders), listing.total_size, 'order')


def _detail_and_parts(message, parts):
    """_detail of `message` above a table of its repeated field `parts` (an order's items, a cart's lines), every
    field of theirs a column, in the contract's order."""
    fields = message.DESCRIPTOR.fields_by_name[parts].message_type.fields
    rows = _table([field.name for field in fields], title=parts)
    for part in getattr(message, parts):
        _add_row(rows, *(_shown(part, field) for field in fields))
    table = Table.grid()
    table.add_row(_detail(message))
    table.add_row(rows)
    return table


def order_detail(order):
    return _detail_and_parts(order, 'items')


def cart_table(listing):
    """A ListCartsResponse's carts, one per row."""
    table = _table(['id', 'customer', 'state', 'total', 'lines', 'hold expires (UTC)', 'order', 'updated (UTC)'])
    for cart in listing.carts:
        _add_row(table, cart.id, cart.customer_email, CartState.Name(cart.state).lower(),
                 f'{cart.total_amount} {cart.currency_code}', len(cart.lines),
                 _time(cart.hold_expires_at, zone='') if cart.HasField('hold_expires_at') else '',
                 cart.order_id or '', _time(cart.updated_at, zone=''))
    return _counted(table, len(listing.carts), listing.total_size, 'cart')


def cart_detail(cart):
    return _detail_and_parts(cart, 'lines')
