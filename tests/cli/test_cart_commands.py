"""`ecommerce carts ...` against real in-process servers: lines that add up, prices and stock, the listing's filters,
a checkout that holds the stock, the order it completes into (once), and one line for every refusal."""
import json
import socket

import pytest
from ecommerce.orders.v1 import carts_pb2
from google.protobuf import json_format

from tests.cli.test_commands import api_dict, detail_fields, table_rows
from tests.cli_results import one_line_error, succeeded
from tests.conftest import new_product


@pytest.fixture
def stock(products_stub):
    """Two products: a pen at 1.50 (10 in stock) and ink at 4.25 (5 in stock)."""
    return (new_product(products_stub, name='Pen', price='1.50', stock=10),
            new_product(products_stub, name='Ink', price='4.25', stock=5))


def cart_json(ecommerce, *command):
    """The Cart a `carts` command printed with --json (which parses as one)."""
    return json_format.ParseDict(json.loads(succeeded(ecommerce('--json', 'carts', *command))), carts_pb2.Cart())


def filled_cart(ecommerce, email, *lines):
    """A new cart of `email` holding (product, quantity) `lines`."""
    cart = cart_json(ecommerce, 'create', email)
    for product, quantity in lines:
        cart = cart_json(ecommerce, 'add', cart.id, product.id, '--quantity', quantity)
    return cart


def checked_out(ecommerce, cart):
    return cart_json(ecommerce, 'checkout', cart.id, '--name', 'Ada Lovelace', '--address', '12 Analytical Row')


def test_lines_add_up_and_get_shows_prices_stock_and_the_total(ecommerce, products_stub, stock):
    pen, ink = stock
    ruler = new_product(products_stub, name='Ruler', price='2.00')
    created = detail_fields(succeeded(ecommerce('carts', 'create', 'Ada@Example.com')))
    assert (created['customer_email'], created['state'], created['total_amount'], created['hold_expires_at']) == \
           ('ada@example.com', 'open', '0.00', '')
    cart_id = created['id']
    succeeded(ecommerce('carts', 'add', cart_id, pen.id))
    assert table_rows(succeeded(ecommerce('carts', 'add', cart_id, pen.id, '--quantity', '2')))[0][:3] == \
           [str(pen.id), 'Pen', '3']
    succeeded(ecommerce('carts', 'add', cart_id, ink.id, '--quantity', '4'))
    succeeded(ecommerce('carts', 'add', cart_id, ruler.id))
    assert detail_fields(succeeded(ecommerce('carts', 'set', cart_id, ink.id, '2')))['total_amount'] == '15.00'
    assert [row[0] for row in table_rows(succeeded(ecommerce('carts', 'remove', cart_id, ruler.id)))] == \
           [str(pen.id), str(ink.id)]
    shown = succeeded(ecommerce('carts', 'get', cart_id))
    assert table_rows(shown) == [[str(pen.id), 'Pen', '3', '1.50', '4.50', 'USD', 'in_stock', '10'],
                                 [str(ink.id), 'Ink', '2', '4.25', '8.50', 'USD', 'in_stock', '5']]
    fields = detail_fields(shown)
    assert (fields['state'], fields['total_amount'], fields['currency_code'], fields['order_id']) == \
           ('open', '13.00', 'USD', '0')


def test_list_filters_by_state_and_customer(ecommerce, stock):
    pen, ink = stock
    ada = filled_cart(ecommerce, 'ada@example.com', (pen, 2))
    alan = checked_out(ecommerce, filled_cart(ecommerce, 'alan@example.com', (ink, 1), (pen, 1)))
    ada_again = filled_cart(ecommerce, 'ada@example.com')
    listed = succeeded(ecommerce('carts', 'list'))
    assert [row[:5] + row[6:7] for row in table_rows(listed)] == [
        [str(ada_again.id), 'ada@example.com', 'open', '0.00 USD', '0', ''],
        [str(alan.id), 'alan@example.com', 'checking_out', '5.75 USD', '2', ''],
        [str(ada.id), 'ada@example.com', 'open', '3.00 USD', '1', '']]
    assert listed.splitlines()[-1] == '3 carts'
    checking_out = succeeded(ecommerce('carts', 'list', '--state', 'checking_out'))
    [row] = table_rows(checking_out)
    assert (row[0], row[5]) == (str(alan.id), f'{alan.hold_expires_at.ToDatetime():%Y-%m-%d %H:%M:%S}')
    assert checking_out.splitlines()[-1] == '1 cart'
    adas = succeeded(ecommerce('carts', 'list', '--customer', 'ADA@example.com', '--state', 'OPEN'))
    assert [row[0] for row in table_rows(adas)] == [str(ada_again.id), str(ada.id)]
    assert adas.splitlines()[-1] == '2 carts'
    assert succeeded(ecommerce('carts', 'list', '--limit', '1')).splitlines()[-1] == \
           '1 of 3 carts (--all or --limit N for more)'


