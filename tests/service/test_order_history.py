"""An order's history (ListOrderEvents) and live updates (WatchOrder, WatchOrders) through real in-process servers:
every change recorded once with the request that made it, watchers seeing exactly the changes in order, resuming
after the last event they saw, across a restart too, and a watch that ends leaving nothing behind."""
import asyncio
import queue
import threading
import time

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc

from services.orders import feed as order_feed
from services.orders.feed import OrderFeed, watch_order
from services.orders.service import create_server as create_orders_server
from services.orders.workflow import OrderDesk
from services.server import DatabaseSteps
from storage import orders as orders_storage
from tests.conftest import new_product
from tests.rpc_errors import error_details
from tests.servers import serving
from tests.service.test_orders_service import order_request, rpc_error

Status = orders_pb2.Order.Status
PENDING, PROCESSING, SHIPPED, DELIVERED, CANCELLED = (Status.PENDING, Status.PROCESSING, Status.SHIPPED,
                                                     Status.DELIVERED, Status.CANCELLED)


def place(orders_stub, products_stub, email='ada@example.com', request_id=None):
    product = new_product(products_stub, stock=100)
    metadata = [('x-request-id', request_id)] if request_id else None
    return orders_stub.CreateOrder(order_request((product.id, 1), email=email), metadata=metadata)


def advance(orders_stub, order, status, request_id=None):
    metadata = [('x-request-id', request_id)] if request_id else None
    return orders_stub.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(id=order.id, status=status),
                                         metadata=metadata)


def moves(updates):
    """(from, to, the order's status in the update) of each update."""
    return [(update.event.from_status, update.event.to_status, update.order.status) for update in updates]


class Watch:
    """A server stream read in a thread: `updates` fills as they arrive; `ended` is set when the stream ends."""

    def __init__(self, call):
        self.call = call
        self.updates = queue.Queue()
        self.error = None
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for update in self.call:
                self.updates.put(update)
        except grpc.RpcError as error:
            self.error = error
        finally:
            self.ended.set()

    def next(self, timeout=5):
        return self.updates.get(timeout=timeout)

    def all(self, timeout=5):
        assert self.ended.wait(timeout), 'the stream did not end'
        return [self.updates.get_nowait() for _ in range(self.updates.qsize())]


# --- ListOrderEvents ------------------------------------------------------------------------------

def test_every_change_is_recorded_once_with_the_request_that_made_it(orders_stub, products_stub):
    order = place(orders_stub, products_stub, request_id='create-7f3a')
    advance(orders_stub, order, PROCESSING, request_id='advance-91bc')
    orders_stub.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id), metadata=[('x-request-id', 'cancel-02de')])
    events = orders_stub.ListOrderEvents(orders_pb2.ListOrderEventsRequest(order_id=order.id))
    assert [(event.from_status, event.to_status, event.request_id) for event in events.events] == [
        (PROCESSING, CANCELLED, 'cancel-02de'), (PENDING, PROCESSING, 'advance-91bc'),
        (Status.STATUS_UNSPECIFIED, PENDING, 'create-7f3a')]
    assert events.total_size == 3
    assert [event.order_id for event in events.events] == [order.id] * 3
    ids = [event.id for event in events.events]
    assert ids == sorted(ids, reverse=True)
    cancelled_at = orders_stub.GetOrder(orders_pb2.GetOrderRequest(id=order.id)).updated_at
    assert events.events[0].time == cancelled_at


def test_a_refused_change_records_nothing(orders_stub, products_stub):
    order = place(orders_stub, products_stub)
    error = rpc_error(orders_stub.UpdateOrderStatus, orders_pb2.UpdateOrderStatusRequest(id=order.id, status=DELIVERED))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert orders_stub.ListOrderEvents(orders_pb2.ListOrderEventsRequest(order_id=order.id)).total_size == 1


def test_a_call_without_a_request_id_gets_one(orders_stub, products_stub):
    order = place(orders_stub, products_stub)
    advance(orders_stub, order, PROCESSING)
    events = orders_stub.ListOrderEvents(orders_pb2.ListOrderEventsRequest(order_id=order.id)).events
    assert all(len(event.request_id) == 32 for event in events)
    assert events[0].request_id != events[1].request_id


