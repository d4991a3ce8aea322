"""Product rules: what a product must hold, how updates read their mask, search filters, stock lines."""
from decimal import Decimal

import pytest

from services.errors import InvalidArgument, InvalidArguments
from services.products.rules import (
    CATEGORIES,
    MAX_STOCK,
    SearchFilter,
    changes_for_update,
    import_size,
    imported_products,
    new_product_fields,
    reservation_key,
    search_filter,
    stock_lines,
)
from services.settings import MAX_IMPORT_ROWS

VALID = {'name': 'Laptop', 'price': '999.99', 'category': 'electronics'}


def _invalid(call, *args):
    with pytest.raises(InvalidArgument) as raised:
        call(*args)
    return raised.value


# --- new_product_fields ---------------------------------------------------------------------------

def test_new_product_fills_defaults_and_parses_the_price():
    assert new_product_fields(VALID) == {
        'name': 'Laptop', 'price': Decimal('999.99'), 'category': 'electronics',
        'description': '', 'stock_quantity': 0}


def test_new_product_keeps_given_optional_fields():
    fields = new_product_fields({**VALID, 'description': 'Fast', 'stock_quantity': 7})
    assert fields['description'] == 'Fast'
    assert fields['stock_quantity'] == 7


@pytest.mark.parametrize('missing', ['name', 'price', 'category'])
def test_new_product_requires_name_price_and_category(missing):
    values = {key: value for key, value in VALID.items() if key != missing}
    error = _invalid(new_product_fields, values)
    assert error.field == missing
    assert 'required' in error.message


def test_new_product_name_is_stripped():
    assert new_product_fields({**VALID, 'name': '  Laptop Pro \t'})['name'] == 'Laptop Pro'


@pytest.mark.parametrize('name', ['', '   ', '\t\n'])
def test_blank_name_is_required(name):
    assert _invalid(new_product_fields, {**VALID, 'name': name}).field == 'name'


def test_name_of_200_characters_is_accepted_and_201_rejected():
    assert new_product_fields({**VALID, 'name': 'x' * 200})['name'] == 'x' * 200
    error = _invalid(new_product_fields, {**VALID, 'name': 'x' * 201})
    assert error.field == 'name'
    assert '201' in error.message


def test_long_description_is_rejected():
    assert new_product_fields({**VALID, 'description': 'd' * 5000})['description'] == 'd' * 5000
    assert _invalid(new_product_fields, {**VALID, 'description': 'd' * 5001}).field == 'description'


@pytest.mark.parametrize('category', ['', 'food', 'Electronics', 'category_unspecified', '99'])
def test_unknown_category_is_rejected(category):
    error = _invalid(new_product_fields, {**VALID, 'category': category})
    assert error.field == 'category'
    assert 'electronics' in error.message  # it lists the allowed ones


@pytest.mark.parametrize('category', CATEGORIES)
def test_every_known_category_is_accepted(category):
    assert new_product_fields({**VALID, 'category': category})['category'] == category


@pytest.mark.parametrize('stock', [-1, -1000, MAX_STOCK + 1, 2**31 - 1])
def test_negative_or_huge_stock_is_rejected(stock):
    assert _invalid(new_product_fields, {**VALID, 'stock_quantity': stock}).field == 'stock_quantity'


@pytest.mark.parametrize('stock', [0, 1, MAX_STOCK])
def test_stock_bounds_are_inclusive(stock):
    assert new_product_fields({**VALID, 'stock_quantity': stock})['stock_quantity'] == stock


def test_bad_price_names_the_price_field():
    error = _invalid(new_product_fields, {**VALID, 'price': '0'})
    assert error.field == 'price'
    assert 'greater than zero' in error.message


def test_new_product_names_the_first_missing_field_even_when_others_are_bad():
    assert _invalid(new_product_fields, {'price': '-1', 'stock_quantity': -1}).field == 'name'


def test_new_product_names_the_first_bad_field_when_several_are():
    assert _invalid(new_product_fields, {**VALID, 'stock_quantity': -1, 'price': 'x'}).field == 'stock_quantity'


# --- imported_products ----------------------------------------------------------------------------

def test_imported_products_are_cleaned_as_created_ones_are_in_order():
    rows = [{**VALID, 'name': f' Item {index} '} for index in range(3)]
    assert imported_products(rows) == [new_product_fields({**VALID, 'name': f'Item {index}'}) for index in range(3)]


