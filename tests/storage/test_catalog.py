"""Catalogue and stock operations on a real SQLite file: all-or-nothing, idempotent, safe under threads."""
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import peewee
import pytest

from services.errors import AlreadyExists, FailedPrecondition, InsufficientStock, ProductNotFound
from services.pagination import PageRequest
from services.products import catalog
from services.products.rules import search_filter
from storage import products as products_storage
from storage.products import Product, StockReservation
from tests.metric_samples import in_process


def make(name='Widget', price='9.99', stock=10, category='electronics', **fields):
    return catalog.create_product({'name': name, 'price': Decimal(price), 'stock_quantity': stock,
                                   'category': category, **fields})


def stock_of(product):
    return Product.get_by_id(product.id).stock_quantity


# --- reserve_stock --------------------------------------------------------------------------------

def test_reserve_takes_stock_and_snapshots_name_and_price(products_db):
    pen, ink = make('Pen', '1.50', 10), make('Ink', '4.25', 3)
    lines = catalog.reserve_stock('r1', [(ink.id, 3), (pen.id, 2)])
    assert [(line.product_id, line.quantity, line.product_name, line.unit_price) for line in lines] == [
        (ink.id, 3, 'Ink', Decimal('4.25')), (pen.id, 2, 'Pen', Decimal('1.50'))]
    assert (stock_of(pen), stock_of(ink)) == (8, 0)


def test_reservation_is_all_or_nothing_when_a_later_line_lacks_stock(products_db):
    first, second = make('First', stock=5), make('Second', stock=1)
    with pytest.raises(InsufficientStock) as raised:
        catalog.reserve_stock('r1', [(first.id, 5), (second.id, 2)])
    assert raised.value.product_id == second.id
    assert (raised.value.requested, raised.value.available) == (2, 1)
    assert 'Second' in raised.value.message and str(second.id) in raised.value.message
    assert (stock_of(first), stock_of(second)) == (5, 1)
    assert not StockReservation.select().where(StockReservation.reservation_id == 'r1').exists()


def test_reservation_is_all_or_nothing_when_an_earlier_line_lacks_stock(products_db):
    # lines are taken in product id order: here the short product comes first in the request
    plenty, short = make('Plenty', stock=5), make('Short', stock=0)
    with pytest.raises(InsufficientStock) as raised:
        catalog.reserve_stock('r1', [(short.id, 1), (plenty.id, 1)])
    assert raised.value.product_id == short.id
    assert (stock_of(plenty), stock_of(short)) == (5, 0)


def test_unknown_product_takes_nothing(products_db):
    known = make(stock=4)
    with pytest.raises(ProductNotFound) as raised:
        catalog.reserve_stock('r1', [(known.id, 2), (known.id + 100, 1)])
    assert raised.value.product_id == known.id + 100
    assert stock_of(known) == 4
    # the id was not used up by the failed attempt
    assert [line.quantity for line in catalog.reserve_stock('r1', [(known.id, 2)])] == [2]
    assert stock_of(known) == 2


def test_repeating_a_reservation_returns_the_same_lines_and_takes_stock_once(products_db):
    product = make(stock=10)
    first = catalog.reserve_stock('r1', [(product.id, 3)])
    again = catalog.reserve_stock('r1', [(product.id, 3)])
    assert [(line.product_id, line.quantity, line.product_name, line.unit_price) for line in again] == \
           [(line.product_id, line.quantity, line.product_name, line.unit_price) for line in first]
    assert stock_of(product) == 7


def test_repeating_a_reservation_id_with_other_lines_is_refused(products_db):
    product, other = make(stock=10), make('Other', stock=10)
    catalog.reserve_stock('r1', [(product.id, 3)])
    for lines in ([(product.id, 4)], [(other.id, 3)], [(product.id, 3), (other.id, 1)]):
        with pytest.raises(AlreadyExists) as raised:
            catalog.reserve_stock('r1', lines)
        assert raised.value.reason == 'RESERVATION_MISMATCH'
    assert (stock_of(product), stock_of(other)) == (7, 10)


def test_release_gives_stock_back_exactly_once(products_db):
    a, b = make('A', stock=5), make('B', stock=5)
    catalog.reserve_stock('r1', [(a.id, 2), (b.id, 5)])
    assert catalog.release_stock('r1') is True
    assert (stock_of(a), stock_of(b)) == (5, 5)
    assert catalog.release_stock('r1') is False
    assert (stock_of(a), stock_of(b)) == (5, 5)


def test_reserving_a_released_id_is_refused_and_takes_nothing(products_db):
    product = make(stock=5)
    catalog.reserve_stock('r1', [(product.id, 2)])
    catalog.release_stock('r1')
    with pytest.raises(FailedPrecondition) as raised:
        catalog.reserve_stock('r1', [(product.id, 2)])
    assert raised.value.reason == 'RESERVATION_RELEASED'
    assert stock_of(product) == 5


