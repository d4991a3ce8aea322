"""Facts the admin console (envoy/admin/) and the CLI (cli/) state again, checked against the one place each lives:
the contract (the generated descriptors of protos/) or the rules (services/*/rules.py), so that a change there that
is not carried into the copy fails here. The console is static JavaScript without a build step, read here as text:
its facts are plain literals in one block at the top of admin.js; its forms are read from index.html."""
import inspect
import itertools
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from ecommerce.cli import orders as orders_cli
from ecommerce.cli import product_csv
from ecommerce.cli import products as products_cli
from ecommerce.orders.v1 import carts_pb2, orders_pb2
from ecommerce.products.v1 import products_pb2
from google.api import annotations_pb2
from google.rpc import error_details_pb2, status_pb2

from services.errors import InvalidArgument, InvalidArguments
from services.orders import rules as order_rules
from services.products import rules as product_rules
from services.reflection import api_files, public_services
from services.settings import MAX_PAGE_SIZE

CONSOLE = Path(__file__).resolve().parents[2] / 'envoy' / 'admin'
ADMIN_JS = (CONSOLE / 'admin.js').read_text()
INDEX_HTML = (CONSOLE / 'index.html').read_text()
ADMIN_CSS = (CONSOLE / 'admin.css').read_text()
Product = products_pb2.Product
Order = orders_pb2.Order
Cart = carts_pb2.Cart
# The services the REST API serves, through Envoy's transcoder.
PUBLIC_SERVICES = public_services(api_files())


def enum_values(proto_enum):
    """A contract enum's value names in lower case, in its order, without the UNSPECIFIED zero (as the API's clients
    write them)."""
    return [value.name.lower() for value in proto_enum.DESCRIPTOR.values if value.number != 0]


def field_names(*messages):
    """The fields of these messages (descriptors or classes)."""
    return {field.name for message in messages for field in getattr(message, 'DESCRIPTOR', message).fields}


def api_messages():
    """Every message the REST API reads or writes: the public services' requests and responses and the messages they
    hold, and the google.rpc.Status of an error with its BadRequest."""
    waiting = [status_pb2.Status.DESCRIPTOR, error_details_pb2.BadRequest.DESCRIPTOR]
    waiting += [message for service in PUBLIC_SERVICES for method in service.methods
                for message in (method.input_type, method.output_type)]
    found = {}
    while waiting:
        message = waiting.pop()
        if message.full_name not in found:
            found[message.full_name] = message
            waiting += [field.message_type for field in message.fields if field.message_type]
    return list(found.values())


# --- the console: admin.js's block of facts -----------------------------------------------------------------------

def js_constant(name):
    """The value of `const NAME = <literal>;` in admin.js, a JSON-like literal: strings in single quotes, numbers,
    arrays, and objects with bare keys."""
    match = re.search(rf'^const {name} = (.+?);$', ADMIN_JS, re.MULTILINE | re.DOTALL)
    assert match, f'admin.js has no `const {name} = ...;`'
    literal = re.sub(r"'([^'\\]*)'", r'"\1"', match[1])
    literal = re.sub(r'([{,]\s*)([A-Za-z_]\w*)\s*:', r'\1"\2":', literal)
    return json.loads(re.sub(r',\s*([\]}])', r'\1', literal))


def test_the_consoles_page_size_is_one_the_api_serves_whole():
    """A larger one would be lowered by the API, and the console would number the rows of its pages wrong."""
    assert 1 <= js_constant('PAGE_SIZE') <= MAX_PAGE_SIZE


@pytest.mark.parametrize(('constant', 'proto_enum'), [('CATEGORIES', Product.Category),
                                                      ('ORDER_STATUSES', Order.Status),
                                                      ('CART_STATES', Cart.State)])
def test_the_consoles_enum_values_are_the_contracts(constant, proto_enum):
    assert js_constant(constant) == enum_values(proto_enum)


def test_the_status_an_orders_first_event_comes_from_is_the_contracts_zero():
    assert js_constant('PLACED_FROM_STATUS') == Order.Status.Name(0)


def test_the_consoles_workflow_is_the_rules():
    assert js_constant('NEXT_STATUS') == order_rules.NEXT_STATUS
    assert js_constant('CANCELLABLE') == list(order_rules.CANCELLABLE)


def test_the_consoles_product_fields_are_those_the_rules_let_a_client_set():
    assert js_constant('PRODUCT_FIELDS') == list(product_rules.EDITABLE_FIELDS)
    assert set(product_rules.EDITABLE_FIELDS) <= field_names(Product)


