"""CartService over gRPC: protobuf in and out; the cart desk does the work."""
from ecommerce.orders.v1 import carts_pb2, carts_pb2_grpc
from google.protobuf import empty_pb2

from services.auth import own_orders_only
from services.errors import InvalidArgument
from services.identifiers import positive_id
from services.money import format_money
from services.orders import rules
from services.orders.servicer import order_message
from services.pagination import next_page_token, page_request
from storage.orders import Cart

State = carts_pb2.Cart.State
Availability = carts_pb2.CartLine.Availability


def cart_id(value, field='id'):
    return positive_id(value, field, 'cart')


def product_id(value):
    return positive_id(value, 'product_id', 'product')


def state_name(value):
    """'open' for OPEN; InvalidArgument for an unknown number."""
    try:
        name = State.Name(value).lower()
    except ValueError:
        name = ''
    if name not in Cart.STATES:
        raise InvalidArgument('state', f'must be one of {", ".join(Cart.STATES)}')
    return name


def amount(value):
    """An amount as the API shows it; '' for none (a line whose product is gone)."""
    return '' if value is None else format_money(value)


def cart_message(view):
    cart, checkout = view.cart, view.checkout
    message = carts_pb2.Cart(
        id=cart.id, customer_email=cart.customer_email, state=State.Value(cart.state.upper()),
        total_amount=format_money(view.total), currency_code=view.currency_code,
        order_id=(checkout.order_id or 0) if checkout else 0,
        customer_name=checkout.customer_name if checkout else '',
        shipping_address=checkout.shipping_address if checkout else '',
        lines=[carts_pb2.CartLine(product_id=line.product_id, product_name=line.product_name, quantity=line.quantity,
                                  unit_price=amount(line.unit_price), subtotal=amount(line.subtotal),
                                  currency_code=line.currency_code,
                                  availability=Availability.Value(line.availability.upper()),
                                  available_quantity=line.available_quantity)
               for line in view.lines])
    if checkout:
        message.hold_expires_at.FromDatetime(checkout.expires_at)
    message.created_at.FromDatetime(cart.created_at)
    message.updated_at.FromDatetime(cart.updated_at)
    return message


class CartServicer(carts_pb2_grpc.CartServiceServicer):
    SERVICE_NAME = carts_pb2.DESCRIPTOR.services_by_name['CartService'].full_name

    def __init__(self, carts, feed):
        self._carts = carts
        self._feed = feed  # completing a checkout places an order, which watchers hear of

    # Calls that reach Products are coroutines; CreateCart is a database step (services.server.DatabaseSteps).
    def CreateCart(self, request, context):
        return cart_message(self._carts.create(rules.email_address(request.customer_email, 'customer_email')))

    async def GetCart(self, request, context):
        return cart_message(await self._carts.view(cart_id(request.id), own_orders_only()))

    async def ListCarts(self, request, context):
        email = rules.email_address(request.customer_email, 'customer_email') if request.customer_email else ''
        state = state_name(request.state) if request.state else ''
        listing = f'carts|{email}|{state}'
        page = await self._carts.list(page_request(request.page_size, request.page_token, listing), email, state)
        return carts_pb2.ListCartsResponse(carts=[cart_message(view) for view in page.carts],
                                           next_page_token=next_page_token(page.last_id, listing),
                                           total_size=page.total_size)

    async def AddCartItem(self, request, context):
        return cart_message(await self._carts.add_item(
            cart_id(request.cart_id, 'cart_id'), product_id(request.product_id), rules.line_quantity(request.quantity),
            own_orders_only()))

    async def UpdateCartItem(self, request, context):
        return cart_message(await self._carts.set_quantity(
            cart_id(request.cart_id, 'cart_id'), product_id(request.product_id), rules.line_quantity(request.quantity),
            own_orders_only()))

    async def DeleteCartItem(self, request, context):
        await self._carts.remove_item(cart_id(request.cart_id, 'cart_id'), product_id(request.product_id),
                                      own_orders_only())
        return empty_pb2.Empty()

    async def CheckoutCart(self, request, context):
        name, address = rules.shipping_details(request.customer_name, request.shipping_address)
        return cart_message(await self._carts.checkout(cart_id(request.id), name, address, own_orders_only()))

    async def CompleteCheckout(self, request, context):
        order = await self._carts.complete(cart_id(request.id), own_orders_only())
        self._feed.poke()
        return order_message(order)

    async def AbandonCheckout(self, request, context):
        return cart_message(await self._carts.abandon(cart_id(request.id), own_orders_only()))
