"""Schema migrations: every migration applied to a fresh database gives the tables the models describe, a
database made before migrations is adopted with its rows, a newer one is refused, and they run once however
many processes start together."""
import multiprocessing
import re
import subprocess
import sys

import peewee
import pytest
from playhouse.migrations import Runner
from playhouse.schema_diff import diff_models

from bench.processes import ROOT
from storage import orders as orders_storage
from storage import products as products_storage
from storage import schema
from storage.database import open_database, prepare_schema
from storage.products import Product

SERVICES = {'products': products_storage, 'orders': orders_storage}
# Made by the migrations in raw SQL, which a model cannot declare: PostgreSQL's trigram index on the folded names
# (storage.catalog_index; on SQLite the search index is a table of its own, apart from the models' tables).
RAW_SQL_INDEXES = {'products_search_name_trgm'}


def describe(database, models):
    """Each of `models`' tables as `database` describes it: columns (type, length, nullability, key, default),
    indexes, foreign keys, and constraints (CHECK, ON DELETE; SQLite's AUTOINCREMENT)."""
    described = {}
    for model in models:
        table = model._meta.table_name
        if isinstance(database, peewee.PostgresqlDatabase):
            columns = database.execute_sql(
                'SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, '
                'is_nullable, column_default FROM information_schema.columns '
                'WHERE table_schema = current_schema() AND table_name = %s', (table,)).fetchall()
            constraints = database.execute_sql(
                'SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass',
                (table,)).fetchall()
        else:
            columns = [row[1:] for row in database.execute_sql(f'PRAGMA table_info("{table}")')]
            sql = database.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                       (table,)).fetchone()[0]
            constraints = [*re.findall(r'CHECK \([^)]*\)|AUTOINCREMENT', sql),
                           *(row[2:] for row in database.execute_sql(f'PRAGMA foreign_key_list("{table}")'))]
        described[table] = {
            'columns': sorted(map(tuple, columns)),
            'indexes': sorted((index.name, tuple(index.columns), index.unique)
                              for index in database.get_indexes(table) if index.name not in RAW_SQL_INDEXES),
            'foreign keys': sorted((key.column, key.dest_table, key.dest_column)
                                   for key in database.get_foreign_keys(table)),
            'constraints': sorted(map(str, constraints)),
        }
    return described


def migrated_and_modelled(database_url, service, models):
    """(the schema every migration of `service` makes, the schema `models` make) on fresh databases of the
    backend under test, and what playhouse.schema_diff (`pwmigrate diff`) finds between the first and the models."""
    migrated, modelled = open_database(database_url(f'{service}_migrated')), open_database(database_url('modelled'))
    try:
        with migrated.connection_context():
            schema.upgrade(migrated, schema.migrations_folder(service))
        with modelled.bind_ctx(models), modelled.connection_context(), migrated.connection_context():
            modelled.create_tables(models)
            drift = diff_models(migrated, models)
            drift = drift._replace(drop_indexes=[index for index in drift.drop_indexes
                                                 if index.name not in RAW_SQL_INDEXES])
            return describe(migrated, models), describe(modelled, models), drift
    finally:
        migrated.close_all()
        modelled.close_all()


@pytest.mark.parametrize('service', sorted(SERVICES))
def test_the_migrations_make_the_tables_the_models_describe(database_url, service):
    migrated, modelled, drift = migrated_and_modelled(database_url, service, SERVICES[service].MODELS)
    assert not drift, f'the models and the migrations disagree (write a migration):\n{drift}'
    assert migrated == modelled


class ProductWithNickname(Product):
    """Product with a field added and no migration for it."""
    nickname = peewee.CharField(max_length=50, null=True, index=True)

    class Meta:
        table_name = 'products'


def test_a_field_added_without_a_migration_is_caught(database_url):
    models = [ProductWithNickname, *products_storage.MODELS[1:]]
    migrated, modelled, drift = migrated_and_modelled(database_url, 'products', models)
    assert 'add column products.nickname' in str(drift)
    assert migrated != modelled


