"""Tables made by an earlier version gain the columns added since, keeping their rows."""
import peewee
import pytest

from storage import orders as orders_storage
from storage.database import bind, open_database
from storage.orders import Order


class EarlierOrder(peewee.Model):
    """The orders table as the first version made it: no request_id, no request_digest."""
    reservation_id = peewee.CharField(max_length=100, unique=True)
    customer_name = peewee.CharField(max_length=200)
    customer_email = peewee.CharField(max_length=254)
    shipping_address = peewee.TextField()
    total_amount = peewee.DecimalField(max_digits=15, decimal_places=2, default=0)
    status = peewee.CharField(max_length=20)
    stock_state = peewee.CharField(max_length=20)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = 'orders'


def test_an_earlier_orders_table_gains_the_request_id_columns(database_url):
    url = database_url('orders')
    earlier = open_database(url)
    with earlier.bind_ctx([EarlierOrder]), earlier.connection_context():
        earlier.create_tables([EarlierOrder])
        EarlierOrder.create(reservation_id='r1', customer_name='Ada', customer_email='ada@example.com',
                            shipping_address='x', status='pending', stock_state='reserved',
                            created_at='2026-01-01 00:00:00', updated_at='2026-01-01 00:00:00')
    earlier.close_all()

    database = bind(orders_storage.database, url, orders_storage.MODELS)
    try:
        with database.connection_context():
            assert {'request_id', 'request_digest'} <= {column.name for column in database.get_columns('orders')}
            kept = Order.get(Order.reservation_id == 'r1')
            assert (kept.customer_name, kept.request_id) == ('Ada', None)
            Order.update(request_id='a' * 36).where(Order.id == kept.id).execute()
            with pytest.raises(peewee.IntegrityError), database.atomic():
                Order.create(reservation_id='r2', request_id='a' * 36, customer_name='Bob',
                             customer_email='bob@example.com', shipping_address='y', status='pending',
                             stock_state='reserved')
        bind(orders_storage.database, url, orders_storage.MODELS).close_all()  # a second start changes nothing
    finally:
        database.close_all()
