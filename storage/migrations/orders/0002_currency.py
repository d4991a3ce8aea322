"""Every amount states its currency: orders get a currency_code (their items are in their order's), which the rows
already there take from the shop's currency (the one the services were started with)."""
from storage.schema import add_currency_column


def up(migrator, db):
    add_currency_column(db, 'orders')
