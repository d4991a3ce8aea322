"""ProductService and StockService, the Products server's two services, through a real in-process server and a real
channel, over a temp SQLite file."""
import grpc
import pytest
from ecommerce.products.v1 import products_pb2, stock_pb2
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2

from tests.conftest import health_status, new_product
from tests.rpc_errors import error_details, status_details

Product = products_pb2.Product


def rpc_error(call, request):
    with pytest.raises(grpc.RpcError) as raised:
        call(request)
    return raised.value


def total(stub):
    return stub.ListProducts(products_pb2.ListProductsRequest()).total_size


def get(stub, product_id):
    return stub.GetProduct(products_pb2.GetProductRequest(id=product_id))


def update(stub, product, paths=None):
    request = products_pb2.UpdateProductRequest(product=product)
    if paths is not None:
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=paths))
    return stub.UpdateProduct(request)


# --- create and get -------------------------------------------------------------------------------

def test_created_product_reads_back_the_same(products_stub):
    created = new_product(products_stub, name='  Laptop ', price='999.9', stock=7, description='Fast',
                          category=Product.ELECTRONICS)
    assert created.id > 0
    assert (created.name, created.price, created.stock_quantity, created.description, created.category) == \
           ('Laptop', '999.90', 7, 'Fast', Product.ELECTRONICS)
    assert created.created_at.seconds > 0
    assert created.updated_at.ToDatetime() >= created.created_at.ToDatetime()
    assert get(products_stub, created.id) == created


def test_create_fills_in_defaults(products_stub):
    created = products_stub.CreateProduct(products_pb2.CreateProductRequest(
        product=Product(name='Mug', price='5', category=Product.HOME)))
    assert (created.description, created.stock_quantity, created.price) == ('', 0, '5.00')


def test_create_ignores_a_client_chosen_id(products_stub):
    first = new_product(products_stub, name='First')
    created = products_stub.CreateProduct(products_pb2.CreateProductRequest(
        product=Product(id=first.id, name='Second', price='1', category=Product.HOME)))
    assert created.id != first.id
    assert get(products_stub, first.id).name == 'First'


