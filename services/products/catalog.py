"""Catalogue and stock operations on the Products database; failures are domain errors.

No write takes a product's stock past rules.MAX_STOCK, the most the API's stock_quantity carries: a product is
created, imported or updated with a stock the rules checked (0 to MAX_STOCK), a reservation only lowers it, and a
release gives its units back in a conditional UPDATE (stock <= MAX_STOCK - units) or not at all.
"""
import logging
from dataclasses import dataclass

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
    """The product's stock (None for an unknown product), its row locked until the commit on PostgreSQL so that no
    reservation moves the stock in between; SQLite's writers take turns anyway."""
    query = Product.select(Product.stock_quantity).where(Product.id == product_id)
    row = (query.for_update() if database.for_update else query).first()
    return row and row.stock_quantity


def stock_movements(product_id, page):
    """A page of a product's stock movements, newest first; ProductNotFound for an unknown product."""
    get_product(product_id)
    query = StockMovement.select().where(StockMovement.product_id == product_id)
    movements, last_id = keyset_page(query, StockMovement.id, page.size, page.after, descending=True)
    return MovementPage(movements, last_id, query.count())


_NEW_MOVEMENT = PreparedInsert(StockMovement)


def _record_movement(product_id, delta, stock_after, reason, reservation_id=None):
    _NEW_MOVEMENT(product_id=product_id, delta=delta, stock_after=stock_after, reason=reason,
                  reservation_id=reservation_id, request_id=current_request_id(), actor=current_actor(),
                  created_at=utcnow())


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
                 .returning(Product.name, Product.price, Product.stock_quantity))


@dataclass(frozen=True)
class Reservation:
    """One reservation of a batch (reserve_stocks), validated, with the request id and actor it is made for."""
    reservation_id: str
    lines: list  # of (product_id, quantity)
    request_id: str = ''
    actor: str = ''


def reserve_stock(reservation_id, lines):
    """Take stock for every (product_id, quantity) line, all or none; return the reservation's lines.

    Each line is one conditional UPDATE (stock >= quantity), in product id order so that concurrent
    reservations on PostgreSQL lock rows in the same order. Repeating an id returns its first result.
    """
    try:
        rows, taken = _reserve(reservation_id, lines)
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
                    rows, taken = _reserve(reservation.reservation_id, reservation.lines)
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


def _reserve(reservation_id, lines):
    """(the reservation's lines, whether this call took the stock): in a transaction of its own, or a savepoint of
    the caller's, so that a refusal undoes this reservation only."""
    try:
        with database.atomic():
            now = utcnow()
            reservation = _NEW_RESERVATION(reservation_id=reservation_id, state=StockReservation.RESERVED,
                                           created_at=now, updated_at=now)
            sold_as = {product_id: _take(product_id, quantity, reservation_id)
                       for product_id, quantity in sorted(lines)}
            rows = [StockReservationLine(reservation=reservation, position=position, product_id=product_id,
                                         quantity=quantity, product_name=sold_as[product_id][0],
                                         unit_price=sold_as[product_id][1])
                    for position, (product_id, quantity) in enumerate(lines)]
            for row in rows:
                row.id = _NEW_RESERVATION_LINE(**row.__data__)
    except peewee.IntegrityError:
        # The id was used before (or by a concurrent call that committed first).
        return _replay_reservation(reservation_id, lines), False
    return rows, True


def _take(product_id, quantity, reservation_id):
    """Take `quantity` units and record it; return the product's (name, price)."""
    taken = _TAKE.returned(quantity, product_id)
    if not taken:
        product = get_product(product_id)  # or ProductNotFound
        raise InsufficientStock(product_id, quantity, product.stock_quantity, product.name)
    name, price, stock_after = taken[0]
    _record_movement(product_id, -quantity, stock_after, StockMovement.RESERVED, reservation_id)
    return name, Product.price.python_value(price)


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


def release_stock(reservation_id):
    """Give back a reservation's stock exactly once; True if this call gave it back.

    An unknown id is recorded as released, so that a reservation arriving after its release (a
    retried or delayed call) takes nothing.

    A release that would take a product's stock past MAX_STOCK (an admin set it within the reservation's units of
    the limit meanwhile) gives nothing back: FailedPrecondition, logged, and the units stay reserved, on the books,
    so that the same release goes through once someone lowers the stock. Giving back part would lose units from
    the books; giving all would store a stock no read can carry.
    """
    for _attempt in range(2):  # a concurrent first reservation of the id can win the insert once
        try:
            with database.atomic():
                flipped = (StockReservation
                           .update(state=StockReservation.RELEASED, updated_at=utcnow())
                           .where((StockReservation.reservation_id == reservation_id)
                                  & (StockReservation.state == StockReservation.RESERVED)).execute())
                if flipped:
                    units = _give_back(reservation_id)
                elif not StockReservation.select().where(
                        StockReservation.reservation_id == reservation_id).exists():
                    StockReservation.create(reservation_id=reservation_id, state=StockReservation.RELEASED)
        except peewee.IntegrityError:
            continue
        if flipped:
            metrics.stock().units_released.inc(units)
        return bool(flipped)
    return False


def _give_back(reservation_id):
    """Put a reservation's units back in stock and record it; return how many went back."""
    units = 0
    lines = (StockReservationLine.select().join(StockReservation)
             .where(StockReservation.reservation_id == reservation_id)
             .order_by(StockReservationLine.product_id))
    for line in lines:
        given_back = _GIVE_BACK.returned(line.quantity, line.product_id, MAX_STOCK - line.quantity)
        if given_back:
            _record_movement(line.product_id, line.quantity, given_back[0][0], StockMovement.RELEASED,
                             reservation_id)
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