def test_events_come_a_page_at_a_time(orders_stub, products_stub):
    order = place(orders_stub, products_stub)
    for status in (PROCESSING, SHIPPED, DELIVERED):
        advance(orders_stub, order, status)
    first = orders_stub.ListOrderEvents(orders_pb2.ListOrderEventsRequest(order_id=order.id, page_size=3))
    second = orders_stub.ListOrderEvents(orders_pb2.ListOrderEventsRequest(
        order_id=order.id, page_size=3, page_token=first.next_page_token))
    assert [event.to_status for event in first.events] == [DELIVERED, SHIPPED, PROCESSING]
    assert [event.to_status for event in second.events] == [PENDING] and not second.next_page_token
    other = place(orders_stub, products_stub)
    error = rpc_error(orders_stub.ListOrderEvents, orders_pb2.ListOrderEventsRequest(
        order_id=other.id, page_size=3, page_token=first.next_page_token))
    assert list(error_details(error).fields) == ['page_token']  # a token belongs to its order's history


@pytest.mark.parametrize('order_id, code, field', [
    (987654, grpc.StatusCode.NOT_FOUND, None), (0, grpc.StatusCode.INVALID_ARGUMENT, 'order_id')])
def test_events_of_an_unknown_or_missing_order_are_refused(orders_stub, order_id, code, field):
    error = rpc_error(orders_stub.ListOrderEvents, orders_pb2.ListOrderEventsRequest(order_id=order_id))
    assert error.code() == code
    if field:
        assert list(error_details(error).fields) == [field]


# --- WatchOrder -----------------------------------------------------------------------------------

def test_a_watcher_sees_exactly_the_changes_another_client_makes_in_order_then_the_stream_ends(
        orders_stub, products_stub):
    order = place(orders_stub, products_stub)
    watch = Watch(orders_stub.WatchOrder(orders_pb2.WatchOrderRequest(id=order.id), timeout=30))
    first = watch.next()
    assert (first.order.id, first.order.status, first.event.to_status) == (order.id, PENDING, PENDING)
    assert list(first.order.items) == list(order.items)
    for status in (PROCESSING, SHIPPED):
        advance(orders_stub, order, status)
        update = watch.next()  # live: each before the next change is made
        assert (update.event.to_status, update.order.status) == (status, status)
    advance(orders_stub, order, DELIVERED)
    last = watch.all()
    assert moves(last) == [(SHIPPED, DELIVERED, DELIVERED)]
    assert watch.error is None  # ended by the server: the order can change no more
    history = orders_stub.ListOrderEvents(orders_pb2.ListOrderEventsRequest(order_id=order.id)).events
    assert last[0].event == history[0]


def test_a_watch_of_a_cancelled_order_sends_it_and_ends(orders_stub, products_stub):
    order = place(orders_stub, products_stub)
    orders_stub.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id))
    updates = list(orders_stub.WatchOrder(orders_pb2.WatchOrderRequest(id=order.id), timeout=10))
    assert moves(updates) == [(PENDING, CANCELLED, CANCELLED)]


def test_a_watcher_sees_only_its_order(orders_stub, products_stub):
    mine, other = place(orders_stub, products_stub), place(orders_stub, products_stub)
    watch = Watch(orders_stub.WatchOrder(orders_pb2.WatchOrderRequest(id=mine.id), timeout=30))
    watch.next()
    advance(orders_stub, other, PROCESSING)
    orders_stub.CancelOrder(orders_pb2.CancelOrderRequest(id=mine.id))
    assert [(update.order.id, update.event.to_status) for update in watch.all()] == [(mine.id, CANCELLED)]


def test_resuming_after_the_last_event_seen_misses_nothing_and_repeats_nothing(orders_stub, products_stub):
    order = place(orders_stub, products_stub)
    call = orders_stub.WatchOrder(orders_pb2.WatchOrderRequest(id=order.id), timeout=30)
    last_seen = next(call).event.id
    call.cancel()  # the connection broke
    advance(orders_stub, order, PROCESSING)
    advance(orders_stub, order, SHIPPED)
    watch = Watch(orders_stub.WatchOrder(orders_pb2.WatchOrderRequest(id=order.id, after_event_id=last_seen),
                                         timeout=30))
    assert moves([watch.next(), watch.next()]) == [(PENDING, PROCESSING, PROCESSING), (PROCESSING, SHIPPED, SHIPPED)]
    advance(orders_stub, order, DELIVERED)
    assert moves(watch.all()) == [(SHIPPED, DELIVERED, DELIVERED)]


