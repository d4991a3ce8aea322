"""Tables owned by the Orders service: orders, their items, and the history of their changes; carts, and the
checkouts that hold their stock."""
from typing import ClassVar

import peewee

from storage.database import BaseModel, utcnow
from storage.schema import currency_field, migrations_folder

database = peewee.DatabaseProxy()

# Bounded by the order limits (100 items of at most 1,000 units at a price of at most 10 digits):
# 15 significant digits, which SQLite's NUMERIC storage round-trips exactly.
AMOUNT_DIGITS = 15


class OrdersModel(BaseModel):
    migrations: ClassVar = migrations_folder('orders')

    class Meta:
        database = database


class Order(OrdersModel):
    """An order; `stock_state` tracks the stock held for it at Products, apart from its status.

    stock_state is 'reserving' while stock is being taken and 'abandoned' while a placement that did not
    finish is being undone (in both the order is not visible), 'reserved' once placed, 'releasing' after
    a cancellation until the stock is back, 'released' then.
    """
    RESERVING = 'reserving'
    ABANDONED = 'abandoned'
    RESERVED = 'reserved'
    RELEASING = 'releasing'
    RELEASED = 'released'
    PLACED = (RESERVED, RELEASING, RELEASED)

    reservation_id = peewee.CharField(max_length=100, unique=True)
    # The client's AIP-155 request id, if it sent one, and a digest of what it asked for with it.
    request_id = peewee.CharField(max_length=36, null=True, unique=True)
    request_digest = peewee.CharField(max_length=64, null=True)
    customer_name = peewee.CharField(max_length=200)
    customer_email = peewee.CharField(max_length=254)
    shipping_address = peewee.TextField()
    total_amount = peewee.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2, default=0)
    status = peewee.CharField(max_length=20)
    stock_state = peewee.CharField(max_length=20, index=True)  # recovery's passes; counting every order
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    # The ISO 4217 code of every amount of the order (its items' too): the shop's when it was placed.
    currency_code = currency_field()

    class Meta:
        table_name = 'orders'
        # The listings by status and by customer (ListOrders, GetOrdersByCustomer): each index holds every column
        # their pages' ids and their counts read, which it alone then answers (migration 0004 says why this order).
        indexes = ((('status', 'id', 'stock_state'), False), (('customer_email', 'id', 'stock_state'), False))


class OrderItem(OrdersModel):
    order = peewee.ForeignKeyField(Order, backref='items', on_delete='CASCADE')
    # A snapshot, not a foreign key: products live in another service's database.
    product_id = peewee.BigIntegerField()
    product_name = peewee.CharField(max_length=200)
    price = peewee.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2)
    quantity = peewee.IntegerField()
    subtotal = peewee.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2)

    class Meta:
        table_name = 'order_items'


class OrderEvent(OrdersModel):
    """One change of an order (its placement, each status change), written in the transaction that made it.

    The id orders every change of every order: watchers read the table from the last id they saw, so ids must
    become visible in the order they were given (storage.database.lock_sequence on PostgreSQL; on SQLite
    writers take turns anyway)."""
    order_id = peewee.BigIntegerField(index=True)
    from_status = peewee.CharField(max_length=20)  # '' for the placement
    to_status = peewee.CharField(max_length=20)
    request_id = peewee.CharField(max_length=100)
    # Who made the change, or the customer it was made for: the token's subject or email ('' or NULL when tokens
    # are not checked; NULL in rows older than the column).
    actor = peewee.CharField(max_length=200, null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'order_events'


class Cart(OrdersModel):
    """A customer's cart; `checkout_id` is its latest checkout's (Checkout), whose outcome its state follows."""
    OPEN = 'open'
    CHECKING_OUT = 'checking_out'
    COMPLETED = 'completed'
    ABANDONED = 'abandoned'
    EXPIRED = 'expired'
    STATES = (OPEN, CHECKING_OUT, COMPLETED, ABANDONED, EXPIRED)
    EDITABLE = (OPEN, ABANDONED, EXPIRED)  # lines may change, and a new checkout start

    customer_email = peewee.CharField(max_length=254, index=True)
    state = peewee.CharField(max_length=20, index=True)
    checkout_id = peewee.BigIntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'carts'


class CartItem(OrdersModel):
    """A product of a cart and how many; its price is read from Products until a checkout locks it."""
    cart = peewee.ForeignKeyField(Cart, backref='items', on_delete='CASCADE')
    product_id = peewee.BigIntegerField()
    quantity = peewee.IntegerField()

    class Meta:
        table_name = 'cart_items'
        indexes = ((('cart', 'product_id'), True),)


class Checkout(OrdersModel):
    """One checkout of a cart: the stock held at Products under `reservation_id` until `expires_at`, and what became
    of it. `stock_state` follows the hold: 'holding' while it is being taken, 'held', then either 'converting' (its
    order placed, Products not yet told) and 'converted', or 'releasing' (abandoned, expired, refused, or cut off
    halfway) and 'released'. `outcome` says which: completed, abandoned, expired, interrupted."""
    HOLDING = 'holding'
    HELD = 'held'
    CONVERTING = 'converting'
    CONVERTED = 'converted'
    RELEASING = 'releasing'
    RELEASED = 'released'
    LIVE = (HOLDING, HELD)  # its units are held, and it may still end either way

    cart_id = peewee.BigIntegerField(index=True)
    reservation_id = peewee.CharField(max_length=100, unique=True)
    customer_name = peewee.CharField(max_length=200)
    shipping_address = peewee.TextField()
    stock_state = peewee.CharField(max_length=20, index=True)
    outcome = peewee.CharField(max_length=20, null=True)
    expires_at = peewee.DateTimeField(index=True)
    total_amount = peewee.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2, default=0)
    currency_code = peewee.CharField(max_length=3)
    order_id = peewee.BigIntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'checkouts'


class CheckoutLine(OrdersModel):
    """A line of a checkout with the product's name and price as its hold locked them."""
    checkout = peewee.ForeignKeyField(Checkout, backref='lines', on_delete='CASCADE')
    product_id = peewee.BigIntegerField()
    product_name = peewee.CharField(max_length=200)
    price = peewee.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2)
    quantity = peewee.IntegerField()
    subtotal = peewee.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=2)

    class Meta:
        table_name = 'checkout_lines'


MODELS = [Order, OrderItem, OrderEvent, Cart, CartItem, Checkout, CheckoutLine]
