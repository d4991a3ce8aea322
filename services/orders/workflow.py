"""Placing, reading, advancing and cancelling orders, with the stock held at Products kept in step.

Placing follows intent → remote call → outcome: the order row is written first (invisible, stock_state
'reserving'), stock is reserved at Products under the order's reservation id, then the items and the
'reserved' state are written together. Whatever fails in between, the stock is given back, now or by
recover(), because both Products calls are idempotent by reservation id. A conditional update on the
row decides between confirming and undoing a placement, so two parties can never do both.

A retry carrying the same request_id (AIP-155) finds the row of the first try and returns its order,
or, if that try is still under way or was cut off by a crash, carries it on under the same reservation id.
"""
import asyncio
import logging
import time
import uuid
from decimal import Decimal
from typing import NamedTuple

import peewee

from services import metrics
from services.errors import FailedPrecondition, InvalidArgument, NotFound, ProductNotFound, Unavailable
from services.orders import rules
from services.pagination import ListingCounts
from services.request_context import current_actor, current_request_id
from services.settings import SHOP_CURRENCY
from storage.database import Prepared, PreparedInsert, keyset_page, lock_sequence, utcnow
from storage.orders import Order, OrderEvent, OrderItem, database

log = logging.getLogger('services.orders')

INTERRUPTED = 'placing the order was interrupted and undone; try again'
# Orders a recovery pass settles at once, each with its own call to Products: an outage can leave hundreds of
# placements to undo and cancellations to give back, which one call at a time took seconds (docs/reliability.md).
RECOVERY_CALLS_AT_ONCE = 16


class OrderRecord(NamedTuple):
    order: Order
    items: list


class OrderPage(NamedTuple):
    orders: list  # of OrderRecord
    last_id: int | None
    total_size: int
    latest_event_id: int  # the position in the feed of changes that the page is as of


class EventPage(NamedTuple):
    events: list  # of storage.orders.OrderEvent
    last_id: int | None
    total_size: int


