"""Orders' schema as the last release before migrations made it: orders, their items and the history of their
changes.

The models are frozen copies of storage/orders.py as it was then: later changes go in later migrations.
There is no down(): undoing this would drop every order.
"""
import peewee

from storage.database import IdField, utcnow
from storage.schema import add_missing_columns


class Order(peewee.Model):
    id = IdField()
    reservation_id = peewee.CharField(max_length=100, unique=True)
    request_id = peewee.CharField(max_length=36, null=True, unique=True)
    request_digest = peewee.CharField(max_length=64, null=True)
    customer_name = peewee.CharField(max_length=200)
    customer_email = peewee.CharField(max_length=254, index=True)
    shipping_address = peewee.TextField()
    total_amount = peewee.DecimalField(max_digits=15, decimal_places=2, default=0)
    status = peewee.CharField(max_length=20, index=True)
    stock_state = peewee.CharField(max_length=20, index=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'orders'


class OrderItem(peewee.Model):
    id = IdField()
    order = peewee.ForeignKeyField(Order, on_delete='CASCADE')
    product_id = peewee.BigIntegerField()
    product_name = peewee.CharField(max_length=200)
    price = peewee.DecimalField(max_digits=15, decimal_places=2)
    quantity = peewee.IntegerField()
    subtotal = peewee.DecimalField(max_digits=15, decimal_places=2)

    class Meta:
        table_name = 'order_items'


class OrderEvent(peewee.Model):
    id = IdField()
    order_id = peewee.BigIntegerField(index=True)
    from_status = peewee.CharField(max_length=20)
    to_status = peewee.CharField(max_length=20)
    request_id = peewee.CharField(max_length=100)
    actor = peewee.CharField(max_length=200, null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'order_events'


MODELS = [Order, OrderItem, OrderEvent]


def up(migrator, db):
    """Make the tables."""
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=False)


def adopt(migrator, db):
    """Bring a database made before migrations to this one: an earlier release may lack columns added since
    (request_id, request_digest, actor: all nullable) or whole tables."""
    with db.bind_ctx(MODELS):
        add_missing_columns(db, MODELS, {})
        db.create_tables(MODELS)
