"""Products as CSV: reading a file into Product messages (naming each bad line), importing it through the
ImportProducts stream with a progress bar, and writing the catalogue back out."""
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ecommerce.cli.api import REFUSED, CommandFailed
from ecommerce.cli.options import enum_names
from ecommerce.cli.output import plural
from ecommerce.defaults import MAX_MESSAGE_BYTES
from ecommerce.products.v1 import products_pb2

Category = products_pb2.Product.Category
COLUMNS = ('name', 'description', 'price', 'stock_quantity', 'category')
# An export writes the id first; an import accepts the column and ignores it, so that an export imports again.
EXPORT_COLUMNS = ('id', *COLUMNS)
CATEGORIES = enum_names(Category)
# Rows per ImportProducts message, and bytes: both keep a message far below the servers' limit.
CHUNK_ROWS = 500
CHUNK_BYTES = MAX_MESSAGE_BYTES // 2
# How the server names a bad value of an import, products[<row>].<field>, and the ErrorInfo metadata that counts
# them all when the error lists only the first ones.
ROW_FIELD = re.compile(r'products\[(\d+)\]\.(\w+)')
VIOLATION_COUNT = 'violation_count'


@dataclass(order=True, frozen=True)
class Problem:
    """What is wrong on one line of the file, in one field (or in the line as a whole)."""
    line: int
    field: str
    problem: str

    def __str__(self):
        return f'line {self.line}: {self.field}: {self.problem}' if self.field else f'line {self.line}: {self.problem}'


@dataclass
class CsvProducts:
    products: list = field(default_factory=list)  # one Product per data row
    lines: list = field(default_factory=list)  # the line each row starts on (a quoted field may span lines)
    # A Problem for each value no Product field can hold, and for each line of the wrong shape (without a field).
    problems: list = field(default_factory=list)


def read_products(path):
    """Read a CSV file of products: UTF-8 (a byte order mark allowed), a header row naming COLUMNS (in any order,
    `id` allowed and ignored), then one product per record. An empty cell leaves its field unset, for the API's
    default or its "is required". Raises CommandFailed if the file cannot be opened."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CommandFailed([f'cannot read {path}: {error.strerror}'], REFUSED) from None
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b'\n') + 1
        return CsvProducts(problems=[Problem(line, '', 'is not UTF-8 text: save the file as CSV in UTF-8')])
    return _rows(csv.reader(io.StringIO(text, newline='')))


def _rows(reader):
    read = CsvProducts()
    header = [name.strip() for name in next(reader, [])]
    read.problems = _header_problems(header)
    if read.problems:
        return read
    line = reader.line_num + 1
    try:
        for cells in reader:
            if cells:  # csv reads a blank line as []
                product, problems = _product(line, header, cells)
                read.products.append(product)
                read.lines.append(line)
                read.problems += problems
            line = reader.line_num + 1
    except csv.Error as error:  # a field past csv's size limit, a quote left open at the end
        read.problems.append(Problem(line, '', f'cannot be read as CSV: {error}'))
    return read


def _header_problems(header):
    if not header:
        return [Problem(1, '', f'the file is empty: the first line must name the columns {",".join(COLUMNS)}')]
    problems = [Problem(1, '', f'column {name!r} is missing') for name in COLUMNS if name not in header]
    problems += [Problem(1, '', f'unknown column {name!r}: the columns are {",".join(EXPORT_COLUMNS)}')
                 for name in header if name not in EXPORT_COLUMNS]
    problems += [Problem(1, '', f'column {name!r} appears twice')
                 for name in sorted(set(header)) if header.count(name) > 1]
    return problems


def _product(line, header, cells):
    """The Product of one row, and a Problem for each cell its field's type cannot hold (or for the row)."""
    product, problems = products_pb2.Product(), []
    if len(cells) != len(header):
        return product, [Problem(line, '', f'has {len(cells)} fields; the header has {len(header)}')]
    cells = dict(zip(header, cells, strict=True))
    for name in ('name', 'description', 'price'):
        if cells[name]:
            setattr(product, name, cells[name])
    stock = cells['stock_quantity'].strip()
    if stock:
        try:
            product.stock_quantity = int(stock)
        except ValueError:  # not a whole number, or beyond the field's 32 bits
            problems.append(Problem(line, 'stock_quantity', f'{stock[:40]!r} is not a whole number in range'))
    category = cells['category'].strip().lower()
    if category in CATEGORIES:
        product.category = Category.Value(category.upper())
    elif category:
        problems.append(Problem(line, 'category', f'{category[:40]!r} is not one of {", ".join(CATEGORIES)}'))
    if product.ByteSize() > CHUNK_BYTES:
        problems.append(Problem(line, '', f'the row is larger than {CHUNK_BYTES:,} bytes'))
    return product, problems


