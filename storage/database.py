"""Database set-up from a URL, connection pooling, the SQLite writers' queue, prepared queries for the hot paths,
and the keyset-paging query shared by listings."""
import datetime
import fcntl
import os
import threading
import time
import weakref
from pathlib import Path
from urllib.parse import urlparse

import peewee
from ecommerce.defaults import SHOP_CURRENCY
from playhouse.db_url import parse as parse_url
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

# Every write transaction on SQLite starts as BEGIN IMMEDIATE: a deferred transaction that reads
# and then writes can fail at once with SQLITE_BUSY in WAL mode instead of waiting its turn.
SQLITE_PRAGMAS = {
    # First, so that the pragmas after it wait too: switching a new file to WAL needs it to itself, and
    # workers starting together all try at once.
    'busy_timeout': 10_000,  # ms a writer waits for another writer
    'journal_mode': 'wal',
    'synchronous': 'normal',  # durable across a process crash in WAL mode
    'foreign_keys': 1,
}
POOL_SIZE = 32


# ?synchronous= in a SQLite URL: 'normal' survives a crash of the process, 'full' (an fsync per commit, ~10x
# slower here) also a power loss or an OS crash; docs/performance.md has the figures.
SQLITE_SYNCHRONOUS = ('normal', 'full')


def _synchronous(params):
    value = str(params.pop('synchronous', SQLITE_PRAGMAS['synchronous'])).lower()
    if value not in SQLITE_SYNCHRONOUS:
        raise ValueError(f'synchronous={value!r} in the SQLite URL: use one of {", ".join(SQLITE_SYNCHRONOUS)}')
    return value


# How each PostgreSQL connection finds out that the server, or the network to it, is gone. Left to TCP, a statement
# sent into a silent network waits about 15 minutes, and with it every call of the service (docs/reliability.md).
# libpq's parameters: give up connecting after 2 s; close a connection whose sent data goes unacknowledged for 3 s;
# probe an idle one (waiting for an answer included) after 2 s, every 1 s. The same parameter in the URL wins.
POSTGRES_CONNECTION = {'connect_timeout': 2, 'tcp_user_timeout': 3000, 'keepalives': 1, 'keepalives_idle': 2,
                       'keepalives_interval': 1, 'keepalives_count': 3}
# The server's side of each session (PostgreSQL 12 or later): it finds a vanished client the same way and rolls its
# transaction back, releasing its row locks, which would otherwise hold stock rows for hours; no transaction of ours
# waits between statements, so one idle in a transaction for 10 s has lost its client. Sent as `options` before any
# `options` of the URL, whose own -c settings then win.
POSTGRES_SESSION = {'tcp_keepalives_idle': 2, 'tcp_keepalives_interval': 1, 'tcp_keepalives_count': 3,
                    'tcp_user_timeout': 3000, 'idle_in_transaction_session_timeout': '10s'}


def _postgres_parameters(params):
    options = ' '.join(f'-c {name}={value}' for name, value in POSTGRES_SESSION.items())
    return {**POSTGRES_CONNECTION, **params, 'options': f'{options} {params.get("options", "")}'.strip()}


def connection_lost(error):
    """Whether a database error (peewee's, wrapping the driver's) says that the connection to PostgreSQL failed or
    broke, which psycopg2 reports without a SQLSTATE, rather than that the server refused a statement, or that
    SQLite stayed busy."""
    driver_error = getattr(error, 'orig', None)
    return type(driver_error).__module__.startswith('psycopg2') and getattr(driver_error, 'pgcode', '') is None


def open_database(url):
    """Return an unconnected, pooled database for a sqlite:/// or postgresql:// URL."""
    scheme = urlparse(url).scheme
    params = parse_url(url)
    if scheme == 'sqlite':
        path = params.pop('database')
        if path == ':memory:' or not path:
            # Each pooled connection would see its own empty in-memory database.
            raise ValueError('SQLite needs a file path, e.g. sqlite:///data/products.db')
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return QueuedSqliteDatabase(
            path, pragmas={**SQLITE_PRAGMAS, 'synchronous': _synchronous(params)}, lock_type='IMMEDIATE',
            max_connections=POOL_SIZE, stale_timeout=300, check_same_thread=False, **params)
    if scheme in ('postgres', 'postgresql'):
        return RecentlyTrustedPostgresqlDatabase(max_connections=POOL_SIZE, stale_timeout=300,
                                                 **_postgres_parameters(params))
    raise ValueError(f'unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://')