def test_checkout_holds_the_lines_and_complete_prints_the_same_order_twice(ecommerce, stock):
    pen, ink = stock
    cart = filled_cart(ecommerce, 'ada@example.com', (pen, 3), (ink, 2))
    held = succeeded(ecommerce('carts', 'checkout', cart.id, '--name', 'Ada Lovelace',
                               '--address', '12 Analytical Row'))
    fields = detail_fields(held)
    assert (fields['state'], fields['customer_name'], fields['shipping_address']) == \
           ('checking_out', 'Ada Lovelace', '12 Analytical Row')
    assert fields['hold_expires_at'].endswith(' UTC')
    assert [row[6] for row in table_rows(held)] == ['held', 'held']
    order = detail_fields(succeeded(ecommerce('carts', 'complete', cart.id)))
    assert (order['status'], order['total_amount'], order['customer_email']) == ('pending', '13.00', 'ada@example.com')
    assert detail_fields(succeeded(ecommerce('carts', 'complete', cart.id)))['id'] == order['id']
    completed = detail_fields(succeeded(ecommerce('carts', 'get', cart.id)))
    assert (completed['state'], completed['order_id']) == ('completed', order['id'])
    [row] = table_rows(succeeded(ecommerce('carts', 'list', '--state', 'completed')))
    assert (row[0], row[6]) == (str(cart.id), order['id'])


def test_abandon_gives_a_checkout_up_and_is_refused_without_one(ecommerce, stock):
    pen, _ink = stock
    cart = filled_cart(ecommerce, 'ada@example.com', (pen, 1))
    assert one_line_error(ecommerce('carts', 'abandon', cart.id), 1) == \
           f'error: cart {cart.id} has no checkout under way (it is open) (FAILED_PRECONDITION)'
    checked_out(ecommerce, cart)
    abandoned = succeeded(ecommerce('carts', 'abandon', cart.id))
    assert detail_fields(abandoned)['state'] == 'abandoned'
    assert [row[6] for row in table_rows(abandoned)] == ['in_stock']


def test_json_is_the_apis_own(ecommerce, stock):
    pen, _ink = stock
    cart = filled_cart(ecommerce, 'ada@example.com', (pen, 2))
    shown = json.loads(succeeded(ecommerce('carts', 'get', cart.id, '--json')))
    assert shown == api_dict(cart)  # as `carts add --json` printed it: nothing changed since
    assert (shown['currency_code'], [line['availability'] for line in shown['lines']]) == ('USD', ['IN_STOCK'])
    listed = json.loads(succeeded(ecommerce('--json', 'carts', 'list')))
    assert ([listed_cart['id'] for listed_cart in listed['carts']], listed['total_size']) == ([str(cart.id)], 1)


def test_mistakes_are_one_line(ecommerce, stock):
    pen, _ink = stock
    assert one_line_error(ecommerce('carts', 'get', '999'), 1) == 'error: cart 999 not found (NOT_FOUND)'
    assert one_line_error(ecommerce('carts', 'add', '999', pen.id), 1) == 'error: cart 999 not found (NOT_FOUND)'
    assert one_line_error(ecommerce('carts', 'create', 'not-an-email'), 1).startswith('error: customer_email: ')
    assert '--state' in one_line_error(ecommerce('carts', 'list', '--state', 'lost'), 2)
    assert '--address' in one_line_error(ecommerce('carts', 'checkout', '1', '--name', 'Ada'), 2)


def test_carts_are_called_at_the_orders_address(ecommerce):
    with socket.socket() as probe:  # a loopback port where nothing listens once the probe is closed
        probe.bind(('127.0.0.1', 0))
        closed_address = f'127.0.0.1:{probe.getsockname()[1]}'
    line = one_line_error(ecommerce('--orders-address', closed_address, 'carts', 'get', '1'), 3)
    assert line.startswith(f'error: cannot reach the Orders service at {closed_address} ')
    assert line.endswith('(--orders-address or ORDERS_ADDRESS)')
