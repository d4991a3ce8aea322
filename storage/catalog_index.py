"""What keeps catalogue reads fast at a million products: a substring index on product names and a
maintained product count, both kept in step with every write by the database itself (triggers and
index maintenance run inside the writing transaction, whoever writes: the service or a bulk load).

SQLite: an FTS5 table with the trigram tokenizer over products.search_name (external content, so the
names are not stored twice). PostgreSQL: a pg_trgm GIN index on the same column, which the planner
uses for LIKE '%...%'. Either answers a substring of 3 characters or more from the index; a shorter
one is a scan of the names, as before. The index, its triggers and the counter are made by the Products
migrations (storage/migrations/products/).
"""
import peewee

# Fewer characters than a trigram cannot be looked up in a trigram index.
MIN_INDEXED_LENGTH = 3
# Aliased to its own name, so that query plans name it.
_INDEX = peewee.Table('product_search').alias('product_search')


def is_sqlite(database):
    """True on SQLite, whether given the database or a DatabaseProxy bound to it."""
    return isinstance(getattr(database, 'obj', database), peewee.SqliteDatabase)


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
