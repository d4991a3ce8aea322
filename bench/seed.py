"""Seeds our Products and Orders databases in bulk straight through Peewee, not the API: a million rows in about a
minute where CreateProduct calls would take far longer. Rows come from bench.dataset, as the baseline's do, so product n
gets id n in both systems; order n and its events are those of dataset.order_history."""
import itertools
import time

import peewee
from ecommerce.defaults import SHOP_CURRENCY

from bench import dataset
from storage import orders as orders_storage
from storage import products as products_storage
from storage.database import Prepared, bind, utcnow

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


Order, OrderItem, OrderEvent = orders_storage.Order, orders_storage.OrderItem, orders_storage.OrderEvent
# Ids are given, not drawn from the sequences: order n and event n of bench.dataset.order_history get id n, which
# dataset.order_listings then knows the listings' keys by. request_id and request_digest stay NULL: these orders were
# placed without an AIP-155 request id.
ORDER_FIELDS = [Order.id, Order.reservation_id, Order.customer_name, Order.customer_email, Order.shipping_address,
                Order.total_amount, Order.status, Order.stock_state, Order.created_at, Order.updated_at,
                Order.currency_code]
ITEM_FIELDS = [OrderItem.order, OrderItem.product_id, OrderItem.product_name, OrderItem.price, OrderItem.quantity,
               OrderItem.subtotal]
EVENT_FIELDS = [OrderEvent.id, OrderEvent.order_id, OrderEvent.from_status, OrderEvent.to_status,
                OrderEvent.request_id, OrderEvent.actor, OrderEvent.created_at]
# Rows per INSERT and orders per transaction: 2,000 rows of 11 columns stay under the 32,766 parameters a SQLite
# statement takes.
ROWS_PER_INSERT = 2000
ORDERS_PER_TRANSACTION = ROWS_PER_INSERT


def seed_orders(url, count, customers, product_count):
    """Insert dataset.order_history(count, customers) into the empty Orders database at `url`, with items of the first
    `product_count` products (as seed_products seeds them) and every event; return the seconds it took."""
    database = bind(orders_storage.database, url, orders_storage.MODELS)
    started = time.perf_counter()
    try:
        with database.connection_context():
            if Order.select().exists():
                raise ValueError(f'seed_orders fills an empty Orders database; {url} has orders')
            orders, items, events = (BatchedInsert(Order, ORDER_FIELDS), BatchedInsert(OrderItem, ITEM_FIELDS),
                                     BatchedInsert(OrderEvent, EVENT_FIELDS))
            for order_rows, item_rows, event_rows in _order_rows(count, customers, product_count):
                with database.atomic():
                    orders.add(order_rows)
                    orders.flush()  # every order, before the items that refer to it
                    items.add(item_rows)
                    events.add(event_rows)
            with database.atomic():
                items.flush()
                events.flush()
            if isinstance(database, peewee.PostgresqlDatabase):
                _continue_sequences(database, (Order, OrderEvent))
    finally:
        database.close_all()
    return time.perf_counter() - started


class BatchedInsert:
    """Rows for one table, inserted ROWS_PER_INSERT at a time by one INSERT rendered once (storage.database.Prepared):
    Peewee takes longer to render a statement than SQLite to run it, and seeding took three times as long with an
    insert_many() per batch. Rows short of a whole INSERT wait for the next add(), or flush()."""

    def __init__(self, model, fields):
        self._model, self._fields = model, fields
        self._insert = Prepared(lambda *values: model.insert_many(peewee.chunked(values, len(fields)), fields=fields),
                                arity=ROWS_PER_INSERT * len(fields))
        self._waiting = []

    def add(self, rows):
        self._waiting.extend(rows)
        while len(self._waiting) >= ROWS_PER_INSERT:
            self._insert.cursor(*itertools.chain.from_iterable(self._waiting[:ROWS_PER_INSERT]))
            del self._waiting[:ROWS_PER_INSERT]

    def flush(self):
        if self._waiting:
            self._model.insert_many(self._waiting, fields=self._fields).execute()
            self._waiting = []


def _order_rows(count, customers, product_count):
    """Rows of ORDER_FIELDS, ITEM_FIELDS and EVENT_FIELDS, in batches of ORDERS_PER_TRANSACTION orders with their
    items and the events that happened by the next order's placement (an order's always after it)."""
    items = dataset.OrderItems(product_count)
    orders, lines, events = [], [], []
    for row in dataset.order_history(count, customers):
        if isinstance(row, dataset.SeededEvent):
            # As the service records a call made without a token (actor '') and without an x-request-id (a new
            # uuid4().hex; here the event's id in the same 32 hex digits).
            events.append((row.id, row.order_id, row.from_status, row.to_status, f'{row.id:032x}', '',
                           row.created_at))
            continue
        if len(orders) == ORDERS_PER_TRANSACTION:
            yield orders, lines, events
            orders, lines, events = [], [], []
        picked, total = items.next_order()
        # The service's reservation ids are uuid4().hex, whose 13th digit is 4; this one's is 0.
        orders.append((row.id, f'{row.id:032x}', dataset.customer_name(row.customer),
                       dataset.customer_email(row.customer), dataset.shipping_address(row.customer), total,
                       row.status, Order.RELEASED if row.status == dataset.CANCELLED else Order.RESERVED,
                       row.created_at, row.updated_at, SHOP_CURRENCY))
        lines.extend((row.id, *item) for item in picked)
    yield orders, lines, events


def _continue_sequences(database, models):
    """Have PostgreSQL's id sequences of `models` go on after the ids given (SQLite's AUTOINCREMENT does by itself)."""
    for model in models:
        table = model._meta.table_name
        database.execute_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
