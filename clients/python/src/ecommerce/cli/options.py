"""What every command shares: the session the global options open, and the options of listings and output."""
import enum
from typing import Annotated

import typer

from ecommerce.cli import output
from ecommerce.cli.api import first_items

JsonFlag = Annotated[bool, typer.Option(
    '--json', help="Print the API's JSON (proto field names, every field) instead of a table.")]
Limit = Annotated[int, typer.Option(min=1, help='Show at most this many, reading as many pages as that takes.')]
All = Annotated[bool, typer.Option('--all', help='Show every one, however many pages that takes.')]


class Session:
    """The services as the global options name them (api.Service each), and whether to print JSON."""

    def __init__(self, connection, json_output):
        self.products = connection.products
        self.orders = connection.orders
        self.carts = connection.carts
        self.json = json_output


def json_wanted(ctx, json_output):
    """JSON if asked for before the command (`ecommerce --json ...`) or after it."""
    return json_output or ctx.obj.json


def show_listing(ctx, call, request, field, render, limit, everything, json_output):
    """Print the first `limit` items of a listing (every one with --all) as `render` draws them, or as JSON."""
    listing = first_items(call, request, field, None if everything else limit)
    output.print_message(listing, render, json_wanted(ctx, json_output))


def enum_names(proto_enum):
    """A proto enum's value names in lower case, as the CLI takes and prints them, without the unspecified zero."""
    # A protobuf enum wrapper is no dict: it has keys() but cannot be iterated.
    return [name.lower() for name in proto_enum.keys() if not name.endswith('_UNSPECIFIED')]  # noqa: SIM118


def choice(name, proto_enum):
    """A Typer choice of `proto_enum`'s values (see enum_names)."""
    return enum.Enum(name, {value: value for value in enum_names(proto_enum)}, type=str)


def enum_value(proto_enum, chosen):
    """The API's number for a choice (None for none)."""
    return proto_enum.Value(chosen.value.upper()) if chosen else None