@pytest.mark.parametrize('price', ['0', '-1', '1.999', 'abc', '', '1e3'])
def test_invalid_price_is_rejected_with_a_field_violation_and_nothing_is_created(products_stub, price):
    new_product(products_stub)
    error = rpc_error(products_stub.CreateProduct, products_pb2.CreateProductRequest(
        product=Product(name='Bad', price=price, category=Product.BOOKS)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith('price: ')
    details = error_details(error)
    assert list(details.fields) == ['price']
    assert (details.reason, details.domain) == ('INVALID_ARGUMENT', 'ecommerce')
    assert total(products_stub) == 1


@pytest.mark.parametrize('product, field', [
    (Product(price='1', category=Product.BOOKS), 'name'),
    (Product(name='   ', price='1', category=Product.BOOKS), 'name'),
    (Product(name='x' * 201, price='1', category=Product.BOOKS), 'name'),
    (Product(name='Book', category=Product.BOOKS), 'price'),
    (Product(name='Book', price='1'), 'category'),
    (Product(name='Book', price='1', category=Product.CATEGORY_UNSPECIFIED), 'category'),
    (Product(name='Book', price='1', category=99), 'category'),
    (Product(name='Book', price='1', category=Product.BOOKS, stock_quantity=-1), 'stock_quantity'),
    (Product(name='Book', price='1', category=Product.BOOKS, description='d' * 5001), 'description'),
])
def test_invalid_product_names_the_field(products_stub, product, field):
    error = rpc_error(products_stub.CreateProduct, products_pb2.CreateProductRequest(product=product))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == [field]
    assert error.details().startswith(f'{field}: ')
    assert total(products_stub) == 0


def test_unknown_product_is_not_found(products_stub):
    error = rpc_error(products_stub.GetProduct, products_pb2.GetProductRequest(id=424242))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == 'product 424242 not found'
    details = error_details(error)
    assert (details.reason, details.metadata) == ('PRODUCT_NOT_FOUND', {'product_id': '424242'})
    assert details.fields == {}


@pytest.mark.parametrize('product_id', [0, -3])
def test_non_positive_id_is_invalid(products_stub, product_id):
    error = rpc_error(products_stub.GetProduct, products_pb2.GetProductRequest(id=product_id))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['id']


# --- update ---------------------------------------------------------------------------------------

def test_update_with_a_mask_changes_only_the_named_fields(products_stub):
    original = new_product(products_stub, name='Lamp', price='20.00', stock=4, description='Bright')
    updated = update(products_stub, Product(id=original.id, name='Ignored', price='25.5'), ['price'])
    assert (updated.name, updated.price, updated.stock_quantity, updated.description) == \
           ('Lamp', '25.50', 4, 'Bright')
    assert updated.created_at == original.created_at
    assert updated.updated_at.ToDatetime() >= original.updated_at.ToDatetime()
    assert get(products_stub, original.id) == updated


def test_mask_naming_an_absent_optional_field_clears_it(products_stub):
    original = new_product(products_stub, description='Bright', stock=4)
    updated = update(products_stub, Product(id=original.id), ['description', 'stock_quantity'])
    assert (updated.description, updated.stock_quantity, updated.name) == ('', 0, original.name)


def test_star_mask_replaces_everything_and_resets_what_is_left_out(products_stub):
    original = new_product(products_stub, name='Lamp', price='20.00', stock=4, description='Bright')
    updated = update(products_stub, Product(id=original.id, name='Desk', price='99', category=Product.HOME), ['*'])
    assert (updated.name, updated.price, updated.category, updated.description, updated.stock_quantity) == \
           ('Desk', '99.00', Product.HOME, '', 0)
    assert get(products_stub, original.id) == updated


def test_star_mask_without_a_required_field_changes_nothing(products_stub):
    original = new_product(products_stub, description='Bright')
    error = rpc_error(products_stub.UpdateProduct, products_pb2.UpdateProductRequest(
        product=Product(id=original.id, name='Desk', price='9'), update_mask=field_mask_pb2.FieldMask(paths=['*'])))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['category']
    assert get(products_stub, original.id) == original


def test_update_without_a_mask_changes_the_present_fields_only(products_stub):
    original = new_product(products_stub, name='Lamp', price='20.00', stock=4, description='Bright')
    updated = update(products_stub, Product(id=original.id, stock_quantity=0, description=''))
    assert (updated.name, updated.price, updated.stock_quantity, updated.description) == ('Lamp', '20.00', 0, '')


@pytest.mark.parametrize('paths, field', [(['id'], 'update_mask'), (['created_at'], 'update_mask'),
                                          (['*', 'name'], 'update_mask'), (['nonsense'], 'update_mask')])
def test_bad_mask_is_rejected_and_changes_nothing(products_stub, paths, field):
    original = new_product(products_stub)
    error = rpc_error(products_stub.UpdateProduct, products_pb2.UpdateProductRequest(
        product=Product(id=original.id, name='New'), update_mask=field_mask_pb2.FieldMask(paths=paths)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == [field]
    assert get(products_stub, original.id) == original


def test_bad_value_in_an_update_changes_nothing(products_stub):
    original = new_product(products_stub)
    error = rpc_error(products_stub.UpdateProduct, products_pb2.UpdateProductRequest(
        product=Product(id=original.id, name='Fine', price='-5')))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['price']
    assert get(products_stub, original.id) == original


def test_update_of_an_unknown_product_is_not_found(products_stub):
    error = rpc_error(products_stub.UpdateProduct, products_pb2.UpdateProductRequest(
        product=Product(id=999, name='Ghost')))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error_details(error).reason == 'PRODUCT_NOT_FOUND'
    assert total(products_stub) == 0


# --- delete ---------------------------------------------------------------------------------------

def test_deleted_product_is_gone(products_stub):
    kept, gone = new_product(products_stub, name='Kept'), new_product(products_stub, name='Gone')
    products_stub.DeleteProduct(products_pb2.DeleteProductRequest(id=gone.id))
    assert rpc_error(products_stub.GetProduct, products_pb2.GetProductRequest(id=gone.id)).code() == \
           grpc.StatusCode.NOT_FOUND
    again = rpc_error(products_stub.DeleteProduct, products_pb2.DeleteProductRequest(id=gone.id))
    assert again.code() == grpc.StatusCode.NOT_FOUND
    listing = products_stub.ListProducts(products_pb2.ListProductsRequest())
    assert ([p.id for p in listing.products], listing.total_size) == ([kept.id], 1)


# --- listing and search ---------------------------------------------------------------------------

def test_list_walks_every_page_in_id_order(products_stub):
    ids = [new_product(products_stub, name=f'P{i:02}').id for i in range(25)]
    seen, token, pages = [], '', 0
    while True:
        page = products_stub.ListProducts(products_pb2.ListProductsRequest(page_size=10, page_token=token))
        pages += 1
        assert page.total_size == 25
        assert len(page.products) == (10 if pages < 3 else 5)
        seen.extend(p.id for p in page.products)
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert seen == sorted(ids)


def test_list_default_page_size_is_20(products_stub):
    for i in range(21):
        new_product(products_stub, name=f'P{i}')
    page = products_stub.ListProducts(products_pb2.ListProductsRequest())
    assert len(page.products) == 20 and page.next_page_token


@pytest.mark.parametrize('request_fields, field', [
    ({'page_size': -1}, 'page_size'),
    ({'page_token': 'not-a-token'}, 'page_token'),
])
def test_bad_page_parameters_are_rejected(products_stub, request_fields, field):
    error = rpc_error(products_stub.ListProducts, products_pb2.ListProductsRequest(**request_fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == [field]


@pytest.fixture
def shop(products_stub):
    """A small catalogue to search."""
    return {name: new_product(products_stub, name=name, price=price, category=category)
            for name, price, category in [
                ('Laptop', '999.00', Product.ELECTRONICS), ('Laptop sleeve', '19.99', Product.ELECTRONICS),
                ('Lapel pin', '4.00', Product.CLOTHING), ('Desk lamp', '19.99', Product.HOME),
                ('100% wool scarf', '25.00', Product.CLOTHING), ('Novel', '10.00', Product.BOOKS)]}


def search(stub, **fields):
    return stub.SearchProducts(products_pb2.SearchProductsRequest(**fields))


def names(response):
    return [product.name for product in response.products]


def test_search_by_case_insensitive_name(products_stub, shop):
    assert names(search(products_stub, q='LAPTOP')) == ['Laptop', 'Laptop sleeve']
    assert names(search(products_stub, q='lap')) == ['Laptop', 'Laptop sleeve', 'Lapel pin']
    assert names(search(products_stub, q='  A ')) == ['Laptop', 'Laptop sleeve', 'Lapel pin', 'Desk lamp',
                                                   '100% wool scarf']
    assert names(search(products_stub, q='%')) == ['100% wool scarf']


def test_search_by_category_and_inclusive_price_range(products_stub, shop):
    assert names(search(products_stub, category=Product.ELECTRONICS, max_price='19.99')) == ['Laptop sleeve']
    assert names(search(products_stub, min_price='10', max_price='19.99')) == \
           ['Laptop sleeve', 'Desk lamp', 'Novel']
    response = search(products_stub, q='la', min_price='5')
    assert names(response) == ['Laptop', 'Laptop sleeve', 'Desk lamp']
    assert response.total_size == 3


def test_search_by_stock_below_finds_the_low_stock_products(products_stub, shop):
    low = {'Novel': 2, 'Lapel pin': 0, 'Desk lamp': 5}
    for name, quantity in low.items():
        products_stub.UpdateProduct(products_pb2.UpdateProductRequest(
            product=Product(id=shop[name].id, stock_quantity=quantity), update_mask={'paths': ['stock_quantity']}))
    assert names(search(products_stub, stock_below=5)) == ['Lapel pin', 'Novel']
    assert names(search(products_stub, stock_below=6, q='l')) == ['Lapel pin', 'Desk lamp', 'Novel']
    assert search(products_stub, stock_below=0).total_size == 0
    first = search(products_stub, stock_below=6, page_size=2)
    assert names(first) == ['Lapel pin', 'Desk lamp'] and first.total_size == 3
    error = rpc_error(products_stub.SearchProducts, products_pb2.SearchProductsRequest(
        stock_below=5, page_size=2, page_token=first.next_page_token))
    assert list(error_details(error).fields) == ['page_token']  # a token is tied to its stock bound too


def test_search_without_filters_matches_everything(products_stub, shop):
    assert search(products_stub).total_size == len(shop)


def test_search_pages_carry_their_filters(products_stub, shop):
    first = search(products_stub, q='la', page_size=3)
    assert names(first) == ['Laptop', 'Laptop sleeve', 'Lapel pin'] and first.total_size == 4
    second = search(products_stub, q='LA', page_size=3, page_token=first.next_page_token)
    assert names(second) == ['Desk lamp'] and second.next_page_token == ''
    for changed in ({'q': 'desk'}, {'category': Product.HOME}, {'min_price': '1'}, {'max_price': '1000'}):
        error = rpc_error(products_stub.SearchProducts, products_pb2.SearchProductsRequest(
            **{'q': 'la', 'page_size': 3, 'page_token': first.next_page_token, **changed}))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert list(error_details(error).fields) == ['page_token']
        assert 'other filters' in error.details()


def test_list_token_is_not_a_search_token(products_stub, shop):
    listing = products_stub.ListProducts(products_pb2.ListProductsRequest(page_size=2))
    error = rpc_error(products_stub.SearchProducts, products_pb2.SearchProductsRequest(
        page_size=2, page_token=listing.next_page_token))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['page_token']


@pytest.mark.parametrize('fields, field', [
    ({'min_price': '20', 'max_price': '10'}, 'min_price'),
    ({'min_price': 'cheap'}, 'min_price'),
    ({'max_price': '-1'}, 'max_price'),
    ({'category': 42}, 'category'),
    ({'stock_below': -1}, 'stock_below'),
])
def test_bad_search_filters_are_rejected(products_stub, fields, field):
    error = rpc_error(products_stub.SearchProducts, products_pb2.SearchProductsRequest(**fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == [field]


# --- stock reservations ---------------------------------------------------------------------------

def reserve_request(reservation_id, *lines):
    """A ReserveStockRequest for (product_id, quantity) lines."""
    return stock_pb2.ReserveStockRequest(reservation_id=reservation_id, lines=[
        stock_pb2.StockLine(product_id=product_id, quantity=quantity) for product_id, quantity in lines])


def reserve(stub, reservation_id, *lines):
    return stub.ReserveStock(reserve_request(reservation_id, *lines))


def release(stub, reservation_id):
    return stub.ReleaseStock(stock_pb2.ReleaseStockRequest(reservation_id=reservation_id))


def stock(stub, product):
    return get(stub, product.id).stock_quantity


def test_reserve_and_release_are_idempotent(products_stub, stock_stub):
    pen = new_product(products_stub, name='Pen', price='1.5', stock=10)
    ink = new_product(products_stub, name='Ink', price='4.25', stock=3)
    response = reserve(stock_stub, 'order-1', (ink.id, 3), (pen.id, 2))
    assert response.reservation_id == 'order-1'
    assert [(line.product_id, line.quantity, line.product_name, line.unit_price) for line in response.lines] == [
        (ink.id, 3, 'Ink', '4.25'), (pen.id, 2, 'Pen', '1.50')]
    assert reserve(stock_stub, 'order-1', (ink.id, 3), (pen.id, 2)) == response
    assert (stock(products_stub, pen), stock(products_stub, ink)) == (8, 0)

    assert release(stock_stub, 'order-1').released_now is True
    assert (stock(products_stub, pen), stock(products_stub, ink)) == (10, 3)
    assert release(stock_stub, 'order-1').released_now is False
    assert (stock(products_stub, pen), stock(products_stub, ink)) == (10, 3)

    error = rpc_error(stock_stub.ReserveStock, reserve_request('order-1', (pen.id, 2)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(error).reason == 'RESERVATION_RELEASED'
    assert stock(products_stub, pen) == 10


def test_insufficient_stock_is_a_failed_precondition_with_the_numbers(products_stub, stock_stub):
    plenty = new_product(products_stub, name='Plenty', stock=9)
    short = new_product(products_stub, name='Short', stock=1)
    error = rpc_error(stock_stub.ReserveStock, reserve_request('r', (plenty.id, 2), (short.id, 2)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert 'Short' in error.details()
    details = error_details(error)
    assert details.reason == 'INSUFFICIENT_STOCK'
    assert details.metadata == {'product_id': str(short.id), 'requested': '2', 'available': '1',
                                'product_name': 'Short'}
    assert (stock(products_stub, plenty), stock(products_stub, short)) == (9, 1)


def test_reservation_of_an_unknown_product_is_not_found(products_stub, stock_stub):
    known = new_product(products_stub, stock=5)
    error = rpc_error(stock_stub.ReserveStock, reserve_request('r', (known.id, 1), (known.id + 50, 1)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error_details(error).metadata == {'product_id': str(known.id + 50)}
    assert stock(products_stub, known) == 5


def test_reusing_a_reservation_id_for_other_lines_is_already_exists(products_stub, stock_stub):
    product = new_product(products_stub, stock=5)
    reserve(stock_stub, 'r', (product.id, 1))
    error = rpc_error(stock_stub.ReserveStock, reserve_request('r', (product.id, 2)))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_details(error).reason == 'RESERVATION_MISMATCH'
    assert stock(products_stub, product) == 4


def test_release_of_an_unknown_id_blocks_a_late_reservation(products_stub, stock_stub):
    product = new_product(products_stub, stock=5)
    assert release(stock_stub, 'late').released_now is False
    error = rpc_error(stock_stub.ReserveStock, reserve_request('late', (product.id, 1)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(error).reason == 'RESERVATION_RELEASED'
    assert stock(products_stub, product) == 5


@pytest.mark.parametrize('request_, field', [
    (stock_pb2.ReserveStockRequest(lines=[stock_pb2.StockLine(product_id=1, quantity=1)]), 'reservation_id'),
    (stock_pb2.ReserveStockRequest(reservation_id='r'), 'lines'),
    (stock_pb2.ReserveStockRequest(reservation_id='r', lines=[stock_pb2.StockLine(product_id=1)]),
     'lines[0].quantity'),
])
def test_bad_reservation_requests_name_the_field(stock_stub, request_, field):
    error = rpc_error(stock_stub.ReserveStock, request_)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == [field]


def reserve_batch(stub, *entries):
    """ReserveStocks of (ReserveStockRequest, request id) entries, each claiming to act for someone."""
    return stub.ReserveStocks(stock_pb2.ReserveStocksRequest(reservations=[
        stock_pb2.StockReservation(reservation=request, request_id=request_id, actor='someone@example.com')
        for request, request_id in entries]))


def outcome_summary(outcome):
    if outcome.HasField('reserved'):
        return [(line.product_name, line.quantity, line.unit_price) for line in outcome.reserved.lines]
    details = status_details(outcome.refused)
    return grpc.StatusCode(next(code for code in grpc.StatusCode if code.value[0] == outcome.refused.code)), \
        details.reason, list(details.fields)


def test_a_batch_of_reservations_answers_each_as_reserve_stock_would_and_takes_only_the_granted(
        products_stub, stock_stub):
    pen = new_product(products_stub, name='Pen', price='1.5', stock=10)
    ink = new_product(products_stub, name='Ink', price='4.25', stock=3)
    first_answer = reserve(stock_stub, 'earlier', (pen.id, 1))
    release(stock_stub, 'released')
    response = reserve_batch(
        stock_stub,
        (reserve_request('a', (ink.id, 2), (pen.id, 2)), 'request-a'),
        (reserve_request('b', (pen.id, 1), (ink.id, 2)), 'request-b'),  # Pen taken, then one Ink left: undone
        (reserve_request('c', (pen.id + 50, 1)), 'request-c'),
        (reserve_request('earlier', (pen.id, 1)), 'request-earlier'),  # a repeat: its first answer, nothing taken
        (reserve_request('earlier-other', (pen.id, 1), (pen.id, 1)), ''),  # a product listed twice
        (reserve_request('released', (pen.id, 1)), ''),
        (reserve_request('e', (pen.id, 3)), 'request-e'))
    assert [outcome_summary(outcome) for outcome in response.outcomes] == [
        [('Ink', 2, '4.25'), ('Pen', 2, '1.50')],
        (grpc.StatusCode.FAILED_PRECONDITION, 'INSUFFICIENT_STOCK', []),
        (grpc.StatusCode.NOT_FOUND, 'PRODUCT_NOT_FOUND', []),
        [('Pen', 1, '1.50')],
        (grpc.StatusCode.INVALID_ARGUMENT, 'INVALID_ARGUMENT', ['lines[1].product_id']),
        (grpc.StatusCode.FAILED_PRECONDITION, 'RESERVATION_RELEASED', []),
        [('Pen', 3, '1.50')]]
    assert response.outcomes[3].reserved == first_answer
    assert (stock(products_stub, pen), stock(products_stub, ink)) == (10 - 1 - 2 - 3, 3 - 2)
    movements = products_stub.ListStockMovements(products_pb2.ListStockMovementsRequest(product_id=pen.id)).movements
    # Without tokens nobody is known, so an entry's actor is not believed (with tokens, only Orders may call).
    assert sorted((movement.reservation_id, movement.request_id, movement.actor) for movement in movements
                  if movement.reservation_id in ('a', 'e')) == [('a', 'request-a', ''), ('e', 'request-e', '')]
    assert release(stock_stub, 'a').released_now is True  # a reservation of a batch, given back like any other
    assert (stock(products_stub, pen), stock(products_stub, ink)) == (10 - 1 - 3, 3)


def test_an_empty_batch_is_refused(stock_stub):
    error = rpc_error(stock_stub.ReserveStocks, stock_pb2.ReserveStocksRequest())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['reservations']


def test_a_reservation_named_twice_in_a_batch_is_taken_once_and_repeated(products_stub, stock_stub):
    product = new_product(products_stub, stock=5)
    response = reserve_batch(stock_stub, (reserve_request('twice', (product.id, 2)), ''),
                             (reserve_request('twice', (product.id, 2)), ''),
                             (reserve_request('twice', (product.id, 3)), ''))
    assert response.outcomes[0].reserved == response.outcomes[1].reserved
    assert outcome_summary(response.outcomes[2]) == (grpc.StatusCode.ALREADY_EXISTS, 'RESERVATION_MISMATCH', [])
    assert stock(products_stub, product) == 3


def test_release_needs_an_id(stock_stub):
    error = rpc_error(stock_stub.ReleaseStock, stock_pb2.ReleaseStockRequest())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(error_details(error).fields) == ['reservation_id']


def test_health_reports_serving(products_address):
    for service in ('', 'ecommerce.products.v1.ProductService', 'ecommerce.products.v1.StockService'):
        assert health_status(products_address, service) == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as raised:
        health_status(products_address, 'nope')
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
