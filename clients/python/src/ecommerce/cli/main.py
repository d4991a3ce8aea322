"""The `ecommerce` command: global options, the command groups, and one line on stderr for every failure."""
import os
import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from ecommerce import defaults
from ecommerce.cli import carts, orders, products
from ecommerce.cli.api import USAGE, CommandFailed, Connection
from ecommerce.cli.options import JsonFlag, Session


class OneLineErrors(TyperGroup):
    """Failures end the command with one line on stderr (an import's bad rows, one line each) and an exit status
    (ecommerce.cli.api), never a traceback nor Click's usage box."""

    def main(self, *args, standalone_mode=True, **kwargs):
        try:
            status = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as error:  # a bad command line: unknown option, wrong type, missing argument
            status = _fail([error.format_message()], USAGE)
        except CommandFailed as failure:
            status = _fail(failure.lines, failure.exit_status)
        except BrokenPipeError:  # `ecommerce products export | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            status = 1
        sys.exit(status if isinstance(status, int) else 0)


def _fail(lines, status):
    """Print `lines` on stderr, the last one as the error, and return `status`. (With no arguments, Typer has
    printed the help already and raises an error without a message.)"""
    lines = [line for line in lines if line]
    for line in lines[:-1]:
        print(line, file=sys.stderr)
    if lines:
        print(f'error: {lines[-1]}', file=sys.stderr)
    return status


def _print_version(asked):
    if asked:
        print(defaults.release('ecommerce-client'))
        raise typer.Exit()


app = typer.Typer(cls=OneLineErrors, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help='Run the shop from a terminal: products, stock, orders and carts, over the services\' gRPC API.')
app.add_typer(products.app, name='products')
app.add_typer(products.stock_app, name='stock')
app.add_typer(orders.app, name='orders')
app.add_typer(carts.app, name='carts')


@app.callback()
def connect(ctx: typer.Context,
            products_address: Annotated[str, typer.Option(envvar='PRODUCTS_ADDRESS', help='The Products service.')]
            = defaults.PRODUCTS_ADDRESS,
            orders_address: Annotated[str, typer.Option(envvar='ORDERS_ADDRESS', help='The Orders service.')]
            = defaults.ORDERS_ADDRESS,
            timeout: Annotated[float, typer.Option(min=0.1, help='Seconds each call may take (an import: per '
                                                                  '1,000 rows).')] = 10.0,
            token: Annotated[str, typer.Option(envvar='ECOMMERCE_TOKEN', show_default=False,
                                               help='A bearer token (JWT) for services that check them; prefer '
                                                    'the variable, which other users cannot see.')] = '',
            json_output: JsonFlag = False,
            _version: Annotated[bool, typer.Option('--version', callback=_print_version,
                                                   is_eager=True, help='Print the version and exit.')] = False):
    """Connect to the services named by the options (or the environment, or the servers' own defaults)."""
    connection = Connection(products_address, orders_address, timeout, token)
    ctx.call_on_close(connection.close)
    ctx.obj = Session(connection, json_output)
