"""The feed of order changes behind WatchOrder and WatchOrders.

Every change is a row of order_events, written in the transaction that made it, with an id that orders all
changes (storage.orders.OrderEvent). Any worker process may write one, so each process reads the table itself:
while anyone in it watches, one poller asks for the rows after the last id it saw every POLL_SECONDS (at once
when this process made a change) and hands each change to every watcher's queue; while no one watches, it does
nothing. A watcher starts from the database (the order as it is, or the changes after the id it resumes from)
and goes on from its queue, skipping what it already sent, so nothing is missed and nothing sent twice. A watch
costs a queue, not a thread or a query.
"""
import asyncio
import contextlib
import logging
from typing import NamedTuple

from services.errors import Unavailable
from services.orders import rules
from services.orders.workflow import latest_change, record_after
from services.settings import WATCH_BACKLOG_LIMIT
from storage.orders import Order, OrderEvent

log = logging.getLogger('services.orders')

POLL_SECONDS = 0.2
BATCH = 500  # changes read at a time


class Change(NamedTuple):
    event: OrderEvent
    # The workflow's OrderRecord, with its items: the order as it was right after `event`, whether the change is
    # replayed long after or sent as it happens; in the first update of a new WatchOrder, the order as it is.
    record: object


class OrderFeed:
    """The changes of orders, polled from the database and handed to this process's watchers.

    `steps` runs database steps (services.server.DatabaseSteps); `records(order_ids)` is a step that returns
    {order id: OrderRecord} for placed orders (OrderDesk.records).
    """

    def __init__(self, steps, records, poll_seconds=POLL_SECONDS):
        self._steps = steps
        self._records = records
        self._poll_seconds = poll_seconds
        self._watchers = set()
        self._cursor = 0  # every change up to this id has been handed out
        self._poller = None
        self._woken = None

    @property
    def watchers(self):
        return len(self._watchers)

    @property
    def polling(self):
        return self._poller is not None

    def close(self):
        """The service is stopping: end every watch, each telling its client where to resume."""
        for watcher in list(self._watchers):
            watcher.end()

    def poke(self):
        """A change was just made here: read it now rather than at the next poll."""
        if self._woken is not None:
            self._woken.set()

    def changes_after(self, after_id, order_id=None, status='', email=''):
        """A database step: up to BATCH changes with an event id above `after_id`, oldest first, each with its
        order as it was right after it; narrowed to one order, to changes into `status`, or to one customer's orders."""
        query = OrderEvent.select().where(OrderEvent.id > after_id)
        if order_id is not None:
            query = query.where(OrderEvent.order_id == order_id)
        if status:
            query = query.where(OrderEvent.to_status == status)
        if email:
            query = query.join(Order, on=(Order.id == OrderEvent.order_id)).where(Order.customer_email == email)
        events = list(query.order_by(OrderEvent.id).limit(BATCH))
        records = self._records({event.order_id for event in events})
        return [Change(event, record_after(records[event.order_id], event))
                for event in events if event.order_id in records]

    @contextlib.asynccontextmanager
    async def watching(self):
        """Yields (a Watcher, cursor): every change with an id above `cursor` reaches the watcher."""
        if self._poller is None:
            cursor = await self._steps.run(latest_change)
            if self._poller is None:  # no other watcher started the poller meanwhile
                self._cursor = cursor
                self._woken = asyncio.Event()
                self._poller = asyncio.get_running_loop().create_task(self._poll(), name='order-feed')
        watcher = Watcher()
        self._watchers.add(watcher)
        try:
            yield watcher, self._cursor
        finally:
            self._watchers.discard(watcher)

    async def _poll(self):
        while self._watchers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self._poll_seconds)
            self._woken.clear()
            try:
                changes = await self._steps.run(self.changes_after, self._cursor)
            except Exception:  # the database is away: try again at the next poll, watchers stay
                log.exception('reading order changes failed')
                continue
            for change in changes:
                for watcher in list(self._watchers):
                    if not watcher.offer(change):
                        self._watchers.discard(watcher)
            if changes:
                self._cursor = changes[-1].event.id
            if len(changes) == BATCH:
                self._woken.set()  # more are waiting
        self._poller = None


