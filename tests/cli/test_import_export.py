"""`ecommerce products import` and `export` against real in-process servers: all rows or none, every bad line
named, a progress bar, and an export that imports again to the same values."""
import csv
import io
import json
import time

from ecommerce.products.v1 import products_pb2

from services.products import rules
from tests.cli_results import failed_lines, succeeded
from tests.conftest import new_product

Product = products_pb2.Product
HEADER = ['name', 'description', 'price', 'stock_quantity', 'category']
CATEGORIES = ['electronics', 'clothing', 'books', 'home', 'sports', 'toys', 'other']


def generated_rows(count):
    return [[f'Item {index:05d}', f'Batch {index // 100}, item {index}', f'{1 + index % 997}.{index % 100:02d}',
             str(index % 251), CATEGORIES[index % 7]] for index in range(count)]


def write_csv(path, rows, header=HEADER):
    with open(path, 'w', newline='', encoding='utf-8') as file:
        csv.writer(file).writerows([header, *rows])
    return path


def total(stub):
    return stub.ListProducts(products_pb2.ListProductsRequest()).total_size


def every_product(stub):
    products, request = [], products_pb2.ListProductsRequest(page_size=100)
    while True:
        page = stub.ListProducts(request)
        products += page.products
        if not page.next_page_token:
            return products
        request.page_token = page.next_page_token


def refused_lines(result):
    return failed_lines(result, 1)


def test_ten_thousand_rows_are_imported_with_a_progress_bar(ecommerce, products_stub, tmp_path, figures):
    rows = generated_rows(10_000)
    path = write_csv(tmp_path / 'catalogue.csv', rows)
    started = time.perf_counter()
    result = ecommerce('products', 'import', path)
    seconds = time.perf_counter() - started
    imported = every_product(products_stub)
    assert succeeded(result).strip() == f'Imported 10,000 products, ids {imported[0].id} to {imported[-1].id}.'
    assert 'Importing' in result.stderr and '10000/10000 rows' in result.stderr
    assert total(products_stub) == 10_000
    assert [product.name for product in imported] == [row[0] for row in rows]
    for index in (0, 4_321, 9_999):
        product = imported[index]
        assert [product.name, product.description, product.price, str(product.stock_quantity),
                Product.Category.Name(product.category).lower()] == rows[index]
    figures(rows=10_000, import_seconds=round(seconds, 2))


def test_one_bad_row_among_many_is_named_and_nothing_is_imported(ecommerce, products_stub, tmp_path):
    new_product(products_stub, name='Already here')
    rows = generated_rows(3_000)
    rows[1_234][2] = '-9.99'
    lines = refused_lines(ecommerce('products', 'import', write_csv(tmp_path / 'one-bad.csv', rows)))
    assert lines[-2:] == ['line 1236: price: must be greater than zero',
                          'error: 1 problem on 1 line; nothing was imported']
    assert total(products_stub) == 1


def test_bad_rows_in_different_fields_are_all_named_in_line_order(ecommerce, products_stub, tmp_path):
    rows = generated_rows(600)
    rows[0][1] = 'A description\nover two lines'  # line 2 and 3: the rows after it start a line later
    rows[3][0] = ''                 # line 6: the server's rule
    rows[3][2] = 'abc'              # line 6: the server's rule, in another field
    rows[250][3] = 'lots'           # line 253: no whole number, refused here
    rows[400][4] = 'gadgets'        # line 403: no such category, refused here
    rows[599][3] = '-1'             # line 602: the server's rule
    rows[599][1] = 'x' * 5001       # line 602: the server's rule, in another field
    lines = refused_lines(ecommerce('products', 'import', write_csv(tmp_path / 'bad.csv', rows)))
    assert 'Checking' in lines[0] and '600/600 rows' in lines[0]
    assert lines[1:] == [
        'line 6: name: is required',
        'line 6: price: \'abc\' is not a price: use a decimal string with at most 8 digits before the point and 2 '
        'after, such as "19.99"',
        "line 253: stock_quantity: 'lots' is not a whole number in range",
        "line 403: category: 'gadgets' is not one of electronics, clothing, books, home, sports, toys, other",
        'line 602: description: must be at most 5000 characters',
        f'line 602: stock_quantity: must be between 0 and {rules.MAX_STOCK}, not -1',
        'error: 6 problems on 4 lines; nothing was imported']
    assert total(products_stub) == 0


