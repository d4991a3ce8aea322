"""Tables owned by the Products service: the catalogue and the stock reservations taken from it."""
from typing import ClassVar

import peewee

from storage.database import BaseModel, utcnow
from storage.schema import currency_field, migrations_folder

database = peewee.DatabaseProxy()

# ≤ 10 digits with 2 places: on SQLite such a NUMERIC value round-trips exactly (a double holds
# 15 significant digits); every computation on it happens in Python's Decimal.
PRICE_DIGITS = 10


class ProductsModel(BaseModel):
    # Where the tables below, the search index and the product counter (storage.catalog_index) are made.
    migrations: ClassVar = migrations_folder('products')

    class Meta:
        database = database


class Product(ProductsModel):
    name = peewee.CharField(max_length=200, index=True)
    # name.casefold(), kept by services.products.catalog: LIKE folds only ASCII on SQLite (and in
    # PostgreSQL's C locale), so search compares folded text on both.
    search_name = peewee.CharField(max_length=600)
    description = peewee.TextField(default='')
    price = peewee.DecimalField(max_digits=PRICE_DIGITS, decimal_places=2,
                                constraints=[peewee.Check('price > 0')])
    stock_quantity = peewee.IntegerField(default=0, constraints=[peewee.Check('stock_quantity >= 0')])
    category = peewee.CharField(max_length=20, index=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    # The ISO 4217 code of the price: the shop's when the price was last set.
    currency_code = currency_field()

    class Meta:
        table_name = 'products'


class StockReservation(ProductsModel):
    """Stock taken for one caller key: an order's, or a cart's checkout (a hold, with its cart_id). A hold stays held
    until it becomes its order's reservation (reserved); `state` flips to released exactly once."""
    RESERVED = 'reserved'
    HELD = 'held'
    RELEASED = 'released'

    reservation_id = peewee.CharField(max_length=100, unique=True)
    state = peewee.CharField(max_length=10, index=True)
    cart_id = peewee.BigIntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'stock_reservations'


class StockReservationLine(ProductsModel):
    """One product of a reservation with the name and price it had when the stock was taken."""
    reservation = peewee.ForeignKeyField(StockReservation, backref='lines', on_delete='CASCADE')
    position = peewee.IntegerField()
    # No foreign key: the product may be deleted while orders still refer to it.
    product_id = peewee.BigIntegerField()
    quantity = peewee.IntegerField()
    product_name = peewee.CharField(max_length=200)
    unit_price = peewee.DecimalField(max_digits=PRICE_DIGITS, decimal_places=2)
    currency_code = currency_field()

    class Meta:
        table_name = 'stock_reservation_lines'


class StockMovement(ProductsModel):
    """One change of a product's stock, written in the transaction that made it: taken for a reservation or held for
    a checkout, given back by its release or expiry, or set by an update; and a hold that became an order (ORDERED,
    delta 0). A product's movements add up to its stock now minus its stock when it was created."""
    RESERVED = 'reserved'
    RELEASED = 'released'
    ADJUSTED = 'adjusted'
    HELD = 'held'
    EXPIRED = 'expired'
    ORDERED = 'ordered'

    # No foreign key: the history outlives a deleted product.
    product_id = peewee.BigIntegerField(index=True)
    delta = peewee.IntegerField()
    stock_after = peewee.IntegerField()
    reason = peewee.CharField(max_length=10)
    reservation_id = peewee.CharField(max_length=100, null=True)
    request_id = peewee.CharField(max_length=100)
    # Who moved the stock, or the customer whose order did (Orders passes it on): as OrderEvent.actor.
    actor = peewee.CharField(max_length=200, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    # The cart whose hold moved the stock (HELD, and what became of the hold), and the order it became (ORDERED).
    cart_id = peewee.BigIntegerField(null=True)
    order_id = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = 'stock_movements'


MODELS = [Product, StockReservation, StockReservationLine, StockMovement]