class OrderDesk:
    """The order operations. `stock` is a StockClient (or anything with its async reserve/release); `steps` a
    services.server.DatabaseSteps, which runs each database step with a connection. No step awaits anything,
    so no transaction is ever open while a call to Products is."""

    def __init__(self, stock, steps, settle_wait=5.0, currency=SHOP_CURRENCY):
        self._stock = stock
        self._currency = currency  # the shop's, which new orders are in (Products refuses a product priced otherwise)
        self._steps = steps
        self._settle_wait = settle_wait  # how long a retry waits for an earlier try being undone
        self._counted = metrics.orders()  # made now, so that its counters are scraped as 0 before the first order
        self._totals = ListingCounts()  # the listings' total sizes, a long one's reused for a while

    async def place(self, new_order):
        """Place the order, or, for a request_id already placed, return that order (its stock taken once)."""
        return await to_the_end(self._place(new_order))

    async def _place(self, new_order):
        order = await self._intent(new_order)
        if order.stock_state != Order.RESERVING:
            return await self._steps.run(self.get, order.id)
        try:
            reserved = await self._stock.reserve(order.reservation_id, new_order.items)
        except ProductNotFound as error:
            await self._steps.run(_forget, order.id)
            index = [product_id for product_id, _ in new_order.items].index(error.product_id)
            raise InvalidArgument(f'items[{index}].product_id', f'product {error.product_id} does not exist',
                                  reason=error.reason, product_id=error.product_id) from None
        except FailedPrecondition as refusal:  # a definite refusal, such as too little stock: nothing was taken
            await self._steps.run(_forget, order.id)
            if refusal.reason == 'RESERVATION_RELEASED':  # recovery undid the try this retry carried on
                raise Unavailable(INTERRUPTED) from None
            raise
        except Exception:  # no definite answer: the stock may have been taken
            await self._abandon(order)
            raise
        try:
            placed = await self._steps.run(_confirm, order, reserved)
        except Exception:
            await self._abandon(order)
            raise
        if placed is None:
            await self._abandon(order)  # gives the stock back, unless a twin call with the same request_id placed it
            if not await self._steps.run(_is_placed, order.id):
                raise Unavailable(INTERRUPTED)
            return await self._steps.run(self.get, order.id)
        self._counted.created.inc()
        return placed

    async def _intent(self, new_order):
        """The order row this placement works on: a new one, invisible until confirmed, or, when the
        request_id was seen before, the row of that earlier call, which this one finishes or returns."""
        fields = dict(reservation_id=uuid.uuid4().hex, customer_name=new_order.customer_name,
                      customer_email=new_order.customer_email, shipping_address=new_order.shipping_address,
                      total_amount=NO_AMOUNT, status='pending', stock_state=Order.RESERVING,
                      request_id=new_order.request_id or None, request_digest=None, currency_code=self._currency)
        if not new_order.request_id:
            return await self._steps.run(_new_order, fields)
        fields['request_digest'] = new_order.digest()
        deadline = time.monotonic() + self._settle_wait
        while True:
            order = await self._steps.run(_earlier_or_new, fields)
            if order is None:  # a twin call with the same request_id got there first: read its row
                continue
            if order.request_digest != fields['request_digest']:
                raise InvalidArgument('request_id', 'was already used for a different order; '
                                                    'use a new request_id for a new order',
                                      reason='REQUEST_ID_REUSED')
            if order.stock_state != Order.ABANDONED:
                return order  # new, placed (a replay) or still being placed (reserving again is idempotent)
            if time.monotonic() > deadline:
                raise Unavailable('an earlier try of this order is still being undone; try again shortly')
            await asyncio.sleep(0.05)

    async def _abandon(self, order):
        """Undo an unfinished placement; True if done, False if the stock release has to wait for recovery.

        The row is first marked abandoned, which no confirmation can follow: from then on, the stock
        is surely not the order's and can be given back. A row that was confirmed meanwhile is left alone.
        """
        if await self._steps.run(_mark_abandoned, order.id):
            return True
        if not await self._try_release(order):
            return False
        await self._steps.run(_drop_abandoned, order.id)
        return True

    async def _try_release(self, order):
        """Give the order's reservation back; False, leaving it to recovery's next pass, when Products cannot be
        reached, or refuses for now (STOCK_LIMIT_EXCEEDED: the units would take a product past the most it can
        hold, until an admin lowers it). The order's own change stands either way."""
        try:
            await self._stock.release(order.reservation_id)
            return True
        except (Unavailable, FailedPrecondition) as error:
            log.warning('stock release deferred to recovery',
                        extra={'fields': {'order_id': order.id, 'reason': error.reason}})
            return False

    def get(self, order_id, owner=None):
        """The order with its items; NotFound for an unknown order, and for one not of `owner` (an email) if given."""
        order = self._placed_order(order_id, owner)
        return OrderRecord(order, list(order.items.order_by(OrderItem.id)))

    @staticmethod
    def _placed_order(order_id, owner=None):
        """The order row, or NotFound; an order still being placed does not exist yet, nor, to a customer
        (`owner`), another customer's order."""
        condition = (Order.id == order_id) & Order.stock_state.in_(Order.PLACED)
        if owner is not None:
            condition &= Order.customer_email == owner
        order = Order.get_or_none(condition)
        if order is None:
            raise NotFound(f'order {order_id} not found', reason='ORDER_NOT_FOUND', order_id=order_id)
        return order

    def list(self, page, status='', email=''):
        """A page of placed orders, newest first, optionally of one status or one customer, with how many the listing
        holds (a long listing's count reused for a while: services.pagination.ListingCounts)."""
        latest_event_id = latest_change()  # first: the page shows at least every change up to it
        query = Order.select().where(Order.stock_state.in_(Order.PLACED))
        if status:
            query = query.where(Order.status == status)
        if email:
            query = query.where(Order.customer_email == email)
        # The page's ids first, from the listing's index alone, then its rows by id: asked for whole rows at once,
        # PostgreSQL walks the primary key backwards instead, and the last page of the shipped orders of a million
        # skipped 800,000 rows that way (storage/migrations/orders/0004_listing_indexes.py).
        ids, last_id = keyset_page(query.select(Order.id), Order.id, page.size, page.after, descending=True)
        orders = Order.select().where(Order.id.in_([row.id for row in ids])).order_by(Order.id.desc())
        total_size = self._totals.total((status, email), query.count)
        return OrderPage(_with_items(orders), last_id, total_size, latest_event_id)

    @staticmethod
    def records(order_ids):
        """{order id: OrderRecord} of the placed orders among `order_ids`."""
        orders = Order.select().where(Order.id.in_(list(order_ids)) & Order.stock_state.in_(Order.PLACED))
        return {record.order.id: record for record in _with_items(orders)}

    def events(self, order_id, page, owner=None):
        """A page of an order's changes, newest first; NotFound for an unknown order (or not `owner`'s)."""
        self._placed_order(order_id, owner)
        query = OrderEvent.select().where(OrderEvent.order_id == order_id)
        events, last_id = keyset_page(query, OrderEvent.id, page.size, page.after, descending=True)
        # Counted every time, from the index on order_id: an order has a handful of events, and its listing kept in
        # self._totals would only push the long listings out.
        return EventPage(events, last_id, query.count())

    async def change_status(self, order_id, status):
        """Move an order to `status`; CANCELLED is a cancellation, with its stock given back."""
        if status == 'cancelled':
            return await self.cancel(order_id)
        return await self._steps.run(self._advance, order_id, status)

    def _advance(self, order_id, status):
        self._transition(order_id, status)
        return self.get(order_id)

    async def cancel(self, order_id, owner=None):
        """Cancel an order and give its stock back; NotFound for an unknown order (or not `owner`'s)."""
        return await to_the_end(self._cancel(order_id, owner))

    async def _cancel(self, order_id, owner):
        order = await self._steps.run(self._transition, order_id, 'cancelled', owner, stock_state=Order.RELEASING)
        self._counted.cancelled.inc()
        await self._release(order)
        return await self._steps.run(self.get, order_id)

    def _transition(self, order_id, target, owner=None, **changes):
        """One conditional UPDATE from the status just read, recorded as an event in the same transaction; if
        another call moved the order first, judge again. NotFound for an order not of `owner` (an email) if given."""
        while True:
            current = self._placed_order(order_id, owner)
            rules.check_transition(current.status, target)
            now = utcnow()
            with database.atomic():
                lock_sequence(database, EVENT_SEQUENCE)
                moved = (Order.update(status=target, updated_at=now, **changes)
                         .where((Order.id == order_id) & (Order.status == current.status)
                                & (Order.stock_state == Order.RESERVED)).execute())
                if moved:
                    _record_event(order_id, current.status, target, now)
                    return current

    async def _release(self, order):
        """Give a cancelled order's stock back and record it; True if done."""
        if not await self._try_release(order):
            return False
        await self._steps.run(_mark_released, order.id)
        return True

    async def recover(self, stale_after):
        """Finish what a crash or an outage left: placements older than `stale_after` (a timedelta)
        are undone, cancellations get their stock back. Returns how many orders it settled."""
        unfinished, releasing = await self._steps.run(_unfinished, utcnow() - stale_after)
        undone = await each_at_most(RECOVERY_CALLS_AT_ONCE, self._abandon, unfinished)
        released = await each_at_most(RECOVERY_CALLS_AT_ONCE, self._release, releasing)
        self._counted.recovery_actions['placement_undone'].inc(undone)
        self._counted.recovery_actions['cancellation_released'].inc(released)
        settled = undone + released
        if settled:
            log.info('recovered orders', extra={'fields': {'settled': settled}})
        return settled