def test_every_order_status_has_a_badge_colour_and_no_other_does():
    assert set(re.findall(r'^\.status-([a-z_]+)\s*\{', ADMIN_CSS, re.MULTILINE)) == set(enum_values(Order.Status))


def test_every_cart_state_has_a_badge_colour_and_no_other_does():
    assert set(re.findall(r'^\.state-([a-z_]+)\s*[,{]', ADMIN_CSS, re.MULTILINE)) == set(enum_values(Cart.State))


# --- the console: what admin.js reads of the API's messages ------------------------------------------------------

# The names admin.js gives the messages it reads (a property read `name.field` not behind a dot), and what each is.
# `update` is a line of the order watch: an OrderUpdate, or the Status of a stream that failed.
READERS = {
    'product': [Product], 'saved': [Product], 'order': [Order], 'item': [orders_pb2.OrderItem],
    'orderEvent': [orders_pb2.OrderEvent], 'movement': [products_pb2.StockMovement],
    'update': [orders_pb2.OrderUpdate, status_pb2.Status], 'badRequest': [error_details_pb2.BadRequest],
    'violation': [error_details_pb2.BadRequest.FieldViolation],
    'cart': [Cart], 'line': [carts_pb2.CartLine, orders_pb2.OrderItem], 'resource': [Order, Cart],
}


def test_every_field_the_console_reads_of_a_message_is_one_of_that_message():
    read = {}
    for name, field in re.findall(rf'(?<![\w.])({"|".join(READERS)})\.([A-Za-z_]\w*)', ADMIN_JS):
        read.setdefault(name, set()).add(field)
    assert set(read) == set(READERS), 'a message admin.js no longer reads under that name: update READERS'
    unknown = {name: sorted(fields - field_names(*READERS[name])) for name, fields in read.items()}
    assert {name: fields for name, fields in unknown.items() if fields} == {}


def without_comments(text):
    """admin.js or index.html without its comments (/* */, // to the end of the line, <!-- -->)."""
    return re.sub(r'/\*.*?\*/|(?:^|\s)//\s[^\n]*|<!--.*?-->', '', text, flags=re.DOTALL)


def test_every_field_name_the_console_writes_is_one_of_the_api():
    """Query parameters, JSON keys and form controls named like proto fields (lower_snake_case)."""
    named = set(re.findall(r'\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b', without_comments(ADMIN_JS + INDEX_HTML)))
    enum_names = {value.name.lower() for message in api_messages() for enum in message.enum_types
                  for value in enum.values}
    assert named - field_names(*api_messages()) - enum_names == set()


def api_paths():
    """The path of every HTTP rule of the public services, as a tuple of segments, each variable as '{}'."""
    rules = [method.GetOptions().Extensions[annotations_pb2.http] for service in PUBLIC_SERVICES
             for method in service.methods]
    templates = [getattr(rule, rule.WhichOneof('pattern')) for top in rules for rule in (top, *top.additional_bindings)
                 if rule.WhichOneof('pattern')]
    return {tuple(re.sub(r'^\{.*\}$', '{}', segment) for segment in template.split('/')) for template in templates}


def console_path(literal):
    """A path literal of admin.js as a tuple of segments: a segment that starts with an interpolation, ${...}, is
    '{}'; an interpolation after a segment's text (a query string) is left out."""
    text, index = '', 0
    while index < len(literal):
        if literal.startswith('${', index):
            depth, index = 1, index + 2
            while depth:
                depth += {'{': 1, '}': -1}.get(literal[index], 0)
                index += 1
            text += '\0'
        else:
            text, index = text + literal[index], index + 1
    return tuple('{}' if segment.startswith('\0') else segment.rstrip('\0') for segment in text.split('/'))


def test_every_path_the_console_calls_is_one_of_the_apis_http_rules():
    literals = [match[0] or match[1] for match in re.findall(r"'(/api/[^']*)'|`(/api/[^`]*)`", ADMIN_JS)]
    assert literals and {console_path(literal) for literal in literals} - api_paths() == set()


# --- the console: index.html's forms ---------------------------------------------------------------------------

class Controls(HTMLParser):
    """The named form controls of a page, each with its attributes and the ids of the elements around it."""
    VOID = frozenset({'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track',
                      'wbr'})

    def __init__(self, text):
        super().__init__()
        self.open, self.found = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ('input', 'select', 'textarea') and 'name' in attrs:
            self.found.append((attrs, {element.get('id') for element in self.open} - {None}))
        if tag not in self.VOID:
            self.open.append(attrs)

    def handle_endtag(self, tag):
        if tag not in self.VOID:
            self.open.pop()


