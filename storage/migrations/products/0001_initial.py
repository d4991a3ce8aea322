"""Products' schema as the last release before migrations made it: the catalogue, stock reservations and their
lines, stock movements, and (storage.catalog_index) the search index on product names with its triggers and
the maintained product count, in each backend's own SQL.

The models are frozen copies of storage/products.py as it was then: later changes go in later migrations.
There is no down(): undoing this would drop the whole catalogue.
"""
import peewee

from storage.database import IdField, utcnow
from storage.schema import add_missing_columns


class Product(peewee.Model):
    id = IdField()
    name = peewee.CharField(max_length=200, index=True)
    search_name = peewee.CharField(max_length=600)
    description = peewee.TextField(default='')
    price = peewee.DecimalField(max_digits=10, decimal_places=2, constraints=[peewee.Check('price > 0')])
    stock_quantity = peewee.IntegerField(default=0, constraints=[peewee.Check('stock_quantity >= 0')])
    category = peewee.CharField(max_length=20, index=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'products'


class StockReservation(peewee.Model):
    id = IdField()
    reservation_id = peewee.CharField(max_length=100, unique=True)
    state = peewee.CharField(max_length=10, index=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'stock_reservations'


class StockReservationLine(peewee.Model):
    id = IdField()
    reservation = peewee.ForeignKeyField(StockReservation, on_delete='CASCADE')
    position = peewee.IntegerField()
    product_id = peewee.BigIntegerField()
    quantity = peewee.IntegerField()
    product_name = peewee.CharField(max_length=200)
    unit_price = peewee.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        table_name = 'stock_reservation_lines'


class StockMovement(peewee.Model):
    id = IdField()
    product_id = peewee.BigIntegerField(index=True)
    delta = peewee.IntegerField()
    stock_after = peewee.IntegerField()
    reason = peewee.CharField(max_length=10)
    reservation_id = peewee.CharField(max_length=100, null=True)
    request_id = peewee.CharField(max_length=100)
    actor = peewee.CharField(max_length=200, null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = 'stock_movements'


MODELS = [Product, StockReservation, StockReservationLine, StockMovement]

# An FTS5 table with the trigram tokenizer over products.search_name (external content), kept by triggers, and
# the product counter kept by triggers.
SQLITE_CATALOG_INDEX = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS product_search USING fts5("
    "search_name, content='products', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS product_search_insert AFTER INSERT ON products BEGIN "
    "INSERT INTO product_search(rowid, search_name) VALUES (new.id, new.search_name); END",
    "CREATE TRIGGER IF NOT EXISTS product_search_delete AFTER DELETE ON products BEGIN "
    "INSERT INTO product_search(product_search, rowid, search_name) VALUES ('delete', old.id, old.search_name); END",
    "CREATE TRIGGER IF NOT EXISTS product_search_update AFTER UPDATE OF search_name ON products BEGIN "
    "INSERT INTO product_search(product_search, rowid, search_name) VALUES ('delete', old.id, old.search_name); "
    "INSERT INTO product_search(rowid, search_name) VALUES (new.id, new.search_name); END",
    "CREATE TABLE IF NOT EXISTS product_count (id INTEGER PRIMARY KEY CHECK (id = 1), total INTEGER NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS product_count_insert AFTER INSERT ON products BEGIN "
    "UPDATE product_count SET total = total + 1; END",
    "CREATE TRIGGER IF NOT EXISTS product_count_delete AFTER DELETE ON products BEGIN "
    "UPDATE product_count SET total = total - 1; END",
    "INSERT OR IGNORE INTO product_count (id, total) SELECT 1, count(*) FROM products",
]
# Statement-level triggers see every row of a bulk insert at once: one counter update per statement.
POSTGRES_CATALOG_INDEX = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS products_search_name_trgm ON products USING gin (search_name gin_trgm_ops)",
    "CREATE TABLE IF NOT EXISTS product_count (id INTEGER PRIMARY KEY CHECK (id = 1), total BIGINT NOT NULL)",
    "CREATE OR REPLACE FUNCTION product_count_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "UPDATE product_count SET total = total + (SELECT count(*) FROM added); RETURN NULL; END $$",
    "CREATE OR REPLACE FUNCTION product_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "UPDATE product_count SET total = total - (SELECT count(*) FROM removed); RETURN NULL; END $$",
    "CREATE OR REPLACE TRIGGER product_count_insert AFTER INSERT ON products REFERENCING NEW TABLE AS added "
    "FOR EACH STATEMENT EXECUTE FUNCTION product_count_added()",
    "CREATE OR REPLACE TRIGGER product_count_delete AFTER DELETE ON products REFERENCING OLD TABLE AS removed "
    "FOR EACH STATEMENT EXECUTE FUNCTION product_count_removed()",
    "INSERT INTO product_count (id, total) SELECT 1, count(*) FROM products ON CONFLICT (id) DO NOTHING",
]


def up(migrator, db):
    """Make the tables, then the search index and the counter."""
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=False)
    _catalog_index(db)


def adopt(migrator, db):
    """Bring a database made before migrations to this one: an earlier release may lack columns added since
    (search_name is filled from the names, as the writers fold them), whole tables, or the search index (built
    from the rows there)."""
    with db.bind_ctx(MODELS):
        add_missing_columns(db, MODELS, {'search_name': ('name', str.casefold)})
        db.create_tables(MODELS)
    _catalog_index(db)


def _catalog_index(db):
    sqlite = isinstance(db, peewee.SqliteDatabase)
    index_existed = not sqlite or db.table_exists('product_search')
    for statement in SQLITE_CATALOG_INDEX if sqlite else POSTGRES_CATALOG_INDEX:
        db.execute_sql(statement)
    if not index_existed:  # products written before the index existed
        db.execute_sql("INSERT INTO product_search(product_search) VALUES ('rebuild')")
