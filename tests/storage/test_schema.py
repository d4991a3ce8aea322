"""Databases made by a release before migrations are adopted (storage.schema): tables made by an earlier version
gain the columns added since, keeping their rows."""
import peewee
import pytest

from services.pagination import PageRequest
from services.products import catalog
from services.products.rules import SearchFilter
from storage import orders as orders_storage
from storage import products as products_storage
from storage.database import bind, open_database
from storage.orders import Order
from storage.products import Product


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


class EarlierProduct(peewee.Model):
    """The products table before search_name (the case-folded name that search reads) existed."""
    name = peewee.CharField(max_length=200, index=True)
    description = peewee.TextField(default='')
    price = peewee.DecimalField(max_digits=10, decimal_places=2)
    stock_quantity = peewee.IntegerField(default=0)
    category = peewee.CharField(max_length=20, index=True)
    created_at = peewee.DateTimeField(default='2026-01-01 00:00:00')
    updated_at = peewee.DateTimeField(default='2026-01-01 00:00:00')

    class Meta:
        table_name = 'products'


def test_an_earlier_products_table_gains_a_filled_search_name_and_its_products_can_be_found(database_url):
    url = database_url('products')
    earlier = open_database(url)
    names = ['Große Straßenkarte', 'Rain Jacket'] + [f'Mug {number}' for number in range(2500)]
    with earlier.bind_ctx([EarlierProduct]), earlier.connection_context():
        earlier.create_tables([EarlierProduct])
        EarlierProduct.insert_many([{'name': name, 'price': '9.99', 'category': 'home'} for name in names]).execute()
    earlier.close_all()

    database = bind(products_storage.database, url, products_storage.MODELS)
    try:
        with database.connection_context():
            assert [product.search_name for product in Product.select().order_by(Product.id)] == \
                [name.casefold() for name in names]
            with pytest.raises(peewee.IntegrityError), database.atomic():  # NOT NULL, as in a table made today
                Product.insert(name='x', search_name=None, price='1.00', category='home').execute()
            found = catalog.list_products(PageRequest(10, None), SearchFilter('STRASSE', '', None, None))
            assert [product.name for product in found.products] == ['Große Straßenkarte']
            found = catalog.list_products(PageRequest(100, None), SearchFilter('mug 249', '', None, None))
            assert sorted(product.name for product in found.products) == \
                ['Mug 249'] + [f'Mug 249{digit}' for digit in range(10)]
        bind(products_storage.database, url, products_storage.MODELS).close_all()  # a second start changes nothing
    finally:
        database.close_all()
