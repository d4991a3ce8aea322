"""`ecommerce carts ...`: carts, their lines and their checkouts through CartService."""
from typing import Annotated

import typer

from ecommerce.cli import output
from ecommerce.cli.options import All, JsonFlag, Limit, choice, enum_value, json_wanted, show_listing
from ecommerce.orders.v1 import carts_pb2

app = typer.Typer(help='Carts: list, show, fill, check out (holding the stock), complete into an order, abandon.',
                  no_args_is_help=True)

State = carts_pb2.Cart.State
StateName = choice('StateName', State)
CartId = Annotated[int, typer.Argument(metavar='ID', help='The cart id.', show_default=False)]
ProductId = Annotated[int, typer.Argument(metavar='PRODUCT_ID', help='The product id.', show_default=False)]


def _show(ctx, cart, json_output):
    output.print_message(cart, output.cart_detail, json_wanted(ctx, json_output))


@app.command('list')
def list_carts(ctx: typer.Context,
               customer: Annotated[str, typer.Option(metavar='EMAIL', help="Only this customer's carts, any case.")]
               = '',
               state: Annotated[StateName | None, typer.Option(case_sensitive=False, show_default=False,
                                                               help='Only carts in this state.')] = None,
               limit: Limit = 20, everything: All = False, json_output: JsonFlag = False):
    """List carts, newest first."""
    request = carts_pb2.ListCartsRequest(customer_email=customer, state=enum_value(State, state))
    show_listing(ctx, ctx.obj.carts.ListCarts, request, 'carts', output.cart_table, limit, everything, json_output)


@app.command()
def get(ctx: typer.Context, cart_id: CartId, json_output: JsonFlag = False):
    """Show one cart with its lines: current prices and stock while it is open, the held ones from checkout on."""
    _show(ctx, ctx.obj.carts.GetCart(carts_pb2.GetCartRequest(id=cart_id)), json_output)


@app.command()
def create(ctx: typer.Context, email: Annotated[str, typer.Argument(help="The customer's email.")],
           json_output: JsonFlag = False):
    """Create an empty cart for a customer."""
    _show(ctx, ctx.obj.carts.CreateCart(carts_pb2.CreateCartRequest(customer_email=email)), json_output)


@app.command()
def add(ctx: typer.Context, cart_id: CartId, product_id: ProductId,
        quantity: Annotated[int, typer.Option(help='Units to add.')] = 1, json_output: JsonFlag = False):
    """Add a product to an open cart, or add to the quantity of its line."""
    cart = ctx.obj.carts.AddCartItem(carts_pb2.AddCartItemRequest(cart_id=cart_id, product_id=product_id,
                                                                  quantity=quantity))
    _show(ctx, cart, json_output)


@app.command('set')
def set_quantity(ctx: typer.Context, cart_id: CartId, product_id: ProductId,
                 quantity: Annotated[int, typer.Argument(help="The line's new quantity, 1 to 1,000.",
                                                         show_default=False)],
                 json_output: JsonFlag = False):
    """Set the quantity of a cart's line (remove takes the line out)."""
    cart = ctx.obj.carts.UpdateCartItem(carts_pb2.UpdateCartItemRequest(cart_id=cart_id, product_id=product_id,
                                                                        quantity=quantity))
    _show(ctx, cart, json_output)


@app.command()
def remove(ctx: typer.Context, cart_id: CartId, product_id: ProductId, json_output: JsonFlag = False):
    """Take a product's line out of an open cart, then show the cart."""
    # DeleteCartItem answers with nothing (REST's 204), so the cart shown is read right after.
    ctx.obj.carts.DeleteCartItem(carts_pb2.DeleteCartItemRequest(cart_id=cart_id, product_id=product_id))
    get(ctx, cart_id, json_output)


@app.command()
def checkout(ctx: typer.Context, cart_id: CartId,
             name: Annotated[str, typer.Option(help="The customer's name, for shipping.", show_default=False)],
             address: Annotated[str, typer.Option(help='The shipping address.', show_default=False)],
             json_output: JsonFlag = False):
    """Start a checkout: hold the stock of every line (all or none) for a while and lock the prices."""
    cart = ctx.obj.carts.CheckoutCart(carts_pb2.CheckoutCartRequest(id=cart_id, customer_name=name,
                                                                    shipping_address=address))
    _show(ctx, cart, json_output)


@app.command()
def complete(ctx: typer.Context, cart_id: CartId, json_output: JsonFlag = False):
    """Turn a checkout's held stock into an order and show the order (again: the same order)."""
    order = ctx.obj.carts.CompleteCheckout(carts_pb2.CompleteCheckoutRequest(id=cart_id))
    output.print_message(order, output.order_detail, json_wanted(ctx, json_output))


@app.command()
def abandon(ctx: typer.Context, cart_id: CartId, json_output: JsonFlag = False):
    """End a checkout and give its stock back now; the cart can change again."""
    _show(ctx, ctx.obj.carts.AbandonCheckout(carts_pb2.AbandonCheckoutRequest(id=cart_id)), json_output)
