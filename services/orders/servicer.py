"""OrderService over gRPC: protobuf in and out; the workflow does the work."""
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc

from services.errors import InvalidArgument
from services.money import format_money
from services.orders import rules
from services.pagination import encode_page_token, page_request

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


def order_id(value):
    if value <= 0:
        raise InvalidArgument('id', 'must be a positive order id')
    return value


def order_message(record):
    order = record.order
    message = orders_pb2.Order(
        id=order.id, customer_name=order.customer_name, customer_email=order.customer_email,
        total_amount=format_money(order.total_amount), status=Status.Value(order.status.upper()),
        shipping_address=order.shipping_address,
        items=[orders_pb2.OrderItem(product_id=item.product_id, product_name=item.product_name,
                                    price=format_money(item.price), quantity=item.quantity,
                                    subtotal=format_money(item.subtotal)) for item in record.items])
    message.created_at.FromDatetime(order.created_at)
    message.updated_at.FromDatetime(order.updated_at)
    return message


def page_fields(page, listing):
    return {
        'orders': [order_message(record) for record in page.orders],
        'next_page_token': encode_page_token(page.last_id, listing) if page.last_id is not None else '',
        'total_size': page.total_size,
    }


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    SERVICE_NAME = orders_pb2.DESCRIPTOR.services_by_name['OrderService'].full_name

    def __init__(self, desk):
        self._desk = desk

    # Calls that reach Products are coroutines; the others are database steps (services.server.DatabaseSteps).
    async def CreateOrder(self, request, context):
        new_order = rules.new_order(request.customer_name, request.customer_email, request.shipping_address,
                                    [(item.product_id, item.quantity) for item in request.items],
                                    request.request_id)
        return order_message(await self._desk.place(new_order))

    def GetOrder(self, request, context):
        return order_message(self._desk.get(order_id(request.id)))

    def ListOrders(self, request, context):
        status = status_name(request.status) if request.status else ''
        listing = f'orders|{status}'
        page = self._desk.list(page_request(request.page_size, request.page_token, listing), status=status)
        return orders_pb2.ListOrdersResponse(**page_fields(page, listing))

    async def UpdateOrderStatus(self, request, context):
        return order_message(await self._desk.change_status(order_id(request.id), status_name(request.status)))

    async def CancelOrder(self, request, context):
        return order_message(await self._desk.cancel(order_id(request.id)))

    def GetOrdersByCustomer(self, request, context):
        email = rules.email_address(request.email, 'email')
        listing = f'customer|{email}'
        page = self._desk.list(page_request(request.page_size, request.page_token, listing), email=email)
        return orders_pb2.GetOrdersByCustomerResponse(**page_fields(page, listing))