def test_a_resumed_watch_replays_each_change_with_the_order_as_it_was_right_after_it(orders_stub, products_stub):
    email = 'replay@example.com'
    order = place(orders_stub, products_stub, email=email)
    placed = orders_stub.ListOrderEvents(orders_pb2.ListOrderEventsRequest(order_id=order.id)).events[0].id
    after_each = [advance(orders_stub, order, PROCESSING), advance(orders_stub, order, SHIPPED)]
    assert after_each[0].updated_at != after_each[1].updated_at
    one = Watch(orders_stub.WatchOrder(orders_pb2.WatchOrderRequest(id=order.id, after_event_id=placed), timeout=30))
    every = Watch(orders_stub.WatchOrders(orders_pb2.WatchOrdersRequest(customer_email=email, after_event_id=placed),
                                          timeout=30))
    for watch in (one, every):
        replayed = [watch.next(), watch.next()]
        assert [update.event.to_status for update in replayed] == [PROCESSING, SHIPPED]
        # Each as UpdateOrderStatus answered right after that change: its status and time, items and totals.
        assert [update.order for update in replayed] == after_each
        assert [update.order.updated_at for update in replayed] == [update.event.time for update in replayed]
        watch.call.cancel()


@pytest.mark.parametrize('request_fields, code, field', [
    ({'id': 424242}, grpc.StatusCode.NOT_FOUND, None),
    ({'id': 0}, grpc.StatusCode.INVALID_ARGUMENT, 'id'),
    ({'id': 1, 'after_event_id': -1}, grpc.StatusCode.INVALID_ARGUMENT, 'after_event_id'),
])
def test_a_watch_of_an_unknown_order_or_with_bad_fields_is_refused(orders_stub, products_stub, request_fields, code,
                                                                     field):
    place(orders_stub, products_stub)
    error = rpc_error(lambda request: list(orders_stub.WatchOrder(request, timeout=10)),
                      orders_pb2.WatchOrderRequest(**request_fields))
    assert error.code() == code
    if field:
        assert list(error_details(error).fields) == [field]


def test_a_watch_resumes_across_a_restart_of_orders(database_url, products_address, products_stub):
    def orders_server():
        return serving(create_orders_server('127.0.0.1:0', database_url('orders'), products_address))

    with orders_server() as (_server, port, _health, _background), \
            grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        order = place(stub, products_stub)
        last_seen = next(stub.WatchOrder(orders_pb2.WatchOrderRequest(id=order.id), timeout=10)).event.id
        advance(stub, order, PROCESSING)  # made while the watcher was away
    orders_storage.database.close_all()
    with orders_server() as (_server, port, _health, _background), \
            grpc.insecure_channel(f'127.0.0.1:{port}') as channel:
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        watch = Watch(stub.WatchOrder(orders_pb2.WatchOrderRequest(id=order.id, after_event_id=last_seen), timeout=30))
        assert moves([watch.next()]) == [(PENDING, PROCESSING, PROCESSING)]
        orders_stub_cancel = stub.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id))
        assert orders_stub_cancel.status == CANCELLED
        assert moves(watch.all()) == [(PROCESSING, CANCELLED, CANCELLED)]
    orders_storage.database.close_all()


def test_a_hundred_watchers_each_see_every_change(orders_stub, products_stub, figures):
    order = place(orders_stub, products_stub)
    watches = [Watch(orders_stub.WatchOrder(orders_pb2.WatchOrderRequest(id=order.id), timeout=30))
               for _ in range(100)]
    firsts = [watch.next(timeout=20) for watch in watches]  # every stream is open
    for status in (PROCESSING, SHIPPED, DELIVERED):
        advance(orders_stub, order, status)
    seen = [moves(firsts[index:index + 1] + watch.all(timeout=20)) for index, watch in enumerate(watches)]
    assert seen == [[(Status.STATUS_UNSPECIFIED, PENDING, PENDING), (PENDING, PROCESSING, PROCESSING),
                     (PROCESSING, SHIPPED, SHIPPED), (SHIPPED, DELIVERED, DELIVERED)]] * 100
    figures(watchers=100, changes=3, updates_received=sum(len(moves_of) for moves_of in seen),
            invariant='every watcher saw every change, in order, and its stream ended')


# --- WatchOrders ----------------------------------------------------------------------------------

