"""What keeps catalogue reads fast at a million products: a substring index on product names and a
maintained product count, both kept in step with every write by the database itself (triggers and
index maintenance run inside the writing transaction, whoever writes: the service or a bulk load).

SQLite: an FTS5 table with the trigram tokenizer over products.search_name (external content, so the
names are not stored twice). PostgreSQL: a pg_trgm GIN index on the same column, which the planner
uses for LIKE '%...%'. Either answers a substring of 3 characters or more from the index; a shorter
one is a scan of the names, as before.
"""
import peewee

# Fewer characters than a trigram cannot be looked up in a trigram index.
MIN_INDEXED_LENGTH = 3
# Aliased to its own name, so that query plans name it.
_INDEX = peewee.Table('product_search').alias('product_search')

_SQLITE_SCHEMA = [
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
_POSTGRES_SCHEMA = [
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


def is_sqlite(database):
    """True on SQLite, whether given the database or a DatabaseProxy bound to it."""
    return isinstance(getattr(database, 'obj', database), peewee.SqliteDatabase)


def install(database):
    """Create the index and the counter if missing, filling them from the rows already there."""
    sqlite = is_sqlite(database)
    with database.atomic():
        index_existed = not sqlite or database.table_exists('product_search')
        for statement in _SQLITE_SCHEMA if sqlite else _POSTGRES_SCHEMA:
            database.execute_sql(statement)
        if not index_existed:  # products written before the index existed
            database.execute_sql("INSERT INTO product_search(product_search) VALUES ('rebuild')")


def search(product, text, conditions):
    """The products (`product`, the model) whose folded name contains `text` (already folded; '' for any)
    and that meet every one of `conditions`: (query, the column to page it by, how many there are).

    On SQLite, from 3 characters, the query starts from the FTS5 index, which yields the matching ids
    in order, so that a page stops after its rows instead of first collecting every match (as an
    `id IN (...)` condition does); with no other condition, the index alone counts the matches,
    without reading a product.
    """
    if len(text) < MIN_INDEXED_LENGTH or not is_sqlite(product._meta.database):
        if text:  # LIKE, wildcards escaped; pg_trgm's index serves it
            conditions = [*conditions, product.search_name.contains(text)]
        query = product.select().where(*conditions) if conditions else product.select()
        return query, product.id, query.count()
    phrase = '"' + text.replace('"', '""') + '"'  # a quoted FTS5 string: its trigrams in a row
    matching_ids = _INDEX.select(_INDEX.c.rowid.alias('id')).where(
        peewee.Expression(_INDEX.c.product_search, 'MATCH', phrase))
    matches = matching_ids.alias('matches')
    # CROSS JOIN keeps the index in the outer loop: SQLite could otherwise walk a category's index and
    # run the full-text query once per product in it.
    query = product.select().from_(peewee.Join(matches, product, peewee.JOIN.CROSS, on=product.id == matches.c.id))
    if not conditions:
        return query, matches.c.id, matching_ids.select(peewee.fn.COUNT(peewee.SQL('*'))).scalar(product._meta.database)
    # Counted as `id IN (...)`, which lets SQLite look each match up in the category's index, half the
    # time of reading each matching product as the join does.
    total = product.select().where(product.id.in_(matching_ids), *conditions).count()
    return query.where(*conditions), matches.c.id, total


def product_total(database):
    """How many products there are, read from the maintained counter rather than counted."""
    return database.execute_sql('SELECT total FROM product_count WHERE id = 1').fetchone()[0]
