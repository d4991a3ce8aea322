"""Order rules: input validation naming the field, exact totals, the status state machine."""
import itertools
from decimal import Decimal
from types import SimpleNamespace

import pytest

from services.errors import FailedPrecondition, InvalidArgument
from services.orders.rules import (
    MAX_ITEMS,
    MAX_QUANTITY,
    STATUSES,
    NewOrder,
    PricedItem,
    check_transition,
    email_address,
    new_order,
    priced_items,
)

NAME, EMAIL, ADDRESS = 'Ada Lovelace', 'ada@example.com', '1 Analytical Way'


def _order(**changes):
    args = {'customer_name': NAME, 'customer_email': EMAIL, 'shipping_address': ADDRESS, 'items': [(1, 2)],
            **changes}
    return new_order(**args)


def _invalid(**changes):
    with pytest.raises(InvalidArgument) as raised:
        _order(**changes)
    assert raised.value.message.startswith(f'{raised.value.field}: ')
    return raised.value


# --- request ids and digests ----------------------------------------------------------------------

def test_a_request_id_is_optional_and_kept_in_lower_case():
    assert _order().request_id == ''
    upper = _order(request_id='0B3F2C64-5C1E-4D6B-9A51-7F6FB2B4C0DE')
    assert upper.request_id == '0b3f2c64-5c1e-4d6b-9a51-7f6fb2b4c0de'


@pytest.mark.parametrize('bad', ['x', '0b3f2c645c1e4d6b9a517f6fb2b4c0de', '00000000-0000-0000-0000-000000000000',
                                 '0b3f2c64-5c1e-4d6b-9a51-7f6fb2b4c0dg', ' 0b3f2c64-5c1e-4d6b-9a51-7f6fb2b4c0de'])
def test_a_request_id_must_be_a_canonical_non_nil_uuid(bad):
    assert _invalid(request_id=bad).field == 'request_id'


def test_the_digest_tells_orders_apart_but_not_their_spelling():
    same = _order(customer_email='  ADA@example.com ', request_id='0b3f2c64-5c1e-4d6b-9a51-7f6fb2b4c0de')
    assert _order().digest() == same.digest()
    for change in ({'items': [(1, 3)]}, {'items': [(2, 2)]}, {'items': [(1, 2), (2, 1)]},
                   {'customer_name': 'Grace'}, {'shipping_address': 'elsewhere'}, {'customer_email': 'g@example.com'}):
        assert _order(**change).digest() != _order().digest(), change


# --- new_order ------------------------------------------------------------------------------------

def test_valid_order_is_trimmed_and_normalised():
    order = _order(customer_name='  Ada  ', customer_email='  Ada@Example.COM ', shipping_address=' 1 Way\n',
                   items=[(5, 1), (2, 3)])
    assert order == NewOrder('Ada', 'ada@example.com', '1 Way', ((5, 1), (2, 3)))


@pytest.mark.parametrize('name', ['', '   '])
def test_customer_name_is_required(name):
    assert _invalid(customer_name=name).field == 'customer_name'


def test_customer_name_is_bounded():
    assert _order(customer_name='n' * 200).customer_name == 'n' * 200
    assert _invalid(customer_name='n' * 201).field == 'customer_name'


@pytest.mark.parametrize('email', [
    'a@b', 'no-at', 'a@@b.com', 'a b@c.com', '@example.com', 'a@', 'a@.com', 'a@b..com', 'a@-b.com',
    'a@b.com.', 'a@b_c.com', 'a@b.com extra', 'a\n@b.com',
    'a' * 250 + '@b.com',  # longer than 254
])
def test_invalid_email_is_rejected(email):
    error = _invalid(customer_email=email)
    assert error.field == 'customer_email'
    assert 'valid email' in error.message


@pytest.mark.parametrize('email', ['', '   '])
def test_email_is_required(email):
    error = _invalid(customer_email=email)
    assert error.field == 'customer_email'
    assert 'required' in error.message


@pytest.mark.parametrize('email', ['a.b+tag@sub.example.co.uk', "o'brien@example.ie", 'x@y.io'])
def test_valid_emails_are_accepted(email):
    assert _order(customer_email=email).customer_email == email


def test_email_address_names_the_field_it_was_given():
    assert email_address(' Bob@Example.com ', 'email') == 'bob@example.com'
    with pytest.raises(InvalidArgument) as raised:
        email_address('bob', 'email')
    assert raised.value.field == 'email'


def test_shipping_address_is_required_and_bounded():
    assert _invalid(shipping_address=' ').field == 'shipping_address'
    assert _invalid(shipping_address='a' * 1001).field == 'shipping_address'
    assert _order(shipping_address='a' * 1000).shipping_address == 'a' * 1000


