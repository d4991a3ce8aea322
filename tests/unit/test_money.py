"""Money rules: prices are exact decimal strings, never floats; bad input names its field."""
from decimal import Decimal

import pytest

from services.errors import InvalidArgument
from services.money import format_money, parse_price


@pytest.mark.parametrize('text, expected', [
    ('19.99', Decimal('19.99')),
    ('20', Decimal('20.00')),
    ('0.01', Decimal('0.01')),
    ('99999999.99', Decimal('99999999.99')),
    ('5.5', Decimal('5.50')),
])
def test_parse_price_accepts_positive_decimals_with_two_places(text, expected):
    value = parse_price(text, 'price')
    assert value == expected
    assert isinstance(value, Decimal)
    assert value.as_tuple().exponent == -2  # always quantized to cents


@pytest.mark.parametrize('text', ['0', '0.00', '-1', '-0.01', '-19.99'])
def test_parse_price_rejects_zero_and_negative_as_not_positive(text):
    with pytest.raises(InvalidArgument) as raised:
        parse_price(text, 'price')
    assert raised.value.field == 'price'
    assert 'greater than zero' in raised.value.message
    assert raised.value.message.startswith('price: ')


@pytest.mark.parametrize('text', [
    '1.999',  # three places
    '123456789.00',  # nine digits before the point
    '1e3', 'NaN', 'nan', 'Infinity', '-Infinity',
    ' 1', '1 ', '', '.5', '1.', '+1', '1,00', '0x10',
    '١٢',  # Arabic-Indic digits: Decimal() would accept them, the API must not
    '１２',  # full-width digits
])
def test_parse_price_rejects_anything_but_a_plain_decimal_string(text):
    with pytest.raises(InvalidArgument) as raised:
        parse_price(text, 'min_price')
    assert raised.value.field == 'min_price'
    assert raised.value.reason == 'INVALID_ARGUMENT'
    assert 'is not a price' in raised.value.problem


def test_parse_price_names_the_field_it_was_given():
    with pytest.raises(InvalidArgument) as raised:
        parse_price('abc', 'items[3].price')
    assert raised.value.field == 'items[3].price'
    assert raised.value.message.startswith('items[3].price: ')


@pytest.mark.parametrize('value, expected', [
    (Decimal('19.99'), '19.99'),
    (Decimal('20'), '20.00'),
    (Decimal('0.3'), '0.30'),
    (Decimal('0.10') * 3, '0.30'),
    (Decimal('99999999.99') * 1000 * 100, '9999999999000.00'),
    (7, '7.00'),
    ('12.5', '12.50'),
])
def test_format_money_prints_exactly_two_places(value, expected):
    assert format_money(value) == expected
