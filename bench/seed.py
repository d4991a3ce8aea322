"""Seeds our Products database in bulk straight through Peewee, not the API: a million rows in about a minute where
CreateProduct calls would take far longer. Rows come from bench.dataset, as the baseline's do, so product n gets id n
in both systems."""
import time

import peewee

from bench import dataset
from storage import products as products_storage
from storage.database import bind, utcnow

Product = products_storage.Product
FIELDS = [Product.name, Product.search_name, Product.description, Product.price, Product.stock_quantity,
          Product.category, Product.created_at, Product.updated_at]
# Rows per INSERT (8 parameters each stays under SQLite's 32,766 variables) and per transaction.
BATCH_ROWS = 2000


def seed_products(url, count):
    """Insert dataset.products(count) into the empty Products database at `url`; return the seconds it took."""
    database = bind(products_storage.database, url, products_storage.MODELS)
    now = utcnow()
    # search_name is the case-folded name, as services.products.catalog writes it.
    rows = ((product['name'], product['name'].casefold(), product['description'], product['price'],
             product['stock_quantity'], product['category'], now, now) for product in dataset.products(count))
    started = time.perf_counter()
    try:
        with database.connection_context():
            for batch in peewee.chunked(rows, BATCH_ROWS):
                with database.atomic():
                    Product.insert_many(batch, fields=FIELDS).execute()
    finally:
        database.close_all()
    return time.perf_counter() - started
