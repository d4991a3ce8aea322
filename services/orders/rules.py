"""Order and cart rules: input validation, totals and the status workflow; plain Python, no gRPC, no database."""
import hashlib
import json
import re
import uuid
from dataclasses import asdict, dataclass
from decimal import Decimal

from services.errors import FailedPrecondition, InvalidArgument
from services.settings import MAX_ITEMS, MAX_QUANTITY
from services.text import storable_text

STATUSES = ('pending', 'processing', 'shipped', 'delivered', 'cancelled')
NEXT_STATUS = {'pending': 'processing', 'processing': 'shipped', 'shipped': 'delivered'}
CANCELLABLE = ('pending', 'processing')
FINAL_STATUSES = ('delivered', 'cancelled')
MAX_NAME_LENGTH = 200
MAX_ADDRESS_LENGTH = 1000
MAX_EMAIL_LENGTH = 254
# A practical subset of RFC 5322: local part, "@", a domain of dot-separated labels with a dot.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
# AIP-155 request ids: a UUID in its canonical 8-4-4-4-12 form, in either case.
_UUID = re.compile(r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}')


@dataclass(frozen=True)
class NewOrder:
    customer_name: str
    customer_email: str
    shipping_address: str
    items: tuple  # (product_id, quantity) pairs, each product once
    request_id: str = ''  # the client's AIP-155 request id, canonical form, or ''

    def digest(self):
        """A fingerprint of what was asked for, to tell a retry from a different order under the same request_id."""
        asked = {key: value for key, value in asdict(self).items() if key != 'request_id'}
        return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class PricedItem:
    product_id: int
    product_name: str
    price: Decimal
    quantity: int
    subtotal: Decimal


def email_address(value, field):
    """A valid email address, trimmed and in lower case, or an InvalidArgument naming `field`."""
    email = value.strip().lower()
    if not email:
        raise InvalidArgument(field, 'is required')
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
        raise InvalidArgument(field, 'is not a valid email address')
    return email


def _required_text(value, field, limit):
    text = storable_text(value, field).strip()
    if not text:
        raise InvalidArgument(field, 'is required')
    if len(text) > limit:
        raise InvalidArgument(field, f'must be at most {limit} characters, not {len(text)}')
    return text


def canonical_request_id(value):
    """The canonical form of an optional AIP-155 request id (a UUID), '' if none, else InvalidArgument."""
    if not value:
        return ''
    if not _UUID.fullmatch(value) or uuid.UUID(value).int == 0:
        raise InvalidArgument('request_id', 'must be a UUID such as 0b3f2c64-5c1e-4d6b-9a51-7f6fb2b4c0de, '
                                            'generated once per order and sent again on every retry of it')
    return value.lower()


def new_order(customer_name, customer_email, shipping_address, items, request_id=''):
    """Validate an order as the client sent it; `items` are (product_id, quantity) pairs."""
    request = canonical_request_id(request_id)
    name = _required_text(customer_name, 'customer_name', MAX_NAME_LENGTH)
    email = email_address(customer_email, 'customer_email')
    address = _required_text(shipping_address, 'shipping_address', MAX_ADDRESS_LENGTH)
    if not items:
        raise InvalidArgument('items', 'must hold at least one item')
    if len(items) > MAX_ITEMS:
        raise InvalidArgument('items', f'must hold at most {MAX_ITEMS} items, not {len(items)}')
    seen = set()
    for index, (product_id, quantity) in enumerate(items):
        if product_id <= 0:
            raise InvalidArgument(f'items[{index}].product_id', 'must be a product id')
        line_quantity(quantity, f'items[{index}].quantity')
        if product_id in seen:
            raise InvalidArgument(f'items[{index}].product_id',
                                  f'product {product_id} is listed twice; give it one item with the total quantity')
        seen.add(product_id)
    return NewOrder(name, email, address, tuple(items), request)


def line_quantity(value, field='quantity'):
    """A line's quantity: 1 to MAX_QUANTITY units, else InvalidArgument naming `field`."""
    if not 1 <= value <= MAX_QUANTITY:
        raise InvalidArgument(field, f'must be between 1 and {MAX_QUANTITY}, not {value}')
    return value


def line_count(count):
    """Refuse a cart that would hold more lines than an order may."""
    if count > MAX_ITEMS:
        raise InvalidArgument('product_id', f'a cart holds at most {MAX_ITEMS} lines; this one would hold {count}')


def shipping_details(customer_name, shipping_address):
    """(name, address) of a checkout, checked as an order's."""
    return (_required_text(customer_name, 'customer_name', MAX_NAME_LENGTH),
            _required_text(shipping_address, 'shipping_address', MAX_ADDRESS_LENGTH))


def priced_items(reserved_lines):
    """Items with their subtotals, and the order total, from the lines Products reserved."""
    items = [PricedItem(line.product_id, line.product_name, line.unit_price, line.quantity,
                        line.unit_price * line.quantity) for line in reserved_lines]
    return items, sum((item.subtotal for item in items), Decimal('0.00'))


def is_final(status):
    """Whether an order in `status` can change no more."""
    return status in FINAL_STATUSES


def check_transition(current, target):
    """Allow one step forward, or a cancellation while pending or processing; else FailedPrecondition."""
    if target == 'cancelled':
        if current not in CANCELLABLE:
            raise FailedPrecondition(f'a {current} order cannot be cancelled; only pending or processing ones can',
                                     reason='INVALID_STATUS_TRANSITION', current=current, requested=target)
        return
    if NEXT_STATUS.get(current) != target:
        allowed = NEXT_STATUS.get(current)
        hint = f'the next status is {allowed}' if allowed else f'{current} is final'
        raise FailedPrecondition(f'cannot move an order from {current} to {target}: {hint}',
                                 reason='INVALID_STATUS_TRANSITION', current=current, requested=target)