def test_every_bad_value_of_every_row_is_named_by_its_row():
    rows = [VALID, {**VALID, 'price': '-1'}, VALID, {'name': '', 'price': 'abc', 'stock_quantity': -5},
            {**VALID, 'category': 'gadgets'}]
    with pytest.raises(InvalidArguments) as raised:
        imported_products(rows)
    error = raised.value
    assert error.violations == [
        ('products[1].price', 'must be greater than zero'),
        ('products[3].category', 'is required'),
        ('products[3].stock_quantity', f'must be between 0 and {MAX_STOCK}, not -5'),
        ('products[3].name', 'is required'),
        ('products[3].price', "'abc' is not a price: use a decimal string with at most 8 digits before the point "
                              'and 2 after, such as "19.99"'),
        ('products[4].category', 'must be one of ' + ', '.join(CATEGORIES))]
    assert error.message == 'products[1].price: must be greater than zero (and 5 more invalid values)'
    assert error.metadata == {'violation_count': '6'}


def test_one_bad_value_among_many_rows_is_the_only_one_named():
    rows = [{**VALID, 'name': f'Item {index}'} for index in range(10_000)]
    rows[7_321] = {**VALID, 'stock_quantity': MAX_STOCK + 1}
    with pytest.raises(InvalidArguments) as raised:
        imported_products(rows)
    assert [field for field, _problem in raised.value.violations] == ['products[7321].stock_quantity']
    assert raised.value.message == \
           f'products[7321].stock_quantity: must be between 0 and {MAX_STOCK}, not {MAX_STOCK + 1}'


def test_an_empty_import_is_refused():
    assert _invalid(imported_products, []).field == 'products'


def test_an_import_may_hold_max_import_rows_and_no_more():
    import_size(MAX_IMPORT_ROWS)
    error = _invalid(import_size, MAX_IMPORT_ROWS + 1)
    assert error.field == 'products'
    assert f'at most {MAX_IMPORT_ROWS} products' in error.problem


# --- changes_for_update ---------------------------------------------------------------------------

def test_without_a_mask_only_the_present_fields_change():
    assert changes_for_update([], {'price': '5'}) == {'price': Decimal('5.00')}


def test_without_a_mask_and_no_fields_there_is_nothing_to_update():
    error = _invalid(changes_for_update, [], {})
    assert error.field == 'product'


def test_without_a_mask_present_fields_are_validated():
    assert _invalid(changes_for_update, [], {'name': 'ok', 'stock_quantity': -1}).field == 'stock_quantity'


def test_star_is_a_full_replacement_that_resets_description_and_stock():
    changes = changes_for_update(['*'], dict(VALID))
    assert changes == {'name': 'Laptop', 'price': Decimal('999.99'), 'category': 'electronics',
                       'description': '', 'stock_quantity': 0}


@pytest.mark.parametrize('missing', ['name', 'price', 'category'])
def test_star_requires_every_required_field(missing):
    present = {key: value for key, value in VALID.items() if key != missing}
    assert _invalid(changes_for_update, ['*'], present).field == missing


def test_star_cannot_be_mixed_with_other_paths():
    error = _invalid(changes_for_update, ['*', 'name'], dict(VALID))
    assert error.field == 'update_mask'
    assert '"*"' in error.message


def test_named_paths_change_only_those_fields_even_if_others_are_present():
    changes = changes_for_update(['price'], {'name': 'Other', 'price': '12.50', 'stock_quantity': 3})
    assert changes == {'price': Decimal('12.50')}


def test_named_optional_path_missing_from_the_request_is_cleared_to_its_default():
    assert changes_for_update(['description', 'stock_quantity'], {}) == {'description': '', 'stock_quantity': 0}


@pytest.mark.parametrize('path', ['name', 'price', 'category'])
def test_named_required_path_missing_from_the_request_is_an_error(path):
    assert _invalid(changes_for_update, [path], {}).field == path


@pytest.mark.parametrize('path', ['id', 'created_at', 'updated_at', 'colour', 'Name', ''])
def test_unknown_or_read_only_path_is_rejected(path):
    error = _invalid(changes_for_update, ['name', path], {'name': 'x'})
    assert error.field == 'update_mask'
    assert repr(path) in error.message


def test_named_path_values_are_validated():
    assert _invalid(changes_for_update, ['name'], {'name': 'x' * 201}).field == 'name'


# --- search_filter --------------------------------------------------------------------------------

def test_empty_filters_mean_no_filter():
    assert search_filter('', '', '', '') == SearchFilter(q='', category='', min_price=None, max_price=None,
                                                         stock_below=None)