def _chunks(products):
    """The products in lists that each make a message of at most CHUNK_ROWS rows and CHUNK_BYTES bytes."""
    chunk, size = [], 0
    for product in products:
        if chunk and (len(chunk) == CHUNK_ROWS or size + product.ByteSize() > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(product)
        size += product.ByteSize() + 8  # the field's tag and length
    if chunk:
        yield chunk


def import_products(products_api, path, validate_only=False):
    """Import a CSV file (read_products) through ImportProducts, all rows or none, with a progress bar on stderr;
    return the ImportProductsResponse.

    Raises CommandFailed listing every bad line and field. A file of the wrong shape (its header, a line's number
    of fields) is refused without calling the server. Otherwise the problems are found in one pass: values no
    Product field can hold (a category that does not exist), which the server never sees, and the server's own;
    a file with problems of the first kind is sent with validate_only, so that every row is checked and nothing
    imported. Waits for the service up to its timeout per 1,000 rows.
    """
    read = read_products(path)
    problems, unlisted = list(read.problems), 0
    if any(not problem.field for problem in problems):
        raise CommandFailed([*map(str, sorted(problems)), _refusal(problems, unlisted)], REFUSED)
    check_only = validate_only or bool(problems)
    progress = Progress(TextColumn('{task.description}'), BarColumn(), MofNCompleteColumn(), TextColumn('rows'),
                        TimeElapsedColumn(), console=Console(stderr=True))
    with progress:
        task = progress.add_task('Checking' if check_only else 'Importing', total=len(read.products))

        def requests():
            for chunk in _chunks(read.products):
                yield products_pb2.ImportProductsRequest(products=chunk, validate_only=check_only)
                progress.advance(task, len(chunk))
        try:
            response = products_api.ImportProducts(
                requests(), timeout=products_api.timeout * (1 + len(read.products) // 1000))
        except CommandFailed as failure:
            server_problems = _row_problems(failure, read.lines)
            if not server_problems:
                raise
            problems += _new_problems(server_problems, problems)
            unlisted = int(failure.metadata.get(VIOLATION_COUNT, 0)) - len(failure.violations)
    if problems:
        raise CommandFailed([*map(str, sorted(problems)), _refusal(problems, unlisted)], REFUSED)
    return response


def _row_problems(failure, lines):
    """The server's violations of a refused import as Problems on the file's lines (none if it named no row)."""
    problems = []
    for name, description in failure.violations:
        match = ROW_FIELD.fullmatch(name)
        if match and int(match[1]) < len(lines):
            problems.append(Problem(lines[int(match[1])], match[2], description))
    return problems


def _new_problems(server_problems, found):
    """The server's problems but those of a field already found wrong here (a category the file spells wrong
    reaches the server unset, which it calls missing)."""
    known = {(problem.line, problem.field) for problem in found}
    return [problem for problem in server_problems if (problem.line, problem.field) not in known]


def _refusal(problems, unlisted):
    """The last line of a refused import: how many problems on how many lines, and that nothing was imported."""
    more = f', and {unlisted} more the server did not list' if unlisted > 0 else ''
    lines = len({problem.line for problem in problems})
    return f'{plural(len(problems), "problem")} on {plural(lines, "line")}{more}; nothing was imported'


def write_products(products, file):
    """Write `products` (Product messages) as CSV with a header row, EXPORT_COLUMNS, to an open text file;
    return how many were written."""
    writer = csv.writer(file, lineterminator='\n')
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for product in products:
        writer.writerow([product.id, product.name, product.description, product.price, product.stock_quantity,
                         Category.Name(product.category).lower()])
        count += 1
    return count
