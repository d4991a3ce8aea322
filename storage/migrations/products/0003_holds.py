"""Holds: a reservation may be a cart's checkout (cart_id), and a stock movement names the cart whose hold moved it and
the order the hold became (order_id). Nullable columns: the rows already there are orders' reservations and their
movements, which have neither."""
import peewee
from playhouse.migrate import migrate


def up(migrator, db):
    migrate(migrator.add_column('stock_reservations', 'cart_id', peewee.BigIntegerField(null=True)),
            migrator.add_column('stock_movements', 'cart_id', peewee.BigIntegerField(null=True)),
            migrator.add_column('stock_movements', 'order_id', peewee.BigIntegerField(null=True)))
