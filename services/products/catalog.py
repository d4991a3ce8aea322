"""Catalogue and stock operations on the Products database; failures are domain errors.

No write takes a product's stock past rules.MAX_STOCK, the most the API's stock_quantity carries: a product is
created, imported or updated with a stock the rules checked (0 to MAX_STOCK), a reservation only lowers it, and a
release gives its units back in a conditional UPDATE (stock <= MAX_STOCK - units) or not at all.
"""
import logging
from dataclasses import dataclass
from decimal import Decimal

import peewee

from services import metrics
from services.errors import AlreadyExists, DomainError, FailedPrecondition, InsufficientStock, ProductNotFound
from services.products.rules import MAX_STOCK
from services.request_context import current_actor, current_request_id, on_behalf
from storage import catalog_index
from storage.database import Prepared, PreparedInsert, keyset_page, utcnow
from storage.products import Product, StockMovement, StockReservation, StockReservationLine, database

log = logging.getLogger('services.products')
# The reason of a refusal that would take a product's stock past MAX_STOCK.
STOCK_LIMIT_EXCEEDED = 'STOCK_LIMIT_EXCEEDED'


@dataclass(frozen=True)
class ProductPage:
    products: list
    last_id: int | None  # key to continue after; None on the last page
    total_size: int


@dataclass(frozen=True)
class MovementPage:
    movements: list
    last_id: int | None
    total_size: int


def _with_search_name(fields):
    return {**fields, 'search_name': fields['name'].casefold()} if 'name' in fields else fields


def create_product(fields):
    return Product.create(**_with_search_name(fields))


_BY_ID = Prepared(lambda product_id: Product.select().where(Product.id == product_id))


# Rows per INSERT of an import: 8 values each stays far below SQLite's 32,766 variables per statement.
IMPORT_BATCH_ROWS = 1000


def import_products(rows):
    """Insert every row (validated fields) in one transaction, in order; return (first id, last id).

    A few multi-row INSERTs rather than one statement per row: 10,000 rows take a fraction of a second,
    while the transaction holds SQLite's write lock.
    """
    now = utcnow()
    ids = []
    with database.atomic():
        for batch in peewee.chunked(rows, IMPORT_BATCH_ROWS):
            query = Product.insert_many([{**_with_search_name(row), 'created_at': now, 'updated_at': now}
                                         for row in batch]).returning(Product.id).tuples()
            ids += [new_id for (new_id,) in query.execute()]
    return min(ids), max(ids)


def get_product(product_id):
    found = _BY_ID.rows(product_id)
    if not found:
        raise ProductNotFound(product_id)
    return found[0]


def update_product(product_id, changes):
    """Apply `changes`; a new stock_quantity is recorded as a stock movement in the same transaction."""
    with database.atomic():
        before = _locked_stock(product_id) if 'stock_quantity' in changes else None
        changed = (Product.update(**_with_search_name(changes), updated_at=utcnow())
                   .where(Product.id == product_id).execute())
        if not changed:
            raise ProductNotFound(product_id)
        if before is not None and changes['stock_quantity'] != before:
            _record_movement(product_id, changes['stock_quantity'] - before, changes['stock_quantity'],
                             StockMovement.ADJUSTED)
        return get_product(product_id)


def _locked_stock(product_id):
    """The product's stock (None for an unknown product), its row locked as _locked_stocks locks it."""
    return _locked_stocks([product_id]).get(product_id)


def _locked_stocks(product_ids):
    """{product id: stock} of those of `product_ids` that exist, their rows locked in id order until the commit on
    PostgreSQL, so that no reservation moves a stock between its reading and the write that relies on it; SQLite's
    writers take turns anyway."""
    query = (Product.select(Product.id, Product.stock_quantity).where(Product.id.in_(sorted(product_ids)))
             .order_by(Product.id))
    return dict((query.for_update() if database.for_update else query).tuples())


def stock_movements(product_id, page):
    """A page of a product's stock movements, newest first; ProductNotFound for an unknown product."""
    get_product(product_id)
    query = StockMovement.select().where(StockMovement.product_id == product_id)
    movements, last_id = keyset_page(query, StockMovement.id, page.size, page.after, descending=True)
    return MovementPage(movements, last_id, query.count())


_NEW_MOVEMENT = PreparedInsert(StockMovement)