async def each_at_most(at_once, settle, orders):
    """Await settle(order) for every order, at most `at_once` of them at a time; how many returned true."""
    slots = asyncio.Semaphore(at_once)

    async def one(order):
        async with slots:
            return await settle(order)
    return sum(await asyncio.gather(*(one(order) for order in orders)))


async def to_the_end(work):
    """Await the coroutine `work` to its end even if the caller is cancelled (the client went away or its
    deadline passed): a placement or a cancellation cut off halfway would hold stock until recovery."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())  # its outcome counts as seen
    return await asyncio.shield(task)


NO_AMOUNT = Decimal('0.00')  # an order's total until its stock is reserved
EVENT_SEQUENCE = 1  # storage.database.lock_sequence's key for order_events' ids
_NEW_ORDER = PreparedInsert(Order)
_NEW_ITEM = PreparedInsert(OrderItem)
_NEW_EVENT = PreparedInsert(OrderEvent)
_CONFIRM = Prepared(lambda total, now, order_id: Order
                    .update(stock_state=Order.RESERVED, total_amount=total, updated_at=now)
                    .where((Order.id == order_id) & (Order.stock_state == Order.RESERVING)))


def _new_order(fields):
    """Insert an order row of `fields` (every column but the id and the timestamps); return it.

    Stamped here, at the insert: a retry that waited for an earlier try must not write a created_at that
    recovery would already take for a stale placement."""
    now = utcnow()
    fields = {**fields, 'created_at': now, 'updated_at': now}
    with database.atomic():  # a transaction, so that on SQLite it waits its turn with the other writers
        return Order(id=_NEW_ORDER(**fields), **fields)


def latest_change():
    """The id of the latest change of any order (0 before the first)."""
    return OrderEvent.select(peewee.fn.MAX(OrderEvent.id)).scalar() or 0


def _with_items(orders):
    """OrderRecords of `orders` (a query or list), in their order, with their items read in one query."""
    orders = list(orders)
    items = {order.id: [] for order in orders}
    for item in OrderItem.select().where(OrderItem.order.in_(list(items))).order_by(OrderItem.id):
        items[item.order_id].append(item)
    return [OrderRecord(order, items[order.id]) for order in orders]


def record_after(record, event):
    """The OrderRecord `record` as it was right after `event`, one of its order's changes.

    Derived, not stored: every change of a placed order's status is an event written in the transaction that made
    it, with the order's updated_at as its time (_confirm, _transition), and nothing else a client sees of the order
    changes after placement (its items and total are fixed when its stock is reserved)."""
    order = Order(**{**record.order.__data__, 'status': event.to_status, 'updated_at': event.created_at})
    return OrderRecord(order, record.items)


def record_order(fields, items, now):
    """Insert a placed order of `fields` (every column but the id and the timestamps) with its `items`
    (rules.PricedItem) and its placement event, in the caller's transaction; return its OrderRecord."""
    lock_sequence(database, EVENT_SEQUENCE)
    fields = {**fields, 'created_at': now, 'updated_at': now}
    order = Order(id=_NEW_ORDER(**fields), **fields)
    rows = _insert_items(order.id, items)
    _record_event(order.id, '', order.status, now)
    return OrderRecord(order, rows)