def test_watch_orders_sends_the_changes_matching_its_filters(orders_stub, products_stub):
    everything = Watch(orders_stub.WatchOrders(orders_pb2.WatchOrdersRequest(), timeout=30))
    adas = Watch(orders_stub.WatchOrders(orders_pb2.WatchOrdersRequest(customer_email='ADA@example.com'),
                                         timeout=30))
    shipped = Watch(orders_stub.WatchOrders(orders_pb2.WatchOrdersRequest(status=SHIPPED), timeout=30))
    time.sleep(0.3)  # the three streams are open
    ada = place(orders_stub, products_stub, email='ada@example.com')
    bob = place(orders_stub, products_stub, email='bob@example.com')
    advance(orders_stub, bob, PROCESSING)
    advance(orders_stub, bob, SHIPPED)
    advance(orders_stub, ada, PROCESSING)
    assert [(update.order.id, update.event.to_status) for update in (everything.next() for _ in range(5))] == [
        (ada.id, PENDING), (bob.id, PENDING), (bob.id, PROCESSING), (bob.id, SHIPPED), (ada.id, PROCESSING)]
    assert [(u.order.id, u.event.to_status) for u in (adas.next(), adas.next())] == [
        (ada.id, PENDING), (ada.id, PROCESSING)]
    only = shipped.next()
    assert (only.order.id, only.event.to_status) == (bob.id, SHIPPED)
    assert shipped.updates.empty() and adas.updates.empty()
    for watch in (everything, adas, shipped):
        watch.call.cancel()


def test_a_listing_says_from_which_change_to_watch_so_that_nothing_is_missed(orders_stub, products_stub):
    first = place(orders_stub, products_stub)
    advance(orders_stub, first, PROCESSING)
    listing = orders_stub.ListOrders(orders_pb2.ListOrdersRequest())
    history = orders_stub.ListOrderEvents(orders_pb2.ListOrderEventsRequest(order_id=first.id)).events
    assert listing.latest_event_id == history[0].id  # the latest change of any order
    by_customer = orders_stub.GetOrdersByCustomer(orders_pb2.GetOrdersByCustomerRequest(email='ada@example.com'))
    assert by_customer.latest_event_id == listing.latest_event_id
    second = place(orders_stub, products_stub)  # made after the page was read, before the watch began
    watch = Watch(orders_stub.WatchOrders(orders_pb2.WatchOrdersRequest(after_event_id=listing.latest_event_id),
                                          timeout=30))
    advance(orders_stub, first, SHIPPED)
    updates = [watch.next(), watch.next()]
    assert [(update.order.id, update.event.to_status) for update in updates] == [
        (second.id, PENDING), (first.id, SHIPPED)]
    watch.call.cancel()


def test_watch_orders_resumes_after_an_event_id(orders_stub, products_stub):
    order = place(orders_stub, products_stub)
    placed_event = orders_stub.ListOrderEvents(orders_pb2.ListOrderEventsRequest(order_id=order.id)).events[0].id
    advance(orders_stub, order, PROCESSING)
    watch = Watch(orders_stub.WatchOrders(orders_pb2.WatchOrdersRequest(after_event_id=placed_event), timeout=30))
    update = watch.next()
    assert (update.order.id, update.event.from_status, update.event.to_status) == (order.id, PENDING, PROCESSING)
    watch.call.cancel()


# --- the feed, below gRPC -------------------------------------------------------------------------

def test_a_watch_that_ends_leaves_no_watcher_and_stops_the_polling(orders_stub, products_stub, orders_address,
                                                                     orders_db, loop):
    order = place(orders_stub, products_stub)

    async def watch_then_go_away():
        steps = DatabaseSteps(orders_storage.database)
        desk = OrderDesk(stock=None, steps=steps)
        changes = OrderFeed(steps, desk.records, poll_seconds=0.05)
        reader = asyncio.ensure_future(_read_all(watch_order(changes, steps, desk.get, order.id)))
        while changes.watchers == 0:
            await asyncio.sleep(0.01)
        watching, polling = changes.watchers, changes.polling
        reader.cancel()  # as the server does when the client goes away
        await asyncio.gather(reader, return_exceptions=True)
        await asyncio.sleep(0.2)
        return watching, polling, changes.watchers, changes.polling

    assert loop.run(watch_then_go_away()) == (1, True, 0, False)


async def _read_all(changes):
    async for _change in changes:
        pass


def test_a_watcher_that_falls_too_far_behind_is_told_to_resume(monkeypatch, loop):
    monkeypatch.setattr(order_feed, 'WATCH_BACKLOG_LIMIT', 2)

    async def overflow():
        watcher = order_feed.Watcher()
        accepted = [watcher.offer(order_feed.Change(orders_storage.OrderEvent(id=n, order_id=1), None))
                    for n in (5, 6, 7)]
        received = [(await watcher.next(4)).event.id, (await watcher.next(5)).event.id]
        try:
            await watcher.next(6)
        except order_feed.Unavailable as error:
            return accepted, received, error.reason, error.metadata
        return accepted, received, None, None

    accepted, received, reason, metadata = loop.run(overflow())
    assert accepted == [True, True, False]
    assert received == [5, 6]
    assert (reason, metadata) == ('WATCH_FELL_BEHIND', {'after_event_id': '6'})
