"""The substring index and the product counter stay in step with every write, answer exactly what a scan
of the names would, and are what the database really uses."""
from decimal import Decimal

import peewee
from hypothesis import given
from hypothesis import strategies as st

from services.pagination import PageRequest
from services.products import catalog
from services.products.rules import search_filter
from storage import catalog_index
from storage import products as products_storage
from storage.database import open_database, utcnow
from storage.products import Product
from tests.conftest import bound_storage

FIELDS = {'price': Decimal('1.00'), 'stock_quantity': 1, 'category': 'other'}
# Few letters, so that random names and queries overlap often; quotes, spaces and non-ASCII on purpose.
TEXT = st.text(alphabet='abcAB éÉß"\'%_ -', min_size=0, max_size=12)


def found(q, category=''):
    """Names the search finds for `q` (and `category`), in id order over pages of 2, with the total the
    pages report."""
    names, totals, after = [], set(), None
    while True:
        page = catalog.list_products(PageRequest(2, after), search_filter(q, category, '', ''))
        names += [product.name for product in page.products]
        totals.add(page.total_size)
        if page.last_id is None:
            (total,) = totals  # the same on every page
            return names, total
        after = page.last_id


@given(names=st.lists(st.tuples(TEXT.filter(str.strip), st.sampled_from(['other', 'toys'])), min_size=1, max_size=8),
       q=TEXT.filter(str.strip), category=st.sampled_from(['', 'toys']))
def test_search_finds_exactly_the_names_that_contain_the_query(products_db, names, q, category):
    Product.delete().execute()
    for name, in_category in names:
        catalog.create_product({'name': name.strip(), **FIELDS, 'category': in_category})
    expected = [name.strip() for name, in_category in names
                if q.strip().casefold() in name.strip().casefold() and category in ('', in_category)]
    assert found(q, category) == (expected, len(expected))


def test_the_index_follows_renames_and_deletions(products_db):
    lamp = catalog.create_product({'name': 'Brass lamp', **FIELDS})
    catalog.create_product({'name': 'Brass bell', **FIELDS})
    catalog.update_product(lamp.id, {'name': 'Copper lamp'})
    assert found('brass') == (['Brass bell'], 1)
    assert found('copper') == (['Copper lamp'], 1)
    catalog.delete_product(lamp.id)
    assert found('lamp') == ([], 0)


def total():
    """The total_size of the unfiltered listing (the maintained counter)."""
    return catalog.list_products(PageRequest(1, None)).total_size


def test_the_product_count_follows_single_and_bulk_writes(products_db):
    assert total() == 0
    first = catalog.create_product({'name': 'One', **FIELDS})
    with products_db.atomic():
        Product.insert_many([{'name': f'Bulk {i}', 'search_name': f'bulk {i}', **FIELDS} for i in range(250)]).execute()
    assert total() == 251 == Product.select().count()
    assert found('bulk 24') == ([f'Bulk {i}' for i in (24, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249)], 11)
    catalog.delete_product(first.id)
    Product.delete().where(Product.name.startswith('Bulk 1')).execute()
    assert total() == Product.select().count() == 250 - 111


class EarlierProduct(peewee.Model):
    """The products table as the first version made it: no name index, no counter."""
    name = peewee.CharField(max_length=200)
    search_name = peewee.CharField(max_length=600)
    description = peewee.TextField(default='')
    price = peewee.DecimalField(max_digits=10, decimal_places=2)
    stock_quantity = peewee.IntegerField(default=0)
    category = peewee.CharField(max_length=20)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'products'


def test_a_catalogue_made_before_the_index_gets_it_filled_at_start(database_url):
    url = database_url('products')
    earlier = open_database(url)
    with earlier.bind_ctx([EarlierProduct]), earlier.connection_context():
        earlier.create_tables([EarlierProduct])
        for name in ('Walnut chair', 'Walnut table', 'Oak stool'):
            EarlierProduct.create(name=name, search_name=name.casefold(), **FIELDS)
    earlier.close_all()

    with bound_storage(products_storage, url):
        assert found('walnut') == (['Walnut chair', 'Walnut table'], 2)
        assert total() == 3


def test_a_substring_search_is_answered_from_the_index(products_db):
    query, key, _total = catalog_index.search(Product, 'lamp', [Product.price > 1])
    if isinstance(products_db, peewee.SqliteDatabase):
        sql, params = query.order_by(key).limit(21).sql()  # a page
        plan = products_db.execute_sql(f'EXPLAIN QUERY PLAN {sql}', params).fetchall()
        assert any('VIRTUAL TABLE INDEX' in row[-1] and 'product_search' in row[-1] for row in plan), plan
        assert not any('TEMP B-TREE' in row[-1] for row in plan), plan  # ids come in order: a page stops early
    else:
        sql, params = query.sql()
        with products_db.atomic():  # a tiny table would be scanned: ask what the index would do
            products_db.execute_sql('SET LOCAL enable_seqscan = off')
            plan = products_db.execute_sql(f'EXPLAIN {sql}', params).fetchall()
        assert any('products_search_name_trgm' in row[0] for row in plan), plan


def test_a_query_shorter_than_a_trigram_still_finds_substrings(products_db):
    catalog.create_product({'name': 'Ox cart', **FIELDS})
    catalog.create_product({'name': 'Box', **FIELDS})
    assert found('ox') == (['Ox cart', 'Box'], 2)
