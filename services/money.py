"""Money as exact decimals in the shop's currency: parsing the API's decimal strings and printing them back, and
checking currency codes."""
import re
from decimal import Decimal

import iso4217

from services.errors import InvalidArgument

CENT = Decimal('0.01')
# At most 10 digits, 2 of them after the point: the largest price is 99999999.99.
_PRICE = re.compile(r'[0-9]{1,8}(\.[0-9]{1,2})?')


def parse_price(text, field, allow_zero=False):
    """Read a positive price such as "19.99" (or zero, for a bound); else an InvalidArgument naming `field`."""
    if text.startswith('-') and _PRICE.fullmatch(text[1:]):
        raise InvalidArgument(field, 'must be greater than zero')
    if not _PRICE.fullmatch(text):
        raise InvalidArgument(field, f'{text[:40]!r} is not a price: use a decimal string with at most '
                                     '8 digits before the point and 2 after, such as "19.99"')
    value = Decimal(text)
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidArgument(field, 'must be greater than zero')
    return value.quantize(CENT)


def format_money(value):
    """The API's form of an amount: a plain decimal string with two places."""
    return str(Decimal(value).quantize(CENT))


# Amounts are stored and printed with 2 places (the columns' decimal_places), which suits the currencies whose minor
# unit is a hundredth: most of them. A shop in one with 0 or 3 places (JPY, KWD) would need other columns.
MINOR_UNIT_PLACES = 2


def shop_currency(code):
    """The shop's currency setting checked: an ISO 4217 code of a currency with cents; ValueError otherwise."""
    try:
        currency = iso4217.Currency(code)
    except ValueError:
        raise ValueError(f'the shop currency {code!r} is not an ISO 4217 code such as USD or EUR') from None
    if currency.exponent != MINOR_UNIT_PLACES:
        raise ValueError(f'the shop currency {code} has {currency.exponent or 0} decimal places; amounts are kept '
                         f'with {MINOR_UNIT_PLACES}, so only currencies with cents are supported')
    return code


def same_currency(value, field, shop):
    """A currency code a client sent with a price: empty (the shop's) or the shop's; else InvalidArgument."""
    if value and value != shop:
        raise InvalidArgument(field, f'{value[:10]!r} is not the shop\'s currency: prices are in {shop}, '
                                     'and are not converted')
    return shop