class RecentlyTrustedPostgresqlDatabase(PooledPostgresqlDatabase):
    """A PostgreSQL pool that checks a connection with a round trip (peewee's SELECT 1) only when it has been idle for
    more than IDLE_BEFORE_CHECK_S: peewee checks every one it hands out, which made that one more round trip in every
    step (GetProduct: 2 statements instead of 1). A connection returned a moment ago was working a moment ago; one
    that died since fails its step with a connection error, which services.server.DatabaseSteps answers UNAVAILABLE
    while it closes the idle ones and probes for a new connection (Envoy retries a read on UNAVAILABLE)."""
    IDLE_BEFORE_CHECK_S = 1.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._returned_at = {}  # connection key -> when it came back to the pool (time.monotonic())

    def _is_closed(self, conn):
        if conn.closed:
            return True
        returned_at = self._returned_at.get(self.conn_key(conn))
        if returned_at is not None and time.monotonic() - returned_at < self.IDLE_BEFORE_CHECK_S:
            return self._adapter.txn_status(conn) == self._adapter.txn_unknown  # what it knows without asking
        return super()._is_closed(conn)

    def _close(self, conn, close_conn=False):
        super()._close(conn, close_conn)
        if not conn.closed:  # back in the pool
            self._returned_at[self.conn_key(conn)] = time.monotonic()

    def _close_raw(self, conn):
        self._returned_at.pop(self.conn_key(conn), None)
        super()._close_raw(conn)


class SqliteWriters:
    """The queue in which writers to one SQLite file, in every process, wait for their turn.

    SQLite lets one writer in at a time, and a writer that finds the file locked sleeps and tries again,
    1, 2, 5, ... up to 100 ms at a time, while newcomers may take the lock in between: at 32 concurrent
    orders, a few waited half a second. Waiting here instead, on a thread lock and then a kernel file lock
    (flock) on `<database>-writers`, wakes the next writer as soon as the lock is free. A process that dies
    holding it releases it with its file. The wait has no time limit: a transaction here runs local
    statements only (no call to another service happens inside one), so only a process stopped while
    holding its turn could keep the others waiting. A service waits here on its event loop (see
    services.server.DatabaseSteps), so its worker serves nothing else meanwhile: one more reason for
    transactions to stay short. The busy timeout stays, for writers that do not queue here (a statement
    outside a transaction, another program).
    """

    def __init__(self, path):
        self._path = f'{path}-writers'
        self._turn = threading.Lock()  # one thread per process at the file lock
        self._holding = threading.local()
        self._file = (None, None)  # (pid, descriptor)

    def acquire(self):
        self._turn.acquire()
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_EX)
        except BaseException:
            self._turn.release()
            raise
        self._holding.now = True

    def release(self):
        """Let the next writer in; nothing if this thread is not holding the turn (a failed COMMIT is
        followed by a ROLLBACK)."""
        if getattr(self._holding, 'now', False):
            self._holding.now = False
            fcntl.flock(self._descriptor(), fcntl.LOCK_UN)
            self._turn.release()

    def _descriptor(self):
        pid, descriptor = self._file
        if pid != os.getpid():  # a forked worker shares its parent's open file, and with it the lock
            descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            self._file = (os.getpid(), descriptor)
        return descriptor


class QueuedSqliteDatabase(PooledSqliteDatabase):
    """Pooled SQLite whose transactions queue for the write lock in SqliteWriters."""

    def __init__(self, path, **kwargs):
        super().__init__(path, **kwargs)
        self.writers = SqliteWriters(path)

    def begin(self, lock_type=None):
        self.writers.acquire()
        try:
            super().begin(lock_type)
        except BaseException:
            self.writers.release()
            raise

    def commit(self):
        try:
            super().commit()
        finally:
            self.writers.release()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self.writers.release()


def bind(proxy, url, models, currency=SHOP_CURRENCY):
    """Open the database named by `url` behind `proxy` and bring its schema to the last migration of the service
    whose `models` these are (their `migrations` folder; storage.schema.upgrade, for a shop selling in `currency`).

    Raises ConnectionError (naming the URL without its password) when the database cannot be reached, and
    storage.schema.SchemaTooNew when a later release has migrated it.
    """
    from storage import schema  # here, not at the top: storage.schema pages its backfills with this module

    database = open_database(url)
    proxy.initialize(database)
    folders = {model.migrations for model in models}
    if len(folders) != 1:
        raise ValueError(f'models of one service have one migrations folder, not {sorted(map(str, folders))}')
    try:
        database.connect()
    except peewee.OperationalError as error:
        parsed = urlparse(url)
        shown = parsed._replace(netloc=parsed.netloc.rpartition('@')[2]).geturl()
        raise ConnectionError(f'cannot open database {shown}: {str(error).strip()}') from error
    try:
        schema.upgrade(database, folders.pop(), currency)
    finally:
        database.close()
    return database


def prepare_schema(storage_module, url, currency=SHOP_CURRENCY):
    """Migrate the database of `storage_module` (its `database` proxy and `MODELS`) at `url` for a shop selling in
    `currency`, then close every connection: what a parent process does before it forks workers, which must not
    share connections."""
    bind(storage_module.database, url, storage_module.MODELS, currency).close_all()


