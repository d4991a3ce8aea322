"""The stock limit (rules.MAX_STOCK, the most the API's stock_quantity carries) on every write of a product's stock,
on the backend under test: a release that would pass it gives nothing back and keeps its units reserved, on the
books, until the stock is lowered; a row already past it (an older release wrote it, or a hand) is handled alike."""
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import DomainError, FailedPrecondition
from services.products import catalog
from services.products.rules import MAX_STOCK
from storage.products import Product, StockMovement, StockReservation

STOCK_LIMIT = 'STOCK_LIMIT_EXCEEDED'


def make(name='Widget', stock=10):
    return catalog.create_product({'name': name, 'price': Decimal('9.99'), 'stock_quantity': stock,
                                   'category': 'electronics'})


def stock_of(product):
    return Product.get_by_id(product.id).stock_quantity


def set_stock(product, value):
    return catalog.update_product(product.id, {'stock_quantity': value})


def state_of(reservation_id):
    return StockReservation.get(StockReservation.reservation_id == reservation_id).state


def movement_count():
    return StockMovement.select().count()


def refused_release(reservation_id):
    """The refusal of a release that must give nothing back, checked to have changed nothing."""
    before = (movement_count(), list(Product.select().order_by(Product.id).tuples()))
    with pytest.raises(FailedPrecondition) as raised:
        catalog.release_stock(reservation_id)
    assert raised.value.reason == STOCK_LIMIT
    assert (movement_count(), list(Product.select().order_by(Product.id).tuples())) == before
    assert state_of(reservation_id) == 'reserved'
    return raised.value


def test_the_issues_releases_after_admin_resets_wait_for_room(products_db):
    """Issue 17: three times, reserve the whole stock and reset it to the limit; then release all three. Before,
    the row ended at 4,000,000,000 (on PostgreSQL the third release failed: integer out of range)."""
    lamp = make(stock=MAX_STOCK)
    for number in (1, 2, 3):
        catalog.reserve_stock(f'order-{number}', [(lamp.id, MAX_STOCK)])
        set_stock(lamp, MAX_STOCK)
    refusal = refused_release('order-1')
    assert refusal.metadata == {'reservation_id': 'order-1', 'product_id': str(lamp.id), 'stock': str(MAX_STOCK),
                                'units': str(MAX_STOCK), 'max_stock': str(MAX_STOCK)}
    assert 'lower the stock' in refusal.message
    # Someone lowers the stock: each release then goes through in turn, and no unit was lost on the way.
    for number in (1, 2, 3):
        set_stock(lamp, 0)
        assert catalog.release_stock(f'order-{number}') is True
        assert stock_of(lamp) == MAX_STOCK
    movements = StockMovement.select().where(StockMovement.product_id == lamp.id)
    assert sum(movement.delta for movement in movements) == stock_of(lamp) - MAX_STOCK


def test_a_release_may_fill_the_stock_to_the_limit_and_no_further(products_db):
    lamp = make(stock=10)
    catalog.reserve_stock('r1', [(lamp.id, 4)])
    set_stock(lamp, MAX_STOCK - 4)
    assert catalog.release_stock('r1') is True
    assert stock_of(lamp) == MAX_STOCK
    catalog.reserve_stock('r2', [(lamp.id, 4)])
    set_stock(lamp, MAX_STOCK - 3)
    refused_release('r2')
    set_stock(lamp, MAX_STOCK - 4)
    assert catalog.release_stock('r2') is True
    assert stock_of(lamp) == MAX_STOCK


def test_a_release_is_refused_whole_when_one_product_has_no_room(products_db):
    fits, full = make('Fits', stock=10), make('Full', stock=10)
    catalog.reserve_stock('r1', [(fits.id, 5), (full.id, 5)])
    set_stock(full, MAX_STOCK - 2)
    assert refused_release('r1').metadata['product_id'] == str(full.id)
    assert (stock_of(fits), stock_of(full)) == (5, MAX_STOCK - 2)
    set_stock(full, 100)
    assert catalog.release_stock('r1') is True
    assert (stock_of(fits), stock_of(full), state_of('r1')) == (10, 105, 'released')


@pytest.mark.parametrize('stored', [MAX_STOCK + 1, 2**31 - 1])
def test_a_row_stored_past_the_limit_refuses_releases_until_an_admin_sets_its_stock(products_db, stored):
    lamp = make(stock=10)
    catalog.reserve_stock('r1', [(lamp.id, 5)])
    Product.update(stock_quantity=stored).where(Product.id == lamp.id).execute()  # by SQL, past every rule
    assert catalog.get_product(lamp.id).stock_quantity == stored  # read as stored; the API clamps what it carries
    refused_release('r1')
    assert set_stock(lamp, 7).stock_quantity == 7
    adjusted = StockMovement.select().where(StockMovement.product_id == lamp.id).order_by(StockMovement.id.desc()).get()
    assert (adjusted.delta, adjusted.stock_after) == (7 - stored, 7)
    assert catalog.release_stock('r1') is True and stock_of(lamp) == 12


@given(steps=st.lists(st.one_of(
    st.tuples(st.just('reserve'), st.sampled_from([1, 7, MAX_STOCK // 2, MAX_STOCK - 1, MAX_STOCK, MAX_STOCK + 1])),
    st.tuples(st.just('release'), st.integers(0, 5)),
    st.tuples(st.just('set'), st.sampled_from([0, 3, MAX_STOCK // 2, MAX_STOCK - 7, MAX_STOCK]))), max_size=12))
def test_no_sequence_of_reservations_releases_and_resets_passes_the_limit_or_loses_a_unit(products_db, steps):
    lamp = make(stock=MAX_STOCK)
    held = {}  # reservation id -> units it holds
    for kind, value in steps:
        try:
            if kind == 'reserve':
                reservation = f'{lamp.id}-{len(held)}'  # the products of every example share the table
                catalog.reserve_stock(reservation, [(lamp.id, value)])
                held[reservation] = value
            elif kind == 'release' and held:
                reservation = sorted(held)[value % len(held)]
                catalog.release_stock(reservation)
                held[reservation] = 0
            elif kind == 'set':
                set_stock(lamp, value)
        except DomainError as refusal:
            assert isinstance(refusal, FailedPrecondition), refusal
        assert 0 <= stock_of(lamp) <= MAX_STOCK
        assert {reservation: state_of(reservation) for reservation in held} == {
            reservation: 'reserved' if units else 'released' for reservation, units in held.items()}
    movements = StockMovement.select().where(StockMovement.product_id == lamp.id)
    assert sum(movement.delta for movement in movements) == stock_of(lamp) - MAX_STOCK
