"""`ecommerce products ...` and `ecommerce stock low`: the catalogue through ProductService."""
import sys
from pathlib import Path
from typing import Annotated

import typer
from google.protobuf import field_mask_pb2
from rich.console import Console
from rich.text import Text

from ecommerce.cli import output, product_csv
from ecommerce.cli.api import REFUSED, CommandFailed, pages
from ecommerce.cli.options import All, JsonFlag, Limit, choice, enum_value, json_wanted, show_listing
from ecommerce.cli.output import plural
from ecommerce.defaults import MAX_PAGE_SIZE
from ecommerce.products.v1 import products_pb2

app = typer.Typer(help='The catalogue: list, search, show, create, change, delete, import and export products.',
                  no_args_is_help=True)
stock_app = typer.Typer(help='Stock levels.', no_args_is_help=True)

Category = products_pb2.Product.Category
CategoryName = choice('CategoryName', Category)
ProductId = Annotated[int, typer.Argument(metavar='ID', help='The product id.', show_default=False)]
Name = Annotated[str | None, typer.Option(help='1-200 characters.', show_default=False)]
Description = Annotated[str | None, typer.Option(help='Free text, at most 5000 characters.', show_default=False)]
Price = Annotated[str | None, typer.Option(help='A decimal such as 19.99, greater than zero.', show_default=False)]
Stock = Annotated[int | None, typer.Option('--stock', '--stock-quantity', help='Units in stock, 0 or more.',
                                           show_default=False)]
CategoryOption = Annotated[CategoryName | None, typer.Option('--category', case_sensitive=False,
                                                             show_default=False)]


def _fields(name, description, price, stock, category):
    """The Product fields given on the command line, by their API names."""
    given = {'name': name, 'description': description, 'price': price, 'stock_quantity': stock,
             'category': enum_value(Category, category)}
    return {field: value for field, value in given.items() if value is not None}


def _listing(ctx, call, request, limit, everything, json_output):
    show_listing(ctx, call, request, 'products', output.product_table, limit, everything, json_output)


@app.command('list')
def list_products(ctx: typer.Context, limit: Limit = 20, everything: All = False, json_output: JsonFlag = False):
    """List products in id order."""
    _listing(ctx, ctx.obj.products.ListProducts, products_pb2.ListProductsRequest(), limit, everything, json_output)


@app.command()
def search(ctx: typer.Context,
           query: Annotated[str, typer.Argument(help='A part of the name, any case.')] = '',
           category: CategoryOption = None,
           min_price: Annotated[str, typer.Option(help='Lowest price, inclusive.')] = '',
           max_price: Annotated[str, typer.Option(help='Highest price, inclusive.')] = '',
           stock_below: Annotated[int | None, typer.Option(help='Only products with fewer units in stock.',
                                                           show_default=False)] = None,
           limit: Limit = 20, everything: All = False, json_output: JsonFlag = False):
    """Search products by name, category, price range and stock level."""
    request = products_pb2.SearchProductsRequest(q=query, category=enum_value(Category, category), min_price=min_price,
                                                 max_price=max_price, stock_below=stock_below)
    _listing(ctx, ctx.obj.products.SearchProducts, request, limit, everything, json_output)


@stock_app.command('low')
def low_stock(ctx: typer.Context,
              below: Annotated[int, typer.Option(help='Show products with fewer units than this.')] = 10,
              limit: Limit = 20, everything: All = False, json_output: JsonFlag = False):
    """Products running out: fewer than --below units in stock, in id order."""
    _listing(ctx, ctx.obj.products.SearchProducts, products_pb2.SearchProductsRequest(stock_below=below), limit,
             everything, json_output)


@app.command()
def get(ctx: typer.Context, product_id: ProductId, json_output: JsonFlag = False):
    """Show one product."""
    product = ctx.obj.products.GetProduct(products_pb2.GetProductRequest(id=product_id))
    output.print_message(product, output.product_detail, json_wanted(ctx, json_output))


@app.command()
def create(ctx: typer.Context, name: Name = None, description: Description = None, price: Price = None,
           stock: Stock = None, category: CategoryOption = None, json_output: JsonFlag = False):
    """Create a product: --name, --price and --category are required."""
    product = products_pb2.Product(**_fields(name, description, price, stock, category))
    created = ctx.obj.products.CreateProduct(products_pb2.CreateProductRequest(product=product))
    output.print_message(created, output.product_detail, json_wanted(ctx, json_output))


@app.command()
def update(ctx: typer.Context, product_id: ProductId, name: Name = None, description: Description = None,
           price: Price = None, stock: Stock = None, category: CategoryOption = None, json_output: JsonFlag = False):
    """Change the fields given, and only those (--description '' clears the description)."""
    fields = _fields(name, description, price, stock, category)
    updated = ctx.obj.products.UpdateProduct(products_pb2.UpdateProductRequest(
        product=products_pb2.Product(id=product_id, **fields), update_mask=field_mask_pb2.FieldMask(paths=fields)))
    output.print_message(updated, output.product_detail, json_wanted(ctx, json_output))


@app.command()
def delete(ctx: typer.Context, product_id: ProductId, json_output: JsonFlag = False):
    """Delete a product (orders keep their copy of its name and price)."""
    deleted = ctx.obj.products.DeleteProduct(products_pb2.DeleteProductRequest(id=product_id))
    output.print_message(deleted, lambda _: f'Deleted product {product_id}.', json_wanted(ctx, json_output))


@app.command('import')
def import_csv(ctx: typer.Context,
               file: Annotated[Path, typer.Argument(metavar='FILE.csv', exists=True, dir_okay=False,
                                                    help=f'Header {",".join(product_csv.COLUMNS)} '
                                                         '(an id column is ignored), UTF-8.')],
               dry_run: Annotated[bool, typer.Option(help='Check every row, import nothing.')] = False,
               json_output: JsonFlag = False):
    """Import products from CSV, all or none: every bad line is reported and nothing is imported."""
    response = product_csv.import_products(ctx.obj.products, file, validate_only=dry_run)
    output.print_message(response, lambda response: _imported(response, dry_run), json_wanted(ctx, json_output))


def _imported(response, dry_run):
    if dry_run:
        return 'Every row is valid; nothing was imported (--dry-run).'
    return f'Imported {plural(response.imported_count, "product")}, ids {response.first_id} to {response.last_id}.'


@app.command(help=f'Export every product as CSV ({",".join(product_csv.EXPORT_COLUMNS)}), which imports again.')
def export(ctx: typer.Context,
           file: Annotated[Path | None, typer.Argument(metavar='[FILE.csv]', dir_okay=False,
                                                       help='Where to write; standard output if left out.',
                                                       show_default=False)] = None):
    products = (product for page in pages(ctx.obj.products.ListProducts,
                                          products_pb2.ListProductsRequest(page_size=MAX_PAGE_SIZE))
                for product in page.products)
    if file is None:
        product_csv.write_products(products, sys.stdout)
        return
    # Written beside the file, then renamed: an export cut off (a service gone, Ctrl-C) leaves no half file.
    partial = file.with_name(f'.{file.name}.partial')
    try:
        with open(partial, 'w', encoding='utf-8', newline='') as csv_file:
            count = product_csv.write_products(products, csv_file)
        partial.replace(file)
    except OSError as error:
        raise CommandFailed([f'cannot write {file}: {error.strerror}'], REFUSED) from None
    finally:
        partial.unlink(missing_ok=True)
    Console(stderr=True).print(Text(f'Exported {plural(count, "product")} to {file}.'))