def test_a_database_made_before_migrations_is_adopted_with_its_rows_priced_in_the_shops_currency(database_url):
    url = database_url('products')
    database = open_database(url)
    with database.connection_context():
        Runner(database, str(schema.migrations_folder('products')), schema.HISTORY_TABLE).up('0001_initial')
        database.execute_sql("INSERT INTO products (name, search_name, description, price, stock_quantity, category, "
                             "created_at, updated_at) VALUES ('Lamp', 'lamp', '', 9.5, 3, 'home', "
                             "'2026-01-01 00:00:00', '2026-01-01 00:00:00')")
        database.execute_sql('DROP TABLE schema_migration')  # now as the last release before migrations left it
        states = [state.state for state in schema.status(database, schema.migrations_folder('products'))]
        assert states[0] == 'adoptable' and set(states[1:]) <= {'pending'}
    database.close_all()

    prepare_schema(products_storage, url, 'EUR')
    with database.connection_context():
        states = schema.status(database, schema.migrations_folder('products'))
        assert states[0].name == '0001_initial' and {state.state for state in states} == {'applied'}
        assert database.execute_sql('SELECT name, stock_quantity, currency_code FROM products').fetchall() == [
            ('Lamp', 3, 'EUR')]
        assert database.execute_sql('SELECT total FROM product_count').fetchone()[0] == 1
    database.close_all()


def test_a_database_newer_than_the_code_is_refused_naming_both_versions(database_url):
    url = database_url('orders')
    prepare_schema(orders_storage, url)
    database = open_database(url)
    with database.connection_context():
        database.execute_sql("INSERT INTO schema_migration (name, applied) VALUES ('9999_later', '2027-01-01')")
        latest = schema.version(schema.status(database, schema.migrations_folder('orders')), known=False)
    database.close_all()
    assert latest != 'none'
    with pytest.raises(schema.SchemaTooNew, match=rf'at schema version 9999_later.*its latest: {latest}'):
        prepare_schema(orders_storage, url)

    result = subprocess.run([sys.executable, '-m', 'services.orders', '--address', '127.0.0.1:0',
                             '--metrics-address', '127.0.0.1:0', '--database-url', url],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if 'cannot start' in line]
    assert len(errors) == 1 and 'schema version 9999_later' in errors[0], result.stderr
    assert 'Traceback' not in result.stderr


def prepare_products(url):
    prepare_schema(products_storage, url)


def test_processes_starting_together_migrate_once(database_url):
    url = database_url('products')
    context = multiprocessing.get_context('spawn')
    with context.Pool(4) as pool:
        pool.map(prepare_products, [url] * 4)
    database = open_database(url)
    with database.connection_context():
        recorded = [name for name, in database.execute_sql('SELECT name FROM schema_migration ORDER BY name')]
    assert recorded == [path.stem for path in sorted(schema.migrations_folder('products').glob('[0-9]*.py'))]
    database.close_all()


def migrate_command(*args):
    return subprocess.run([sys.executable, '-m', 'storage.migrate', *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_the_operators_command_shows_and_applies_the_migrations(database_url):
    url = database_url('orders')
    pending = migrate_command('status', '--service', 'orders', '--database-url', url)
    assert pending.returncode == 1 and '[ ] 0001_initial  pending' in pending.stdout
    applied = migrate_command('up', '--service', 'orders', '--database-url', url, '--currency', 'GBP')
    assert applied.returncode == 0, applied.stderr
    assert 'orders database migrated to 0001_initial' in applied.stdout
    latest = sorted(path.stem for path in schema.migrations_folder('orders').glob('[0-9]*.py'))[-1]
    assert f'database version: {latest}; code version: {latest}' in applied.stdout
    assert migrate_command('status', '--service', 'orders', '--database-url', url).returncode == 0
    database = open_database(url)
    with database.connection_context():  # the column's default: what rows already there were given
        database.execute_sql("INSERT INTO orders (reservation_id, customer_name, customer_email, shipping_address, "
                             "total_amount, status, stock_state, created_at, updated_at) VALUES ('r', 'Ann', "
                             "'ann@example.com', 'Here', 1, 'pending', 'reserved', '2026-01-01', '2026-01-01')")
        assert database.execute_sql('SELECT currency_code FROM orders').fetchall() == [('GBP',)]
    database.close_all()

    refused = migrate_command('up', '--service', 'orders', '--database-url', url, '--currency', 'JPY')
    assert refused.returncode == 1 and refused.stderr.startswith('error: the shop currency JPY has 0 decimal places')
