"""OrderService over gRPC: protobuf in and out; the workflow does the work."""
import contextlib
import functools

from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc

from services.auth import own_orders_only
from services.errors import InvalidArgument
from services.identifiers import positive_id
from services.money import format_money
from services.orders import feed, rules
from services.pagination import next_page_token, page_request

Status = orders_pb2.Order.Status


def status_name(value, field='status'):
    """'pending' for PENDING; raise InvalidArgument for UNSPECIFIED or an unknown number."""
    try:
        name = Status.Name(value).lower()
    except ValueError:
        name = ''
    if name not in rules.STATUSES:
        raise InvalidArgument(field, f'must be one of {", ".join(rules.STATUSES)}')
    return name


def order_id(value, field='id'):
    return positive_id(value, field, 'order')


def order_message(record):
    order = record.order
    message = orders_pb2.Order(
        id=order.id, customer_name=order.customer_name, customer_email=order.customer_email,
        total_amount=format_money(order.total_amount), currency_code=order.currency_code,
        status=Status.Value(order.status.upper()), shipping_address=order.shipping_address,
        items=[orders_pb2.OrderItem(product_id=item.product_id, product_name=item.product_name,
                                    price=format_money(item.price), quantity=item.quantity,
                                    subtotal=format_money(item.subtotal), currency_code=order.currency_code)
               for item in record.items])
    message.created_at.FromDatetime(order.created_at)
    message.updated_at.FromDatetime(order.updated_at)
    return message


def event_message(event):
    message = orders_pb2.OrderEvent(
        id=event.id, order_id=event.order_id, request_id=event.request_id or '', actor=event.actor or '',
        from_status=Status.Value(event.from_status.upper()) if event.from_status else Status.STATUS_UNSPECIFIED,
        to_status=Status.Value(event.to_status.upper()) if event.to_status else Status.STATUS_UNSPECIFIED)
    if event.created_at:
        message.time.FromDatetime(event.created_at)
    return message


def update_message(change):
    return orders_pb2.OrderUpdate(order=order_message(change.record), event=event_message(change.event))


def event_after(value):
    if value < 0:
        raise InvalidArgument('after_event_id', 'must be 0 (from now) or the id of an event received')
    return value


def _headers_sender(context):
    """Sends the response headers of a watch that has started: through Envoy, a REST client gets its 200 then,
    not only with the first change, which may be hours away. An error found before (an unknown order) still has
    its own HTTP status."""
    async def send():
        await context.send_initial_metadata(())
    return send


def status_listing(status):
    """The listing ListOrders pages, of one status (a name: 'shipped') or of every one (''): what its tokens name."""
    return f'orders|{status}'


def customer_listing(email):
    """The listing GetOrdersByCustomer pages for `email` (as rules.email_address gives it)."""
    return f'customer|{email}'


def events_listing(order_id):
    """The listing ListOrderEvents pages for one order."""
    return f'events|{order_id}'


def page_fields(page, listing):
    return {
        'orders': [order_message(record) for record in page.orders],
        'next_page_token': next_page_token(page.last_id, listing),
        'total_size': page.total_size,
        'latest_event_id': page.latest_event_id,
    }


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    SERVICE_NAME = orders_pb2.DESCRIPTOR.services_by_name['OrderService'].full_name

    def __init__(self, desk, feed, steps):
        self._desk = desk
        self._feed = feed
        self._steps = steps

    # Calls that reach Products are coroutines; the others are database steps (services.server.DatabaseSteps).
    async def CreateOrder(self, request, context):
        new_order = rules.new_order(request.customer_name, request.customer_email, request.shipping_address,
                                    [(item.product_id, item.quantity) for item in request.items],
                                    request.request_id)
        placed = await self._desk.place(new_order)
        self._feed.poke()
        return order_message(placed)

    def GetOrder(self, request, context):
        return order_message(self._desk.get(order_id(request.id), own_orders_only()))

    def ListOrders(self, request, context):
        status = status_name(request.status) if request.status else ''
        listing = status_listing(status)
        page = self._desk.list(page_request(request.page_size, request.page_token, listing), status=status)
        return orders_pb2.ListOrdersResponse(**page_fields(page, listing))

    async def UpdateOrderStatus(self, request, context):
        changed = await self._desk.change_status(order_id(request.id), status_name(request.status))
        self._feed.poke()
        return order_message(changed)

    async def CancelOrder(self, request, context):
        cancelled = await self._desk.cancel(order_id(request.id), own_orders_only())
        self._feed.poke()
        return order_message(cancelled)

    def ListOrderEvents(self, request, context):
        the_order = order_id(request.order_id, 'order_id')
        listing = events_listing(the_order)
        page = self._desk.events(the_order, page_request(request.page_size, request.page_token, listing),
                                 own_orders_only())
        return orders_pb2.ListOrderEventsResponse(
            events=[event_message(event) for event in page.events], total_size=page.total_size,
            next_page_token=next_page_token(page.last_id, listing))

    async def WatchOrder(self, request, context):
        async with contextlib.aclosing(feed.watch_order(
                self._feed, self._steps, functools.partial(self._desk.get, owner=own_orders_only()),
                order_id(request.id), event_after(request.after_event_id),
                started=_headers_sender(context))) as changes:
            async for change in changes:
                yield update_message(change)

    async def WatchOrders(self, request, context):
        status = status_name(request.status) if request.status else ''
        email = rules.email_address(request.customer_email, 'customer_email') if request.customer_email else ''
        async with contextlib.aclosing(feed.watch_orders(
                self._feed, self._steps, status, email, event_after(request.after_event_id),
                started=_headers_sender(context))) as changes:
            async for change in changes:
                yield update_message(change)

    def GetOrdersByCustomer(self, request, context):
        email = rules.email_address(request.email, 'email')
        listing = customer_listing(email)
        page = self._desk.list(page_request(request.page_size, request.page_token, listing), email=email)
        return orders_pb2.GetOrdersByCustomerResponse(**page_fields(page, listing))
