"""Validation of product fields: plain functions, no gRPC and no database."""
from dataclasses import dataclass
from decimal import Decimal

from services.errors import InvalidArgument, InvalidArguments
from services.identifiers import positive_id
from services.money import parse_price
from services.settings import MAX_IMPORT_ROWS
from services.text import storable_text

CATEGORIES = ('electronics', 'clothing', 'books', 'home', 'sports', 'toys', 'other')
EDITABLE_FIELDS = ('name', 'description', 'price', 'stock_quantity', 'category')
REQUIRED_FIELDS = ('name', 'price', 'category')
DEFAULTS = {'description': '', 'stock_quantity': 0}
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 5000
# The most units a product's stock may hold: far above any shelf, and within the API's int32 stock_quantity and
# the 32-bit column. Every write keeps it, a release included (services.products.catalog).
MAX_STOCK = 1_000_000_000
MAX_RESERVATION_LINES = 100
MAX_RESERVATION_ID_LENGTH = 100
MAX_BATCHED_RESERVATIONS = 1000  # in one ReserveStocks call
MAX_STOCK_LEVELS = 1000  # products in one GetStockLevels call


def _name(value):
    name = storable_text(value, 'name').strip()
    if not name:
        raise InvalidArgument('name', 'is required')
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument('name', f'must be at most {MAX_NAME_LENGTH} characters, not {len(name)}')
    return name


def _description(value):
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument('description', f'must be at most {MAX_DESCRIPTION_LENGTH} characters')
    return storable_text(value, 'description')


def _stock_quantity(value):
    if not 0 <= value <= MAX_STOCK:
        raise InvalidArgument('stock_quantity', f'must be between 0 and {MAX_STOCK}, not {value}')
    return value


def _category(value):
    if value not in CATEGORIES:
        raise InvalidArgument('category', f'must be one of {", ".join(CATEGORIES)}')
    return value


_VALIDATORS = {
    'name': _name,
    'description': _description,
    'price': lambda value: parse_price(value, 'price'),
    'stock_quantity': _stock_quantity,
    'category': _category,
}


def _checked(values):
    """Each given field ({name: raw value}) checked: (the good ones cleaned, an InvalidArgument per bad one)."""
    cleaned, problems = {}, []
    for field, value in values.items():
        try:
            cleaned[field] = _VALIDATORS[field](value)
        except InvalidArgument as problem:
            problems.append(problem)
    return cleaned, problems


def validate_fields(values):
    """Check each given field ({name: raw value}) and return them cleaned; price becomes a Decimal."""
    cleaned, problems = _checked(values)
    if problems:
        raise problems[0]
    return cleaned


def _new_product(values):
    """A product to create, checked whole: (its fields cleaned, with defaults, and every problem found)."""
    missing = [InvalidArgument(field, 'is required') for field in REQUIRED_FIELDS if field not in values]
    cleaned, problems = _checked({**DEFAULTS, **values})
    return cleaned, missing + problems


def new_product_fields(values):
    """Fields of a product to create or fully replace: required ones present, defaults filled in."""
    cleaned, problems = _new_product(values)
    if problems:
        raise problems[0]
    return cleaned


def import_size(count):
    """Refuse an import as soon as it holds more than MAX_IMPORT_ROWS rows, before reading the rest."""
    if count > MAX_IMPORT_ROWS:
        raise InvalidArgument('products', f'at most {MAX_IMPORT_ROWS} products per import; split the file')


def imported_products(rows):
    """The rows of an import ({field: raw value} each), all checked as CreateProduct checks one, and cleaned.

    Raises InvalidArguments naming every bad value of every row as products[<row>].<field>, so that a client
    can fix them all at once; nothing may be imported then.
    """
    if not rows:
        raise InvalidArgument('products', 'the import holds no products')
    import_size(len(rows))
    cleaned_rows, problems = [], []
    for row, values in enumerate(rows):
        cleaned, row_problems = _new_product(values)
        cleaned_rows.append(cleaned)
        problems += [InvalidArgument(f'products[{row}].{problem.field}', problem.problem) for problem in row_problems]
    if problems:
        raise InvalidArguments(problems)
    return cleaned_rows