def _record_movement(product_id, delta, stock_after, reason, reservation_id=None, cart_id=None, order_id=None):
    _NEW_MOVEMENT(product_id=product_id, delta=delta, stock_after=stock_after, reason=reason,
                  reservation_id=reservation_id, request_id=current_request_id(), actor=current_actor(),
                  created_at=utcnow(), cart_id=cart_id, order_id=order_id)


def delete_product(product_id):
    if not Product.delete().where(Product.id == product_id).execute():
        raise ProductNotFound(product_id)


def list_products(page, search=None):
    """A page of products in id order, optionally narrowed by a rules.SearchFilter."""
    if search is None:
        products, last_id = keyset_page(Product.select(), Product.id, page.size, page.after)
        return ProductPage(products, last_id, catalog_index.product_total(database))
    conditions = []
    if search.category:
        conditions.append(Product.category == search.category)
    if search.min_price is not None:
        conditions.append(Product.price >= search.min_price)
    if search.max_price is not None:
        conditions.append(Product.price <= search.max_price)
    if search.stock_below is not None:
        conditions.append(Product.stock_quantity < search.stock_below)
    query, key, total = catalog_index.search(Product, search.q.casefold(), conditions)
    # When nothing matches, a page would read every candidate to find none.
    products, last_id = keyset_page(query, key, page.size, page.after) if total else ([], None)
    return ProductPage(products, last_id, total)


_NEW_RESERVATION = PreparedInsert(StockReservation)
_NEW_RESERVATION_LINE = PreparedInsert(StockReservationLine)
# Takes the units if there are enough, and says what they were sold as and what is left, in one statement.
_TAKE = Prepared(lambda quantity, product_id: Product
                 .update(stock_quantity=Product.stock_quantity - quantity)
                 .where((Product.id == product_id) & (Product.stock_quantity >= quantity))
                 .returning(Product.name, Product.price, Product.currency_code, Product.stock_quantity))
# The reason of a refusal to reserve a product priced in another currency than the caller sells in.
CURRENCY_MISMATCH = 'CURRENCY_MISMATCH'


def _sold_in(product_id, name, currency, wanted):
    """Refuse a product priced in another `currency` than the `wanted` one (empty: any), which is undone with the
    rest of its reservation: the shop's currency changed since its price was set, and it needs a new price."""
    if wanted and currency != wanted:
        raise FailedPrecondition(f'product {product_id} ({name}) is priced in {currency}, not in the shop\'s '
                                 f'{wanted}: give it a price in {wanted}', reason=CURRENCY_MISMATCH,
                                 product_id=product_id, currency_code=currency, shop_currency=wanted)


@dataclass(frozen=True)
class Reservation:
    """One reservation of a batch (reserve_stocks), validated, with the request id and actor it is made for."""
    reservation_id: str
    lines: list  # of (product_id, quantity)
    request_id: str = ''
    actor: str = ''
    currency_code: str = ''  # what the caller sells in; empty: any
    cart_id: int = 0  # the cart whose checkout holds the stock; 0 for an order's reservation


def reserve_stock(reservation_id, lines, currency='', cart_id=0):
    """Take stock for every (product_id, quantity) line, all or none, of products priced in `currency` (empty: any);
    return the reservation's lines. With a `cart_id`, the reservation is that cart's hold (convert_hold makes it its
    order's).

    Each line is one conditional UPDATE (stock >= quantity), in product id order so that concurrent
    reservations on PostgreSQL lock rows in the same order. Repeating an id returns its first result.
    """
    try:
        rows, taken = _reserve(reservation_id, lines, currency, cart_id)
    except InsufficientStock:
        metrics.stock().reservations_refused.inc()
        raise
    if taken:
        metrics.stock().units_reserved.inc(sum(quantity for _, quantity in lines))
    return rows


def reserve_stocks(reservations):
    """Reserve each of `reservations` (Reservation) as reserve_stock would, each all or none on its own, in one
    transaction: one commit for all. Returns one outcome per reservation, in order: its lines, or the DomainError
    that refused it."""
    outcomes, units_taken = [], 0
    with database.atomic():
        _lock_rows_in_order({product_id for reservation in reservations for product_id, _ in reservation.lines})
        for reservation in reservations:
            with on_behalf(reservation.request_id, reservation.actor):
                try:
                    rows, taken = _reserve(reservation.reservation_id, reservation.lines, reservation.currency_code,
                                           reservation.cart_id)
                except DomainError as refusal:
                    outcomes.append(refusal)
                    continue
            outcomes.append(rows)
            units_taken += sum(quantity for _, quantity in reservation.lines) if taken else 0
    metrics.stock().reservations_refused.inc(sum(isinstance(outcome, InsufficientStock) for outcome in outcomes))
    metrics.stock().units_reserved.inc(units_taken)
    return outcomes