def test_release_before_reserve_blocks_the_late_reservation(products_db):
    product = make(stock=5)
    assert catalog.release_stock('late') is False
    with pytest.raises(FailedPrecondition) as raised:
        catalog.reserve_stock('late', [(product.id, 1)])
    assert raised.value.reason == 'RESERVATION_RELEASED'
    assert raised.value.metadata['reservation_id'] == 'late'
    assert stock_of(product) == 5
    assert catalog.release_stock('late') is False
    assert stock_of(product) == 5


def test_release_after_the_product_was_deleted_still_succeeds(products_db):
    gone, kept = make('Gone', stock=5), make('Kept', stock=5)
    catalog.reserve_stock('r1', [(gone.id, 2), (kept.id, 3)])
    catalog.delete_product(gone.id)
    assert catalog.release_stock('r1') is True
    assert stock_of(kept) == 5
    assert Product.get_or_none(Product.id == gone.id) is None


def stock_counts():
    return [in_process(f'ecommerce_stock_{name}_total')
            for name in ('reservations_refused', 'units_reserved', 'units_released')]


def counted_since(before):
    return [after - earlier for after, earlier in zip(stock_counts(), before, strict=True)]


def test_the_stock_counters_count_units_once_per_committed_reservation_and_release(products_db):
    first, second = make('First', stock=5), make('Second', stock=5)
    before = stock_counts()
    catalog.reserve_stock('r1', [(first.id, 2), (second.id, 3)])
    catalog.reserve_stock('r1', [(first.id, 2), (second.id, 3)])  # a replay takes nothing
    assert counted_since(before) == [0, 5, 0]
    assert catalog.release_stock('r1') and not catalog.release_stock('r1')
    assert counted_since(before) == [0, 5, 5]


def test_a_refused_reservation_counts_as_refused_and_its_rolled_back_lines_as_nothing(products_db):
    first, second = make('First', stock=5), make('Second', stock=1)
    before = stock_counts()
    with pytest.raises(InsufficientStock):
        catalog.reserve_stock('r1', [(first.id, 5), (second.id, 2)])  # the first line was taken, then rolled back
    assert counted_since(before) == [1, 0, 0]


def test_units_of_a_deleted_product_are_not_counted_as_released(products_db):
    kept, deleted = make('Kept', stock=5), make('Deleted', stock=5)
    catalog.reserve_stock('r1', [(kept.id, 1), (deleted.id, 2)])
    catalog.delete_product(deleted.id)
    before = stock_counts()
    assert catalog.release_stock('r1')
    assert counted_since(before) == [0, 0, 1]


def test_snapshot_is_kept_after_the_product_is_renamed_and_repriced(products_db):
    product = make('Old name', '3.00', 10)
    catalog.reserve_stock('r1', [(product.id, 1)])
    catalog.update_product(product.id, {'name': 'New name', 'price': Decimal('5.00')})
    [line] = catalog.reserve_stock('r1', [(product.id, 1)])
    assert (line.product_name, line.unit_price) == ('Old name', Decimal('3.00'))
    assert catalog.get_product(product.id).name == 'New name'
    assert stock_of(product) == 9


# --- concurrency: every thread opens its own connection -------------------------------------------

def _in_own_connection(call, *args):
    with products_storage.database.connection_context():
        return call(*args)


def test_concurrent_reservations_never_oversell(products_db):
    product = make(stock=5)
    start = threading.Barrier(16)

    def reserve(index):
        start.wait()
        try:
            _in_own_connection(catalog.reserve_stock, f'r{index}', [(product.id, 1)])
            return True
        except InsufficientStock:
            return False

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(reserve, range(16)))
    assert outcomes.count(True) == 5
    assert stock_of(product) == 0
    assert StockReservation.select().count() == 5


def test_concurrent_releases_give_stock_back_once(products_db):
    product = make(stock=5)
    catalog.reserve_stock('r1', [(product.id, 4)])
    start = threading.Barrier(8)

    def release(_index):
        start.wait()
        return _in_own_connection(catalog.release_stock, 'r1')

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(release, range(8)))
    assert outcomes.count(True) == 1
    assert stock_of(product) == 5


def test_concurrent_repeats_of_one_reservation_take_stock_once(products_db):
    product = make(stock=10)
    start = threading.Barrier(8)

    def reserve(_index):
        start.wait()
        lines = _in_own_connection(catalog.reserve_stock, 'same', [(product.id, 3)])
        return [(line.product_id, line.quantity) for line in lines]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(reserve, range(8)))
    assert outcomes == [[(product.id, 3)]] * 8
    assert stock_of(product) == 7


# --- list_products --------------------------------------------------------------------------------

def _all_pages(size, search=None):
    seen, after, totals = [], None, set()
    while True:
        page = catalog.list_products(PageRequest(size, after), search)
        seen.extend(product.id for product in page.products)
        totals.add(page.total_size)
        assert len(page.products) <= size
        if page.last_id is None:
            return seen, totals
        assert page.last_id == page.products[-1].id
        after = page.last_id


def test_keyset_paging_visits_every_product_once_in_id_order(products_db):
    ids = [make(f'P{i}').id for i in range(25)]
    seen, totals = _all_pages(10)
    assert seen == sorted(ids)
    assert totals == {25}