def changes_for_update(mask_paths, present):
    """The validated changes of an update (AIP-134), from its mask and the fields present in the request.

    No mask: the fields present. "*": every editable field (a full replacement). Otherwise the named
    paths; a named field left out of the request is cleared to its default, or is an error if required.
    """
    if not mask_paths:
        if not present:
            raise InvalidArgument('product', 'has no fields to update')
        return validate_fields(present)
    if '*' in mask_paths:
        if len(mask_paths) > 1:
            raise InvalidArgument('update_mask', '"*" cannot be combined with other paths')
        return new_product_fields(present)
    unknown = [path for path in mask_paths if path not in EDITABLE_FIELDS]
    if unknown:
        raise InvalidArgument('update_mask', f'unknown or read-only field {unknown[0]!r}; '
                                             f'editable fields are {", ".join(EDITABLE_FIELDS)}')
    changes = {}
    for field in mask_paths:
        if field in present:
            changes[field] = present[field]
        elif field in DEFAULTS:
            changes[field] = DEFAULTS[field]
        else:
            raise InvalidArgument(field, 'is required')
    return validate_fields(changes)


def search_filter(q, category, min_price, max_price, stock_below=None):
    """Validated search filters; empty strings and a stock_below of None mean "no filter"."""
    q = storable_text(q, 'q').strip()
    if len(q) > MAX_NAME_LENGTH:
        raise InvalidArgument('q', f'must be at most {MAX_NAME_LENGTH} characters')
    low = parse_price(min_price, 'min_price', allow_zero=True) if min_price else None
    high = parse_price(max_price, 'max_price', allow_zero=True) if max_price else None
    if low is not None and high is not None and low > high:
        raise InvalidArgument('min_price', f'{low} is above max_price {high}')
    if stock_below is not None and stock_below < 0:
        raise InvalidArgument('stock_below', 'must be 0 or more (products with fewer units in stock)')
    return SearchFilter(q=q, category=_category(category) if category else '', min_price=low, max_price=high,
                        stock_below=stock_below)


@dataclass(frozen=True)
class SearchFilter:
    q: str
    category: str
    min_price: Decimal | None
    max_price: Decimal | None
    stock_below: int | None = None

    def listing(self):
        """Canonical form, which ties a page token to these filters."""
        return f'search|{self.q.casefold()}|{self.category}|{self.min_price}|{self.max_price}|{self.stock_below}'



def reservation_key(value):
    """A reservation id as the caller sent it: required, storable, at most 100 characters (the column's size)."""
    if not value or len(value) > MAX_RESERVATION_ID_LENGTH:
        raise InvalidArgument('reservation_id', f'is required, at most {MAX_RESERVATION_ID_LENGTH} characters')
    return storable_text(value, 'reservation_id')


def stock_lines(reservation_id, lines):
    """Validate a reservation: an id, 1 to 100 lines, positive quantities, each product once."""
    reservation_key(reservation_id)
    if not 1 <= len(lines) <= MAX_RESERVATION_LINES:
        raise InvalidArgument('lines', f'must hold 1 to {MAX_RESERVATION_LINES} lines')
    seen = set()
    for index, (product_id, quantity) in enumerate(lines):
        if product_id <= 0:
            raise InvalidArgument(f'lines[{index}].product_id', 'must be a product id')
        if quantity <= 0:
            raise InvalidArgument(f'lines[{index}].quantity', 'must be at least 1')
        if product_id in seen:
            raise InvalidArgument(f'lines[{index}].product_id', f'product {product_id} is listed twice')
        seen.add(product_id)
    return list(lines)


def reservation_batch(size):
    """Validate the size of a ReserveStocks call: 1 to MAX_BATCHED_RESERVATIONS reservations (each is checked on its
    own by stock_lines; one named twice is taken once and repeated, as two ReserveStock calls would be)."""
    if not 1 <= size <= MAX_BATCHED_RESERVATIONS:
        raise InvalidArgument('reservations', f'must hold 1 to {MAX_BATCHED_RESERVATIONS} reservations')


def cart_id(value):
    """The cart whose checkout a reservation holds stock for: a cart id, or 0 for an order's reservation."""
    if value < 0:
        raise InvalidArgument('cart_id', "must be a cart id, or 0 for an order's reservation")
    return value


def order_id(value):
    """The order a hold becomes (ConvertHold): an order id."""
    return positive_id(value, 'order_id', 'order')


def stock_level_ids(product_ids):
    """Validate the products of a GetStockLevels call: 1 to MAX_STOCK_LEVELS ids, each positive (one may repeat)."""
    if not 1 <= len(product_ids) <= MAX_STOCK_LEVELS:
        raise InvalidArgument('product_ids', f'must hold 1 to {MAX_STOCK_LEVELS} product ids')
    for index, product_id in enumerate(product_ids):
        if product_id <= 0:
            raise InvalidArgument(f'product_ids[{index}]', 'must be a product id')
    return list(product_ids)
