"""Money as exact decimals: parsing the API's decimal strings and printing them back."""
import re
from decimal import Decimal

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
