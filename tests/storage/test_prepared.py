"""A Prepared query answers exactly what the same query built by peewee answers, for whichever database the
models are bound to at the time."""
from decimal import Decimal

import pytest

from storage import products as products_storage
from storage.database import Prepared, PreparedInsert, utcnow
from storage.products import Product
from tests.conftest import bound_storage

BY_ID = Prepared(lambda product_id: Product.select().where(Product.id == product_id))
RESTOCK = Prepared(lambda quantity, product_id: Product.update(stock_quantity=Product.stock_quantity + quantity)
                   .where(Product.id == product_id))


def make(name, price='12.50', stock=3):
    return Product.create(name=name, search_name=name.casefold(), price=Decimal(price), stock_quantity=stock,
                          category='books')


def test_rows_match_what_peewee_reads(products_db):
    first, second = make('Atlas', '19.99', 4), make('Globe', '7.05', 0)
    for product in (first, second):
        [row] = BY_ID.rows(product.id)
        assert row.__data__ == Product.get_by_id(product.id).__data__
        assert isinstance(row.price, Decimal) and row.price == product.price
    assert BY_ID.rows(second.id + 100) == []


def test_values_go_where_their_placeholders_are(products_db):
    product = make('Lamp', stock=5)
    assert RESTOCK.count(7, product.id) == 1
    assert Product.get_by_id(product.id).stock_quantity == 12
    assert RESTOCK.count(7, product.id + 100) == 0


def test_a_rebound_model_reads_its_new_database(database_url):
    """Rows come from the database the models are bound to when the query runs, not the first one it ran on."""
    ids = []
    for name in ('one', 'two'):
        with bound_storage(products_storage, database_url(name)):
            ids.append(make(f'Only in {name}').id)
            assert [row.name for row in BY_ID.rows(ids[-1])] == [f'Only in {name}']
    with bound_storage(products_storage, database_url('one')):
        assert [row.name for row in BY_ID.rows(ids[0])] == ['Only in one']


def test_insert_takes_every_column_and_returns_the_new_id(products_db):
    insert = PreparedInsert(Product)
    values = dict(name='Kite', search_name='kite', description='', price=Decimal('3.50'), stock_quantity=2,
                  category='toys', created_at=utcnow(), updated_at=utcnow(), currency_code='USD')
    first, second = insert(**values), insert(**{**values, 'name': 'Kite 2'})
    assert second == first + 1
    assert Product.get_by_id(second).name == 'Kite 2' and Product.get_by_id(first).price == Decimal('3.50')
    with pytest.raises(TypeError, match='created_at'):  # a default would be frozen into the SQL
        insert(**{name: value for name, value in values.items() if name != 'created_at'})
