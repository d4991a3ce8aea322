"""Versioned schema migrations: each service's folder under storage/migrations/ holds numbered scripts that
playhouse.migrations (Peewee's own runner, the one `pwmigrate` drives) applies in order and records in the
database's `schema_migration` table; a database is at the version of the last one recorded.

Migrations run under one lock per database, so that replicas and workers starting together apply each once.
A database made before migrations existed (its tables there, no history table) is adopted: its first
migration's `adopt()` brings what an earlier release made up to that migration (columns added since, filled),
which is then recorded as applied without being run; nothing is dropped or made again.
"""
import contextlib
import contextvars
import fcntl
import logging
from collections import namedtuple
from pathlib import Path

import peewee
from ecommerce.defaults import SHOP_CURRENCY
from playhouse.migrate import SchemaMigrator, migrate
from playhouse.migrations import Runner

from storage.database import keyset_page

log = logging.getLogger('storage')

MIGRATIONS = Path(__file__).parent / 'migrations'
# pwmigrate's default name, so that its `status` reads the same history.
HISTORY_TABLE = 'schema_migration'
# Any fixed number: the PostgreSQL advisory lock that one process at a time holds while it migrates.
SCHEMA_LOCK = 7_114_046
# Rows read at a time when a column added to a table is filled (backfill).
BACKFILL_ROWS = 1000

# One migration as the database and the code see it: state is 'applied', 'pending', 'adoptable' (the first
# migration of a database made before migrations) or 'unknown' (in the database's history only: it is newer
# than this code); applied is when it was recorded, or None.
MigrationState = namedtuple('MigrationState', 'name state applied')


# The shop's currency while migrations run (upgrade): what a migration fills an added currency column with in the
# rows written before it.
_SHOP_CURRENCY = contextvars.ContextVar('shop_currency', default=SHOP_CURRENCY)


def shop_currency():
    """For a migration: the shop's currency, which amounts already in the database are in."""
    return _SHOP_CURRENCY.get()


class SchemaTooNew(ValueError):
    """The database has migrations this code does not know: a later release migrated it."""


def migrations_folder(service):
    """The folder of `service`'s migrations (products, orders)."""
    return MIGRATIONS / service


@contextlib.contextmanager
def schema_lock(database):
    """Hold the database's schema lock (a connected `database`): PostgreSQL's advisory lock for the session,
    on SQLite a kernel file lock on `<database>-schema`, released with its file if the process dies. Each
    migration then runs in a transaction of its own, outside which SQLite can turn foreign keys off, as
    rebuilding a table needs."""
    if isinstance(database, peewee.PostgresqlDatabase):
        database.execute_sql('SELECT pg_advisory_lock(%s)', (SCHEMA_LOCK,))
        try:
            yield
        finally:
            database.execute_sql('SELECT pg_advisory_unlock(%s)', (SCHEMA_LOCK,))
        return
    with open(f'{database.database}-schema', 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def status(database, folder):
    """Every migration of `folder` and of the database's history, in order, as MigrationStates."""
    runner = Runner(database, str(folder), HISTORY_TABLE)
    rows = runner.status()
    adoptable = rows and not runner.History.table_exists() and _made_before_migrations(database, rows[0])
    return [MigrationState(row.name,
                           'unknown' if row.path is None else 'applied' if row.applied else
                           'adoptable' if adoptable and index == 0 else 'pending',
                           row.applied)
            for index, row in enumerate(rows)]


def version(states, known=True):
    """The name of the last migration applied (known=True) or in the code (known=False), or 'none'."""
    names = [state.name for state in states
             if (state.state in ('applied', 'unknown') if known else state.state != 'unknown')]
    return names[-1] if names else 'none'


def upgrade(database, folder, currency=SHOP_CURRENCY):
    """Apply `folder`'s pending migrations to `database` (connected) under the schema lock, adopting a database
    made before migrations first; returns the names applied. SchemaTooNew when the database is newer. `currency` is
    the shop's (shop_currency())."""
    reset = _SHOP_CURRENCY.set(currency)
    try:
        applied = _upgrade(database, folder)
    finally:
        _SHOP_CURRENCY.reset(reset)
    for name in applied:
        log.info('%s database migrated to %s', folder.name, name,
                 extra={'fields': {'database': folder.name, 'migration': name}})
    return applied


def _upgrade(database, folder):
    with schema_lock(database):
        states = status(database, folder)
        if any(state.state == 'unknown' for state in states):
            raise SchemaTooNew(f'the {folder.name} database is at schema version {version(states)}, which this '
                               f'code does not know (its latest: {version(states, known=False)}): run the release '
                               'that migrated it, or restore the backup taken before that upgrade')
        runner = Runner(database, str(folder), HISTORY_TABLE)
        if states and states[0].state == 'adoptable':
            first = runner.migrations()[0]
            with runner.migrator.migration_context():
                first.load().adopt(runner.migrator, database)
                runner.fake(first.name)
            log.info('%s database adopted at %s', folder.name, first.name,
                     extra={'fields': {'database': folder.name, 'migration': first.name}})
        return runner.up()


def add_currency_column(database, table):
    """Give `table` a NOT NULL `currency_code` whose rows, and default, are the shop's currency: one statement, which
    rewrites no row on SQLite or PostgreSQL (each keeps a new column's constant default in its catalogue), where a
    filled-in column made NOT NULL afterwards would rebuild a table of a million products on SQLite."""
    code = shop_currency()
    if not (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()):
        raise ValueError(f'the shop currency {code!r} is not an ISO 4217 code')
    database.execute_sql(f"ALTER TABLE {table} ADD COLUMN currency_code VARCHAR(3) NOT NULL DEFAULT '{code}'")


def currency_field():
    """The models' currency_code column as add_currency_column makes it (in a database migrated for another shop
    currency, its default is that one; every writer gives the column a value anyway)."""
    return peewee.CharField(max_length=3, constraints=[peewee.SQL(f"DEFAULT '{SHOP_CURRENCY}'")])


def _made_before_migrations(database, first):
    """Whether the tables of the `first` migration (a playhouse Migration) are there already."""
    return any(database.table_exists(model._meta.table_name) for model in first.load().MODELS)


def add_missing_columns(database, models, backfills):
    """For adoption: give tables made by an earlier release the columns of `models` (frozen in a migration) they
    lack, with their indexes. A column named in `backfills` (field name -> (source field name, compute)) is added
    nullable, filled with compute(the row's source field), then made NOT NULL, as peewee does for a default."""
    migrator = SchemaMigrator.from_database(database)
    for model in models:
        table = model._meta.table_name
        if not database.table_exists(table):
            continue
        present = {column.name for column in database.get_columns(table)}
        for field in [field for field in model._meta.sorted_fields if field.column_name not in present]:
            if field.name not in backfills:
                migrate(migrator.add_column(table, field.column_name, field))
                continue
            field.null = True
            try:
                migrate(migrator.add_column(table, field.column_name, field))
            finally:
                field.null = False
            backfill(model, field, *backfills[field.name])
            migrate(migrator.add_not_null(table, field.column_name))


def backfill(model, field, source_name, compute):
    """Fill `field`, a column just added to a table with rows, with compute(the row's `source_name` field); a
    thousand rows at a time, in key order."""
    source, key = model._meta.fields[source_name], model._meta.primary_key
    after = None
    while True:
        rows, after = keyset_page(model.select(key, source), key, BACKFILL_ROWS, after)
        for row in rows:
            model.update({field: compute(getattr(row, source_name))}).where(key == getattr(row, key.name)).execute()
        if after is None:
            return