def _lock_rows_in_order(product_ids):
    """On PostgreSQL, lock the rows of every product a batch takes from, in id order, before any is taken: each
    reservation takes its own in id order, but one after the other they would not be, and two batches could then
    wait for each other. SQLite's writers take turns anyway."""
    if product_ids and not catalog_index.is_sqlite(database):
        list(Product.select(Product.id).where(Product.id.in_(sorted(product_ids))).order_by(Product.id).for_update())


def _reserve(reservation_id, lines, currency, cart_id):
    """(the reservation's lines, whether this call took the stock): in a transaction of its own, or a savepoint of
    the caller's, so that a refusal undoes this reservation only."""
    cart_id = cart_id or None
    try:
        with database.atomic():
            now = utcnow()
            reservation = _NEW_RESERVATION(
                reservation_id=reservation_id, state=StockReservation.HELD if cart_id else StockReservation.RESERVED,
                cart_id=cart_id, created_at=now, updated_at=now)
            sold_as = {product_id: _take(product_id, quantity, reservation_id, currency, cart_id)
                       for product_id, quantity in sorted(lines)}
            rows = [StockReservationLine(reservation=reservation, position=position, product_id=product_id,
                                         quantity=quantity, product_name=sold_as[product_id][0],
                                         unit_price=sold_as[product_id][1], currency_code=sold_as[product_id][2])
                    for position, (product_id, quantity) in enumerate(lines)]
            for row in rows:
                row.id = _NEW_RESERVATION_LINE(**row.__data__)
    except peewee.IntegrityError:
        # The id was used before (or by a concurrent call that committed first).
        return _replay_reservation(reservation_id, lines), False
    return rows, True


def _take(product_id, quantity, reservation_id, currency, cart_id):
    """Take `quantity` units of a product priced in `currency` (empty: any) and record it, as held for `cart_id` if
    one is given; return the product's (name, price, currency)."""
    taken = _TAKE.returned(quantity, product_id)
    if not taken:
        product = get_product(product_id)  # or ProductNotFound
        _sold_in(product_id, product.name, product.currency_code, currency)
        raise InsufficientStock(product_id, quantity, product.stock_quantity, product.name)
    name, price, sold_in, stock_after = taken[0]
    _sold_in(product_id, name, sold_in, currency)
    _record_movement(product_id, -quantity, stock_after, StockMovement.HELD if cart_id else StockMovement.RESERVED,
                     reservation_id, cart_id)
    return name, Product.price.python_value(price), sold_in


def _replay_reservation(reservation_id, lines):
    reservation = StockReservation.get(StockReservation.reservation_id == reservation_id)
    if reservation.state == StockReservation.RELEASED:
        raise FailedPrecondition(f'reservation {reservation_id} was released', reason='RESERVATION_RELEASED',
                                 reservation_id=reservation_id)
    stored = list(reservation.lines.order_by(StockReservationLine.position))
    if [(line.product_id, line.quantity) for line in stored] != list(lines):
        raise AlreadyExists(f'reservation {reservation_id} exists with other lines', reason='RESERVATION_MISMATCH',
                            reservation_id=reservation_id)
    return stored


# Gives units back if the stock stays within MAX_STOCK (`room` is MAX_STOCK - quantity: no sum in SQL, which would
# overflow PostgreSQL's 32-bit integer before the comparison could refuse it).
_GIVE_BACK = Prepared(lambda quantity, product_id, room: Product
                      .update(stock_quantity=Product.stock_quantity + quantity)
                      .where((Product.id == product_id) & (Product.stock_quantity <= room))
                      .returning(Product.stock_quantity))


