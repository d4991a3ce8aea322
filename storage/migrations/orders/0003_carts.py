"""Carts, their items, and the checkouts that hold their stock, with each checkout's locked lines.

The models are frozen copies of storage/orders.py as this migration made them: later changes go in later migrations.
"""
import peewee

from storage.database import IdField, utcnow


class Cart(peewee.Model):
    id = IdField()
    customer_email = peewee.CharField(max_length=254, index=True)
    state = peewee.CharField(max_length=20, index=True)
    checkout_id = peewee.BigIntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'carts'


class CartItem(peewee.Model):
    id = IdField()
    cart = peewee.ForeignKeyField(Cart, on_delete='CASCADE')
    product_id = peewee.BigIntegerField()
    quantity = peewee.IntegerField()

    class Meta:
        table_name = 'cart_items'
        indexes = ((('cart', 'product_id'), True),)


class Checkout(peewee.Model):
    id = IdField()
    cart_id = peewee.BigIntegerField(index=True)
    reservation_id = peewee.CharField(max_length=100, unique=True)
    customer_name = peewee.CharField(max_length=200)
    shipping_address = peewee.TextField()
    stock_state = peewee.CharField(max_length=20, index=True)
    outcome = peewee.CharField(max_length=20, null=True)
    expires_at = peewee.DateTimeField(index=True)
    total_amount = peewee.DecimalField(max_digits=15, decimal_places=2, default=0)
    currency_code = peewee.CharField(max_length=3)
    order_id = peewee.BigIntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'checkouts'


class CheckoutLine(peewee.Model):
    id = IdField()
    checkout = peewee.ForeignKeyField(Checkout, on_delete='CASCADE')
    product_id = peewee.BigIntegerField()
    product_name = peewee.CharField(max_length=200)
    price = peewee.DecimalField(max_digits=15, decimal_places=2)
    quantity = peewee.IntegerField()
    subtotal = peewee.DecimalField(max_digits=15, decimal_places=2)

    class Meta:
        table_name = 'checkout_lines'


MODELS = [Cart, CartItem, Checkout, CheckoutLine]


def up(migrator, db):
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=False)