@pytest.mark.parametrize('stock_below', [0, 5])
def test_a_stock_bound_is_kept_and_ties_the_listing(stock_below):
    search = search_filter('', '', '', '', stock_below)
    assert search.stock_below == stock_below
    assert search.listing() != search_filter('', '', '', '').listing()


def test_a_negative_stock_bound_is_rejected():
    assert _invalid(search_filter, '', '', '', '', -1).field == 'stock_below'


def test_filters_are_parsed():
    search = search_filter('  lap ', 'electronics', '10', '99.5')
    assert search == SearchFilter(q='lap', category='electronics', min_price=Decimal('10.00'),
                                  max_price=Decimal('99.50'))


def test_equal_bounds_are_allowed():
    search = search_filter('', '', '10', '10.00')
    assert search.min_price == search.max_price == Decimal('10')


def test_min_above_max_is_rejected():
    error = _invalid(search_filter, '', '', '20', '10')
    assert error.field == 'min_price'
    assert 'max_price' in error.message


@pytest.mark.parametrize('bound', ['min_price', 'max_price'])
def test_bad_bound_names_its_field(bound):
    args = {'q': '', 'category': '', 'min_price': '', 'max_price': '', bound: 'cheap'}
    assert _invalid(search_filter, *args.values()).field == bound


def test_unknown_search_category_is_rejected():
    assert _invalid(search_filter, '', 'food', '', '').field == 'category'


def test_overlong_query_is_rejected():
    assert _invalid(search_filter, 'q' * 201, '', '', '').field == 'q'


def test_listing_ties_tokens_to_filters_but_not_to_query_case():
    assert search_filter('LAP', '', '', '').listing() == search_filter('lap', '', '', '').listing()
    assert search_filter('lap', '', '', '').listing() != search_filter('lap', 'books', '', '').listing()
    assert search_filter('lap', '', '1', '').listing() != search_filter('lap', '', '', '1').listing()


# --- stock_lines ----------------------------------------------------------------------------------

def test_stock_lines_are_returned_in_request_order():
    assert stock_lines('r1', [(3, 1), (1, 2)]) == [(3, 1), (1, 2)]


def test_duplicate_product_in_a_reservation_is_rejected_at_its_index():
    error = _invalid(stock_lines, 'r1', [(1, 1), (2, 1), (1, 3)])
    assert error.field == 'lines[2].product_id'
    assert 'twice' in error.message


@pytest.mark.parametrize('quantity', [0, -1])
def test_non_positive_quantity_is_rejected(quantity):
    assert _invalid(stock_lines, 'r1', [(1, 1), (2, quantity)]).field == 'lines[1].quantity'


def test_non_positive_product_id_is_rejected():
    assert _invalid(stock_lines, 'r1', [(0, 1)]).field == 'lines[0].product_id'


def test_empty_and_oversized_reservations_are_rejected():
    assert _invalid(stock_lines, 'r1', []).field == 'lines'
    assert _invalid(stock_lines, 'r1', [(i, 1) for i in range(1, 102)]).field == 'lines'
    assert len(stock_lines('r1', [(i, 1) for i in range(1, 101)])) == 100


@pytest.mark.parametrize('reservation_id', ['', 'x' * 101, 'r\x00'])
def test_reservation_id_is_required_bounded_and_storable(reservation_id):
    """Releasing checks the id as reserving does: a longer or NUL-holding one failed in PostgreSQL (INTERNAL)."""
    assert _invalid(stock_lines, reservation_id, [(1, 1)]).field == 'reservation_id'
    assert _invalid(reservation_key, reservation_id).field == 'reservation_id'


@pytest.mark.parametrize('field', ['name', 'description'])
def test_a_nul_character_is_refused_on_every_backend(field):
    """PostgreSQL cannot store NUL in text (the call ended INTERNAL there); SQLite can: both refuse it alike."""
    error = _invalid(new_product_fields, {**VALID, field: 'Lap\x00top'})
    assert error.field == field and 'NUL' in error.message
    assert _invalid(search_filter, 'lap\x00', '', '', '').field == 'q'


def test_a_price_bound_of_zero_is_a_bound_but_a_negative_one_is_not():
    assert search_filter('', '', '0', '0.00').min_price == Decimal('0')
    with pytest.raises(InvalidArgument) as raised:
        search_filter('', '', '-1', '')
    assert raised.value.field == 'min_price'