def controls(within):
    """{name: attributes} of the named controls inside the element with id `within`."""
    return {attrs['name']: attrs for attrs, around in Controls(INDEX_HTML).found if within in around}


def test_the_product_dialog_has_a_control_for_each_field_a_client_sets_and_no_other():
    assert list(controls('product-dialog')) == list(product_rules.EDITABLE_FIELDS)


def test_the_product_dialogs_name_length_is_the_rules():
    assert int(controls('product-dialog')['name']['maxlength']) == product_rules.MAX_NAME_LENGTH


@pytest.mark.parametrize(('view', 'requests'), [
    ('products', [products_pb2.SearchProductsRequest]),
    ('low-stock', [products_pb2.SearchProductsRequest]),
    ('orders', [orders_pb2.ListOrdersRequest, orders_pb2.GetOrdersByCustomerRequest]),
    ('carts', [carts_pb2.ListCartsRequest]),
])
def test_each_filter_is_a_field_of_the_request_it_fills(view, requests):
    assert controls(view) and set(controls(view)) <= field_names(*requests)


def test_the_low_stock_threshold_starts_where_the_rules_do():
    least = int(controls('low-stock')['stock_below']['min'])
    assert product_rules.search_filter('', '', '', '', stock_below=least).stock_below == least
    with pytest.raises(InvalidArgument):
        product_rules.search_filter('', '', '', '', stock_below=least - 1)
    assert set(re.findall(r'units, (\d+) or more', ADMIN_JS)) == {str(least)}  # the console's hint


# --- the CLI -----------------------------------------------------------------------------------------------------

def test_the_csv_columns_are_the_fields_a_client_sets_and_survive_an_export_and_an_import(tmp_path):
    assert product_csv.COLUMNS == product_rules.EDITABLE_FIELDS
    lamp = Product(id=7, name='Desk Lamp', description='LED, "dimmable"', price='27.49', stock_quantity=60,
                   category=Product.HOME)
    path = tmp_path / 'products.csv'
    with open(path, 'w', encoding='utf-8', newline='') as file:
        product_csv.write_products([lamp], file)
    read = product_csv.read_products(path)
    assert read.problems == []
    assert read.products == [Product(**{column: getattr(lamp, column) for column in product_csv.COLUMNS})]


def test_the_cli_reads_the_bad_values_of_an_import_as_the_rules_name_them():
    good = {'name': 'Lamp', 'price': '1.00', 'category': 'home'}
    with pytest.raises(InvalidArguments) as refused:
        product_rules.imported_products([good, {'name': ' ', 'price': '0', 'category': 'toy'}])
    rows_and_fields = [product_csv.ROW_FIELD.fullmatch(name).groups() for name, _ in refused.value.violations]
    assert sorted(rows_and_fields) == [('1', 'category'), ('1', 'name'), ('1', 'price')]
    assert refused.value.metadata[product_csv.VIOLATION_COUNT] == '3'


def option_help(annotated):
    """The help of a Typer option or argument declared as Annotated[type, typer.Option(...)]."""
    return annotated.__metadata__[0].help


def test_the_clis_product_options_state_the_rules_limits():
    assert re.search(r'\b1-(\d+) characters', option_help(products_cli.Name))[1] == str(product_rules.MAX_NAME_LENGTH)
    assert re.search(r'at most (\d+) characters', option_help(products_cli.Description))[1] == \
        str(product_rules.MAX_DESCRIPTION_LENGTH)
    assert 'greater than zero' in option_help(products_cli.Price)
    product_rules.validate_fields({'price': '0.01'})
    with pytest.raises(InvalidArgument):
        product_rules.validate_fields({'price': '0'})
    assert '0 or more' in option_help(products_cli.Stock)
    product_rules.validate_fields({'stock_quantity': 0})
    with pytest.raises(InvalidArgument):
        product_rules.validate_fields({'stock_quantity': -1})


def test_the_clis_order_commands_state_the_rules_workflow():
    advance_help = option_help(inspect.signature(orders_cli.advance).parameters['status'].annotation)
    steps = re.search(r'[a-z]+(?: → [a-z]+)+', advance_help)[0].split(' → ')
    assert dict(itertools.pairwise(steps)) == order_rules.NEXT_STATUS
    assert set(re.findall(r'[a-z]+', advance_help.partition(':')[2])) - {'or'} == set(order_rules.STATUSES)
    cancellable = re.match(r'Cancel an? (.+?) order\b', orders_cli.cancel.__doc__)[1]
    assert re.split(r', | or ', cancellable) == list(order_rules.CANCELLABLE)
