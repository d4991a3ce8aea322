"""`ecommerce orders ...`: orders and their status through OrderService."""
from typing import Annotated

import typer

from ecommerce.cli import output
from ecommerce.cli.options import All, JsonFlag, Limit, choice, enum_value, json_wanted, show_listing
from ecommerce.orders.v1 import orders_pb2

app = typer.Typer(help='Orders: list, show, advance their status, cancel.', no_args_is_help=True)

Status = orders_pb2.Order.Status
StatusName = choice('StatusName', Status)
OrderId = Annotated[int, typer.Argument(metavar='ID', help='The order id.', show_default=False)]


def _show(ctx, order, json_output):
    output.print_message(order, output.order_detail, json_wanted(ctx, json_output))


@app.command('list')
def list_orders(ctx: typer.Context,
                status: Annotated[StatusName | None, typer.Option(case_sensitive=False, show_default=False,
                                                                  help='Only orders in this status.')] = None,
                limit: Limit = 20, everything: All = False, json_output: JsonFlag = False):
    """List orders, newest first."""
    show_listing(ctx, ctx.obj.orders.ListOrders, orders_pb2.ListOrdersRequest(status=enum_value(Status, status)),
                 'orders', output.order_table, limit, everything, json_output)


@app.command()
def get(ctx: typer.Context, order_id: OrderId, json_output: JsonFlag = False):
    """Show one order with its items."""
    _show(ctx, ctx.obj.orders.GetOrder(orders_pb2.GetOrderRequest(id=order_id)), json_output)


@app.command()
def advance(ctx: typer.Context, order_id: OrderId,
            status: Annotated[StatusName, typer.Argument(case_sensitive=False, show_default=False,
                                                         help='The next status: pending → processing → shipped '
                                                              '→ delivered, or cancelled.')],
            json_output: JsonFlag = False):
    """Move an order to its next status (cancelled gives its stock back)."""
    order = ctx.obj.orders.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(id=order_id,
                                                                              status=enum_value(Status, status)))
    _show(ctx, order, json_output)


@app.command()
def cancel(ctx: typer.Context, order_id: OrderId, json_output: JsonFlag = False):
    """Cancel a pending or processing order and give its stock back."""
    _show(ctx, ctx.obj.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order_id)), json_output)


@app.command('by-customer')
def by_customer(ctx: typer.Context, email: Annotated[str, typer.Argument(help="The customer's email, any case.")],
                limit: Limit = 20, everything: All = False, json_output: JsonFlag = False):
    """List one customer's orders, newest first."""
    show_listing(ctx, ctx.obj.orders.GetOrdersByCustomer, orders_pb2.GetOrdersByCustomerRequest(email=email),
                 'orders', output.order_table, limit, everything, json_output)
