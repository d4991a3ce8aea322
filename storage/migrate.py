"""The operator's view of a service's schema migrations: python -m storage.migrate status|up --service
products|orders --database-url URL.

`status` lists every migration and whether the database has it (exit status 1 while any is pending or the
database is newer than this code, so that it can gate a deploy); `up` applies what is pending under the same
lock the services take at start-up, adopting a database made before migrations. Back the database up first
(docs/operations.md, Upgrades and migrations).
"""
import logging
import os
import sys

from services.money import shop_currency
from services.settings import SHOP_CURRENCY, CommandLine
from storage import orders, products, schema
from storage.database import open_database, prepare_schema

SERVICES = {'products': products, 'orders': orders}
MARKS = {'applied': 'x', 'pending': ' ', 'adoptable': '~', 'unknown': '?'}
NOTES = {'applied': 'applied', 'pending': 'pending', 'adoptable': 'made before migrations: adopted on `up`',
         'unknown': 'in the database only: newer than this code'}


def show_status(service, url):
    """Print each migration of `service` with its state in the database at `url`; return the exit status."""
    database = open_database(url)
    try:
        with database.connection_context():
            states = schema.status(database, schema.migrations_folder(service))
    finally:
        database.close_all()
    for state in states:
        when = f' {state.applied:%Y-%m-%d %H:%M:%S}' if state.applied else ''
        print(f'[{MARKS[state.state]}] {state.name}  {NOTES[state.state]}{when}')
    print(f'database version: {schema.version(states)}; code version: {schema.version(states, known=False)}')
    return int(any(state.state != 'applied' for state in states))


def main(argv=None):
    parser = CommandLine(prog='python -m storage.migrate', description=__doc__.split('\n\n')[0])
    parser.add_argument('command', choices=['status', 'up'])
    parser.add_argument('--service', choices=sorted(SERVICES), required=True)
    parser.add_argument('--database-url', required=True, help='sqlite:///path or postgresql://user@host/name')
    parser.add_argument('--currency', default=os.environ.get('SHOP_CURRENCY', SHOP_CURRENCY),
                        help="the shop's currency (ISO 4217), which amounts written before a release stated "
                             "currencies get: the one the services run with (env SHOP_CURRENCY, default %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level='INFO', format='%(message)s', stream=sys.stdout)
    try:
        if args.command == 'up':
            prepare_schema(SERVICES[args.service], args.database_url, shop_currency(args.currency))
        return show_status(args.service, args.database_url)
    except (OSError, ValueError) as error:  # no database there, or a newer one (schema.SchemaTooNew)
        print(f'error: {error}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