def test_exactly_full_last_page_has_no_next_key(products_db):
    for i in range(10):
        make(f'P{i}')
    page = catalog.list_products(PageRequest(10, None))
    assert len(page.products) == 10
    assert page.last_id is None


def test_empty_catalogue_lists_nothing(products_db):
    page = catalog.list_products(PageRequest(10, None))
    assert (page.products, page.last_id, page.total_size) == ([], None, 0)


def _names(search):
    seen, _totals = _all_pages(3, search)
    return sorted(Product.get_by_id(product_id).name for product_id in seen)


def test_name_search_is_a_case_insensitive_substring(products_db):
    for name in ('Laptop', 'laptop bag', 'Desk lamp', 'Flip-flop'):
        make(name)
    assert _names(search_filter('LAP', '', '', '')) == ['Laptop', 'laptop bag']
    assert _names(search_filter('op', '', '', '')) == ['Flip-flop', 'Laptop', 'laptop bag']


def test_name_search_ignores_case_beyond_ascii(products_db):
    # The contract promises a case-insensitive search; SQLite's LIKE folds ASCII letters only.
    for name in ('Éclair tin', 'Über pen', 'ÅNGSTRÖM ruler'):
        make(name)
    assert _names(search_filter('éclair', '', '', '')) == ['Éclair tin']
    assert _names(search_filter('ÜBER', '', '', '')) == ['Über pen']
    assert _names(search_filter('ångström', '', '', '')) == ['ÅNGSTRÖM ruler']


def test_like_wildcards_in_the_query_are_literal(products_db):
    for name in ('100% cotton', '1000 cotton', 'snake_case', 'snakeXcase', 'back\\slash'):
        make(name)
    assert _names(search_filter('100%', '', '', '')) == ['100% cotton']
    assert _names(search_filter('e_c', '', '', '')) == ['snake_case']
    assert _names(search_filter('%', '', '', '')) == ['100% cotton']
    assert _names(search_filter('_', '', '', '')) == ['snake_case']
    assert _names(search_filter('\\', '', '', '')) == ['back\\slash']


def test_category_and_inclusive_price_bounds(products_db):
    make('Cheap book', '10.00', category='books')
    make('Mid book', '15.50', category='books')
    make('Dear book', '20.00', category='books')
    make('Mid toy', '15.50', category='toys')
    make('Pricey book', '20.01', category='books')
    assert _names(search_filter('', 'books', '10', '20')) == ['Cheap book', 'Dear book', 'Mid book']
    assert _names(search_filter('', '', '15.50', '15.50')) == ['Mid book', 'Mid toy']
    assert _names(search_filter('', '', '20.01', '')) == ['Pricey book']
    assert _names(search_filter('', '', '', '9.99')) == []
    page = catalog.list_products(PageRequest(2, None), search_filter('book', 'books', '', '20'))
    assert page.total_size == 3
    assert len(page.products) == 2


def test_prices_are_compared_as_numbers_not_text(products_db):
    make('Nine', '9.00')
    make('Ninety', '90.00')
    make('Hundred', '100.00')
    assert _names(search_filter('', '', '10', '')) == ['Hundred', 'Ninety']
    assert _names(search_filter('', '', '', '95')) == ['Nine', 'Ninety']


def test_a_deleted_products_id_is_never_handed_out_again(products_db):
    # SQLite reuses the largest rowid once its row is gone unless the key says AUTOINCREMENT; an order's
    # product_id snapshot would then point at a stranger.
    first = make('First')
    last = make('Last')
    catalog.delete_product(last.id)
    assert make('Next').id > last.id > first.id


# --- import_products ------------------------------------------------------------------------------

def _rows(count, **fields):
    return [{'name': f'Imported {index}', 'description': '', 'price': Decimal('2.50'), 'stock_quantity': index,
             'category': 'toys', **fields} for index in range(count)]


def test_an_import_inserts_every_row_in_order_and_keeps_the_index_and_count(products_db):
    before = make('Before')
    rows = _rows(2 * catalog.IMPORT_BATCH_ROWS + 7)  # three INSERT statements
    first_id, last_id = catalog.import_products(rows)
    assert first_id > before.id
    imported = list(Product.select().where(Product.id >= first_id).order_by(Product.id))
    assert [(product.name, product.stock_quantity) for product in imported] == [
        (row['name'], row['stock_quantity']) for row in rows]
    assert (imported[0].id, imported[-1].id) == (first_id, last_id)
    assert catalog.list_products(PageRequest(1, None)).total_size == len(rows) + 1
    assert _names(search_filter('imported 2006', '', '', '')) == ['Imported 2006']


def test_an_import_that_fails_in_a_later_statement_writes_nothing(products_db):
    # The database's own check (price > 0) fails in the second INSERT; the first one is rolled back with it.
    rows = _rows(catalog.IMPORT_BATCH_ROWS + 1)
    rows[-1]['price'] = Decimal('0')
    with pytest.raises(peewee.IntegrityError):
        catalog.import_products(rows)
    assert catalog.list_products(PageRequest(1, None)).total_size == 0
    assert not Product.select().exists()