def lock_sequence(database, key):
    """Inside a transaction on PostgreSQL, wait for the other writers of the sequence `key` (an int) to commit:
    ids taken after this become visible in the order they were taken, so a reader of `id > last seen` misses
    none. SQLite needs nothing: its writers take turns."""
    if isinstance(database, peewee.PostgresqlDatabase):
        database.execute_sql('SELECT pg_advisory_xact_lock(%s)', (key,))


def utcnow():
    """Naive UTC time, as stored in every timestamp column."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def keyset_page(query, key, size, after=None, descending=False):
    """One page of `query` ordered by `key`, starting past `after`; returns (rows, last key or None).

    The last key is None on the final page. Keyset paging costs the same on page 1 and page 10,000,
    where OFFSET would scan every earlier row.
    """
    if after is not None:
        query = query.where(key < after if descending else key > after)
    rows = list(query.order_by(key.desc() if descending else key.asc()).limit(size + 1))
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    return rows, getattr(rows[-1], key.name)


class IdField(peewee.AutoField):
    """A primary key never handed out twice: SQLite reuses the largest id once its row is deleted
    unless the column says AUTOINCREMENT (PostgreSQL's sequences never reuse)."""

    def ddl(self, ctx):
        node_list = super().ddl(ctx)
        database = self.model._meta.database
        if isinstance(getattr(database, 'obj', database), peewee.SqliteDatabase):
            return peewee.NodeList((node_list, peewee.SQL('AUTOINCREMENT')))
        return node_list


class BaseModel(peewee.Model):
    """Common ancestor; each service's models subclass it with their own database proxy."""
    id = IdField()


class Prepared:
    """A query rendered to SQL once per database, then run with new values.

    Peewee takes ~100 µs to render even a lookup by key, ten times what SQLite takes to run it, and the hot
    paths (GetProduct, placing an order, taking stock) run the same few shapes over and over, some of them
    while holding SQLite's single write lock. `build` receives one placeholder per value (`arity` of them,
    by default its number of parameters) and returns the query. Values go to the driver as given, with
    peewee's adapters but not through the fields' db_value: pass ints, strings, datetimes and Decimals
    already rounded to their field.
    """

    def __init__(self, build, arity=None):
        arity = build.__code__.co_argcount if arity is None else arity
        self._query = build(*[peewee.Value(_Slot(index), converter=False) for index in range(arity)])
        self._rendered = weakref.WeakKeyDictionary()  # database -> (sql, params, slots)

    @property
    def model(self):
        return self._query.model

    def cursor(self, *values):
        database = self.model._meta.database
        database = getattr(database, 'obj', database)  # through the DatabaseProxy
        rendered = self._rendered.get(database)
        if rendered is None:
            sql, params = self._query.sql()
            slots = [(position, param.index) for position, param in enumerate(params) if isinstance(param, _Slot)]
            rendered = self._rendered[database] = (sql, params, slots)
        sql, params, slots = rendered
        params = list(params)
        for position, index in slots:
            params[position] = values[index]
        return database.execute_sql(sql, params)

    def rows(self, *values):
        """Model instances of a SELECT of whole rows, each field converted as peewee would."""
        fields = self.model._meta.sorted_fields
        return [self.model(__no_default__=True, **{field.name: field.python_value(value)
                                                    for field, value in zip(fields, row, strict=True)})
                for row in self.cursor(*values)]

    def count(self, *values):
        """Rows changed by an UPDATE or DELETE."""
        return self.cursor(*values).rowcount

    def returned(self, *values):
        """The rows of a RETURNING clause, read to the end: on SQLite a statement not stepped to its end
        keeps its write open."""
        return self.cursor(*values).fetchall()


class PreparedInsert:
    """A prepared INSERT of one whole row, returning its new id.

    Every field but the id is given by name on each call: a default (a timestamp) would otherwise be rendered
    once and frozen into the SQL."""

    def __init__(self, model):
        self._fields = [field for field in model._meta.sorted_fields if not field.primary_key]
        self._insert = Prepared(
            lambda *values: (model.insert(dict(zip(self._fields, values, strict=True)))
                             .returning(model._meta.primary_key)),
            arity=len(self._fields))

    def __call__(self, **values):
        """Insert a row of `values` (field name -> value); return its id."""
        if values.keys() != {field.name for field in self._fields}:
            raise TypeError(f'{self._insert.model.__name__} needs exactly these values: '
                            f'{sorted(field.name for field in self._fields)}')
        return self._insert.returned(*[values[field.name] for field in self._fields])[0][0]


class _Slot:
    """Marks where a run-time value goes among a rendered query's parameters."""

    def __init__(self, index):
        self.index = index