def test_the_files_shape_is_checked_without_calling_the_server(ecommerce, tmp_path):
    # An address where nothing listens: these problems are found before any call.
    nowhere = ['--products-address', '127.0.0.1:1']
    header = write_csv(tmp_path / 'header.csv', generated_rows(3), header=['name', 'price', 'stock', 'category'])
    assert refused_lines(ecommerce(*nowhere, 'products', 'import', header)) == [
        "line 1: column 'description' is missing",
        "line 1: column 'stock_quantity' is missing",
        "line 1: unknown column 'stock': the columns are id,name,description,price,stock_quantity,category",
        'error: 3 problems on 1 line; nothing was imported']
    rows = generated_rows(5)
    rows[2] = rows[2][:3]
    rows[4][4] = 'gadgets'
    assert refused_lines(ecommerce(*nowhere, 'products', 'import', write_csv(tmp_path / 'short.csv', rows))) == [
        'line 4: has 3 fields; the header has 5',
        "line 6: category: 'gadgets' is not one of electronics, clothing, books, home, sports, toys, other",
        'error: 2 problems on 2 lines; nothing was imported']
    (tmp_path / 'latin1.csv').write_bytes(','.join(HEADER).encode() + b'\nCaf\xe9,,1.00,1,home\n')
    assert refused_lines(ecommerce(*nowhere, 'products', 'import', tmp_path / 'latin1.csv')) == [
        'line 2: is not UTF-8 text: save the file as CSV in UTF-8', 'error: 1 problem on 1 line; nothing was imported']


def test_more_bad_values_than_an_error_can_carry_are_counted(ecommerce, products_stub, tmp_path):
    rows = generated_rows(1_000)
    for row in rows:
        row[2] = '0'
    lines = refused_lines(ecommerce('products', 'import', write_csv(tmp_path / 'all-bad.csv', rows)))
    listed = lines[1:-1]
    assert 10 < len(listed) < 1_000
    assert listed == [f'line {line}: price: must be greater than zero' for line in range(2, 2 + len(listed))]
    assert lines[-1] == (f'error: {len(listed)} problems on {len(listed)} lines, and {1_000 - len(listed)} more '
                         'the server did not list; nothing was imported')
    assert total(products_stub) == 0


def test_a_file_over_the_row_limit_is_refused(ecommerce, products_stub, tmp_path, monkeypatch):
    monkeypatch.setattr(rules, 'MAX_IMPORT_ROWS', 5)  # the in-process server's limit
    lines = refused_lines(ecommerce('products', 'import', write_csv(tmp_path / 'six.csv', generated_rows(6))))
    assert lines[-1] == 'error: products: at most 5 products per import; split the file (INVALID_ARGUMENT)'
    assert total(products_stub) == 0


def test_a_dry_run_checks_and_imports_nothing(ecommerce, products_stub, tmp_path):
    path = write_csv(tmp_path / 'fine.csv', generated_rows(20))
    assert succeeded(ecommerce('products', 'import', '--dry-run', path)).strip() == \
           'Every row is valid; nothing was imported (--dry-run).'
    assert total(products_stub) == 0


def test_import_json_is_the_apis_response(ecommerce, products_stub, tmp_path):
    response = json.loads(succeeded(ecommerce('--json', 'products', 'import',
                                              write_csv(tmp_path / 'two.csv', generated_rows(2)))))
    ids = [product.id for product in every_product(products_stub)]
    assert response == {'imported_count': 2, 'first_id': str(ids[0]), 'last_id': str(ids[1])}


TRICKY = [
    dict(name='Éclair ☕', description='', price='0.01', stock_quantity=0, category=Product.OTHER),
    dict(name='Desk, "oak"', description='Line one\nline two, "quoted"', price='99999999.99', stock_quantity=7,
         category=Product.HOME),
    dict(name="  Sp'ace  ", description='  kept as is  ', price='12.30', stock_quantity=1_000_000_000,
         category=Product.TOYS),
    dict(name='=SUM(A1)', description='=not a formula here', price='5', stock_quantity=3, category=Product.BOOKS),
]


def test_export_imports_again_to_the_same_values(ecommerce, products_stub, tmp_path):
    originals = [products_stub.CreateProduct(products_pb2.CreateProductRequest(product=Product(**fields)))
                 for fields in TRICKY]
    path = tmp_path / 'export.csv'
    result = ecommerce('products', 'export', path)
    assert succeeded(result) == ''
    assert result.stderr.strip() == f'Exported 4 products to {path}.'
    succeeded(ecommerce('products', 'import', path))
    copies = every_product(products_stub)[len(originals):]

    def values(product):
        return product.name, product.description, product.price, product.stock_quantity, product.category
    assert [values(copy) for copy in copies] == [values(original) for original in originals]
    assert min(copy.id for copy in copies) > max(original.id for original in originals)


def test_export_to_standard_output_is_csv_with_the_id_first(ecommerce, products_stub):
    made = [new_product(products_stub, name=name, price='2.50', stock=stock) for name, stock in [('A', 1), ('B', 0)]]
    exported = list(csv.reader(io.StringIO(succeeded(ecommerce('products', 'export')))))
    assert exported == [['id', *HEADER]] + [[str(product.id), product.name, '', '2.50', str(product.stock_quantity),
                                             'electronics'] for product in made]


def test_an_export_that_fails_leaves_the_previous_file_and_no_partial_one(ecommerce, tmp_path):
    path = tmp_path / 'export.csv'
    path.write_text('the previous export\n')
    result = ecommerce('--products-address', '127.0.0.1:1', 'products', 'export', path)
    assert failed_lines(result, 3)[-1].startswith('error: cannot reach the Products service at 127.0.0.1:1 ')
    assert path.read_text() == 'the previous export\n'
    assert [child.name for child in tmp_path.iterdir()] == ['export.csv']
