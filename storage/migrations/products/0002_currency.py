"""Every price states its currency: products and the lines of stock reservations get a currency_code, which the rows
already there take from the shop's currency (the one the services were started with)."""
from storage.schema import add_currency_column


def up(migrator, db):
    for table in ('products', 'stock_reservation_lines'):
        add_currency_column(db, table)