class Watcher:
    """One watch's queue of changes, bounded: a watcher that falls WATCH_BACKLOG_LIMIT changes behind is dropped; one
    ended (the service is stopping) is told so once it has read what it was sent."""

    def __init__(self):
        self._queue = asyncio.Queue(WATCH_BACKLOG_LIMIT)
        self.dropped = False
        self._ended = False

    def offer(self, change):
        try:
            self._queue.put_nowait(change)
            return True
        except asyncio.QueueFull:
            self.dropped = True
            return False

    def end(self):
        self._ended = True
        with contextlib.suppress(asyncio.QueueFull):  # a full queue wakes no one: its reader is not waiting
            self._queue.put_nowait(None)

    async def next(self, last_sent):
        """The next change after the event id `last_sent`."""
        while True:
            if self._queue.empty():
                if self.dropped:
                    raise Unavailable(f'this watch fell {WATCH_BACKLOG_LIMIT} changes behind; watch again with '
                                      f'after_event_id={last_sent}', reason='WATCH_FELL_BEHIND',
                                      after_event_id=last_sent)
                if self._ended:
                    raise Unavailable(f'the service is stopping; watch again with after_event_id={last_sent}',
                                      reason='SERVICE_STOPPING', after_event_id=last_sent)
            change = await self._queue.get()
            if change is not None and change.event.id > last_sent:
                return change


async def _nothing():
    pass


async def watch_order(feed, steps, get_record, order_id, after_event_id=0, started=_nothing):
    """The changes of one order: first the order as it is with its latest change (or, resuming, each change after
    `after_event_id`), then each change as it happens, ending after the order reaches a final status.
    `get_record(order_id)` is a step returning the OrderRecord or raising NotFound; `started()` is awaited once
    the watch is under way, before any wait for a change."""
    async with feed.watching() as (watcher, _cursor):
        if after_event_id:
            record = await steps.run(get_record, order_id)
            await started()
            final = rules.is_final(record.order.status)  # then its final change is in the backlog, or was sent
            last_sent = after_event_id
            while changes := await steps.run(feed.changes_after, last_sent, order_id=order_id):
                for change in changes:
                    yield change
                    last_sent = change.event.id
        else:
            # The change first: the order read after it is at least as new, and later changes come from the queue.
            latest = await steps.run(_latest_event_of, order_id)
            record = await steps.run(get_record, order_id)
            await started()
            yield Change(latest or OrderEvent(id=0, order_id=order_id), record)
            last_sent = latest.id if latest else 0  # an order placed before events were recorded has none
            final = rules.is_final(record.order.status)
        while not final:
            change = await watcher.next(last_sent)
            if change.event.order_id != order_id:
                continue
            yield change
            last_sent = change.event.id
            final = rules.is_final(change.event.to_status)


async def watch_orders(feed, steps, status='', email='', after_event_id=0, started=_nothing):
    """The changes of every order, or of those into `status` or of one customer, after `after_event_id` (or from
    now), as they happen, until the caller stops; `started()` as in watch_order."""
    async with feed.watching() as (watcher, cursor):
        await started()
        last_sent = after_event_id or cursor
        if after_event_id:
            while changes := await steps.run(feed.changes_after, last_sent, status=status, email=email):
                for change in changes:
                    yield change
                    last_sent = change.event.id
        while True:
            change = await watcher.next(last_sent)
            if (status and change.event.to_status != status) or (email and change.record.order.customer_email != email):
                continue
            yield change
            last_sent = change.event.id


def _latest_event_of(order_id):
    return OrderEvent.select().where(OrderEvent.order_id == order_id).order_by(OrderEvent.id.desc()).first()