def release_stock(reservation_id, expired=False):
    """Give back a reservation's stock exactly once, a hold's included; True if this call gave it back. `expired`: a
    hold given back at its expiry (movements EXPIRED), which gives back only a hold still held: one that became its
    order's reservation meanwhile (convert_hold) keeps its units.

    An unknown id is recorded as released, so that a reservation arriving after its release (a
    retried or delayed call) takes nothing.

    A release that would take a product's stock past MAX_STOCK (an admin set it within the reservation's units of
    the limit meanwhile) gives nothing back: FailedPrecondition, logged, and the units stay reserved, on the books,
    so that the same release goes through once someone lowers the stock. Giving back part would lose units from
    the books; giving all would store a stock no read can carry.
    """
    live = [StockReservation.HELD] if expired else [StockReservation.RESERVED, StockReservation.HELD]
    for _attempt in range(2):  # a concurrent first reservation of the id can win the insert once
        try:
            with database.atomic():
                flipped = (StockReservation
                           .update(state=StockReservation.RELEASED, updated_at=utcnow())
                           .where((StockReservation.reservation_id == reservation_id)
                                  & StockReservation.state.in_(live)).execute())
                if flipped:
                    units = _give_back(reservation_id, StockMovement.EXPIRED if expired else StockMovement.RELEASED)
                elif not StockReservation.select().where(
                        StockReservation.reservation_id == reservation_id).exists():
                    StockReservation.create(reservation_id=reservation_id, state=StockReservation.RELEASED)
        except peewee.IntegrityError:
            continue
        if flipped:
            metrics.stock().units_released.inc(units)
        return bool(flipped)
    return False


def _lines_of(reservation_id):
    """A reservation's lines in product id order, each with its reservation's cart_id (line.reservation.cart_id)."""
    return (StockReservationLine.select(StockReservationLine, StockReservation.cart_id).join(StockReservation)
            .where(StockReservation.reservation_id == reservation_id)
            .order_by(StockReservationLine.product_id))


def _give_back(reservation_id, reason):
    """Put a reservation's units back in stock and record it as `reason`; return how many went back."""
    units = 0
    for line in _lines_of(reservation_id):
        given_back = _GIVE_BACK.returned(line.quantity, line.product_id, MAX_STOCK - line.quantity)
        if given_back:
            _record_movement(line.product_id, line.quantity, given_back[0][0], reason, reservation_id,
                             line.reservation.cart_id)
            units += line.quantity
        elif (stock := _locked_stock(line.product_id)) is not None:  # else deleted: nowhere to go back to
            raise _no_room(reservation_id, line, stock)
    return units


def _no_room(reservation_id, line, stock):
    """The refusal of a release whose units would take a product's stock past MAX_STOCK, logged: someone has to
    lower that stock before the release can go through."""
    fields = {'reservation_id': reservation_id, 'product_id': line.product_id, 'stock': stock,
              'units': line.quantity, 'max_stock': MAX_STOCK}
    log.warning('release refused: the stock would pass the limit', extra={'fields': fields})
    return FailedPrecondition(f'giving back {line.quantity} units of product {line.product_id} would take its '
                              f'stock of {stock} past the limit of {MAX_STOCK}; lower the stock, then release again',
                              reason=STOCK_LIMIT_EXCEEDED, **fields)


def convert_hold(reservation_id, order_id):
    """Make a hold the reservation of the order `order_id`, exactly once: its units stay taken, and each line is
    recorded as an ORDERED movement (delta 0) naming the order. True if this call converted it; a hold converted
    before, released or never taken changes nothing."""
    with database.atomic():
        converted = (StockReservation
                     .update(state=StockReservation.RESERVED, updated_at=utcnow())
                     .where((StockReservation.reservation_id == reservation_id)
                            & (StockReservation.state == StockReservation.HELD)).execute())
        if converted:
            lines = list(_lines_of(reservation_id))
            stock = _locked_stocks({line.product_id for line in lines})
            for line in lines:
                # A product deleted since it was held is recorded too (its history outlives it, and the order still
                # names it), with the stock of 0 it has now.
                _record_movement(line.product_id, 0, stock.get(line.product_id, 0), StockMovement.ORDERED,
                                 reservation_id, line.reservation.cart_id, order_id)
    return bool(converted)


@dataclass(frozen=True)
class StockLevel:
    """A product as it is now; `found` False (and the rest empty) for one that does not exist."""
    found: bool
    name: str = ''
    price: Decimal | None = None
    currency_code: str = ''
    stock_quantity: int = 0


def stock_levels(product_ids):
    """The StockLevel of each of `product_ids`, in their order (an id may repeat), read in one SELECT."""
    query = (Product.select(Product.id, Product.name, Product.price, Product.currency_code, Product.stock_quantity)
             .where(Product.id.in_(sorted(set(product_ids)))))
    found = {product.id: StockLevel(True, product.name, product.price, product.currency_code,
                                    product.stock_quantity) for product in query}
    return [found.get(product_id, StockLevel(found=False)) for product_id in product_ids]