def _insert_items(order_id, items):
    """Insert an order's items (rules.PricedItem); return the rows."""
    rows = [OrderItem(order=order_id, product_id=item.product_id, product_name=item.product_name, price=item.price,
                      quantity=item.quantity, subtotal=item.subtotal) for item in items]
    for row in rows:
        row.id = _NEW_ITEM(**row.__data__)
    return rows


def _record_event(order_id, from_status, to_status, now):
    _NEW_EVENT(order_id=order_id, from_status=from_status, to_status=to_status,
               request_id=current_request_id(), actor=current_actor(), created_at=now)


def _earlier_or_new(fields):
    """The row of an earlier try with fields' request_id, else a new row of `fields`; None if a twin call
    inserted its row between the two."""
    earlier = Order.get_or_none(Order.request_id == fields['request_id'])
    if earlier is not None:
        return earlier
    try:
        return _new_order(fields)
    except peewee.IntegrityError:
        return None


def _confirm(order, reserved):
    """Record the reserved items and make the order visible; return the placed order, or None if it is no
    longer being placed (undone by recovery, refused, or confirmed by a twin call)."""
    items, total = rules.priced_items(reserved)
    now = utcnow()
    with database.atomic():
        lock_sequence(database, EVENT_SEQUENCE)
        if not _CONFIRM.count(total, now, order.id):
            return None
        rows = _insert_items(order.id, items)
        _record_event(order.id, '', order.status, now)
    order.stock_state, order.total_amount, order.updated_at = Order.RESERVED, total, now
    return OrderRecord(order, rows)


def _forget(order_id):
    """Drop a placement that Products refused outright (nothing was taken)."""
    Order.delete().where((Order.id == order_id) & (Order.stock_state == Order.RESERVING)).execute()


def _mark_abandoned(order_id):
    """Mark an unfinished placement abandoned; return True if it was placed after all (then left alone)."""
    (Order.update(stock_state=Order.ABANDONED)
     .where((Order.id == order_id) & (Order.stock_state == Order.RESERVING)).execute())
    return _is_placed(order_id)


def _drop_abandoned(order_id):
    Order.delete().where((Order.id == order_id) & (Order.stock_state == Order.ABANDONED)).execute()


def _mark_released(order_id):
    (Order.update(stock_state=Order.RELEASED)
     .where((Order.id == order_id) & (Order.stock_state == Order.RELEASING)).execute())


def _unfinished(cutoff):
    """(placements to undo: older than `cutoff` or already abandoned, cancellations whose stock is not back yet).

    Read whole before any write: on SQLite a SELECT still being stepped holds a read snapshot, and writing from
    it after another connection committed fails at once ("database is locked")."""
    undo = (((Order.stock_state == Order.RESERVING) & (Order.created_at < cutoff))
            | (Order.stock_state == Order.ABANDONED))
    return list(Order.select().where(undo)), list(Order.select().where(Order.stock_state == Order.RELEASING))


def _is_placed(order_id):
    """Whether the order was confirmed (by this call or a twin with its request_id), whatever came after."""
    return Order.select().where((Order.id == order_id) & Order.stock_state.in_(Order.PLACED)).exists()