def test_items_are_required():
    error = _invalid(items=[])
    assert error.field == 'items'
    assert 'at least one' in error.message


def test_at_most_100_items():
    assert len(_order(items=[(i, 1) for i in range(1, MAX_ITEMS + 1)]).items) == 100
    error = _invalid(items=[(i, 1) for i in range(1, MAX_ITEMS + 2)])
    assert error.field == 'items'
    assert '101' in error.message


@pytest.mark.parametrize('quantity', [0, -1, -1000, MAX_QUANTITY + 1])
def test_quantity_out_of_range_is_rejected_at_its_index(quantity):
    error = _invalid(items=[(1, 1), (2, 1), (3, quantity)])
    assert error.field == 'items[2].quantity'
    assert str(quantity) in error.message


def test_quantity_bounds_are_inclusive():
    assert _order(items=[(1, 1), (2, MAX_QUANTITY)]).items == ((1, 1), (2, 1000))


@pytest.mark.parametrize('product_id', [0, -5])
def test_non_positive_product_id_is_rejected(product_id):
    assert _invalid(items=[(product_id, 1)]).field == 'items[0].product_id'


def test_duplicate_product_is_rejected_at_the_second_occurrence():
    error = _invalid(items=[(7, 1), (7, 2)])
    assert error.field == 'items[1].product_id'
    assert 'twice' in error.message


def test_fields_are_checked_in_order_name_first():
    assert _invalid(customer_name='', customer_email='bad', items=[]).field == 'customer_name'


# --- priced_items ---------------------------------------------------------------------------------

def _line(product_id, quantity, price, name='P'):
    return SimpleNamespace(product_id=product_id, quantity=quantity, product_name=name, unit_price=Decimal(price))


def test_subtotals_and_total_are_exact_decimals():
    items, total = priced_items([_line(1, 3, '0.10', 'Pencil'), _line(2, 7, '19.99', 'Book')])
    assert items == [PricedItem(1, 'Pencil', Decimal('0.10'), 3, Decimal('0.30')),
                     PricedItem(2, 'Book', Decimal('19.99'), 7, Decimal('139.93'))]
    assert total == Decimal('140.23')
    assert str(items[0].subtotal) == '0.30'  # not 0.30000000000000004
    assert str(total) == '140.23'


def test_largest_order_total_is_exact():
    lines = [_line(i, MAX_QUANTITY, '99999999.99') for i in range(1, MAX_ITEMS + 1)]
    _items, total = priced_items(lines)
    assert total == Decimal('9999999999000.00')


def test_no_lines_total_zero_with_two_places():
    items, total = priced_items([])
    assert items == []
    assert str(total) == '0.00'


def test_many_cents_add_up_exactly():
    _items, total = priced_items([_line(i, 1, '0.01') for i in range(1, 101)])
    assert total == Decimal('1.00')


# --- check_transition -----------------------------------------------------------------------------

ALLOWED = {('pending', 'processing'), ('processing', 'shipped'), ('shipped', 'delivered'),
           ('pending', 'cancelled'), ('processing', 'cancelled')}
DISALLOWED = sorted(set(itertools.product(STATUSES, STATUSES)) - ALLOWED)


def test_there_are_five_statuses():
    assert set(STATUSES) == {'pending', 'processing', 'shipped', 'delivered', 'cancelled'}
    assert len(DISALLOWED) == 25 - 5


@pytest.mark.parametrize('current, target', sorted(ALLOWED))
def test_allowed_moves(current, target):
    assert check_transition(current, target) is None


@pytest.mark.parametrize('current, target', DISALLOWED)
def test_every_other_move_is_refused(current, target):
    with pytest.raises(FailedPrecondition) as raised:
        check_transition(current, target)
    error = raised.value
    assert error.reason == 'INVALID_STATUS_TRANSITION'
    assert error.metadata == {'current': current, 'requested': target}
    assert current in error.message


def test_refusal_says_what_the_next_status_would_be():
    with pytest.raises(FailedPrecondition) as raised:
        check_transition('pending', 'shipped')
    assert 'processing' in raised.value.message
    with pytest.raises(FailedPrecondition) as raised:
        check_transition('delivered', 'shipped')
    assert 'final' in raised.value.message


@pytest.mark.parametrize('field', ['customer_name', 'shipping_address'])
def test_a_nul_character_is_refused_on_every_backend(field):
    """PostgreSQL cannot store NUL in text (the call ended INTERNAL there); SQLite can: both refuse it alike."""
    error = _invalid(**{field: 'Ada\x00'})
    assert error.field == field and 'NUL' in error.message
