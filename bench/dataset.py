"""The benchmark's data: the same catalogue, in the same order, for the baseline and for the product; and the history
of orders seeded into ours (order_history), with what its listings hold (order_listings).

Plain Python (no Django, no Peewee, no third-party import) so that both seeders can use it. The n-th
product yielded (counting from 1) is meant to get id n in both systems.

Names are adjective + material + noun + model number ("Rugged Walnut Lantern KX-204"), nouns drawn
from the product's category, so that a word fragment matches a small, known share of the catalogue:
SEARCH_TERM ("antern", a fragment of Lantern, a home noun) is in 1/7 x 1/15 = 0.95% of the names
(measured: 0.970% of 1,000,000 products with DEFAULT_SEED), all of them in SEARCH_CATEGORY.
"""
import datetime
import functools
import heapq
import itertools
import random
from array import array
from dataclasses import dataclass
from typing import NamedTuple

DEFAULT_SEED = 20251020
CATEGORIES = ('electronics', 'clothing', 'books', 'home', 'sports', 'toys', 'other')
# Every product has this much stock, so that order benchmarks never run out.
STOCK_QUANTITY = 1_000_000
SEARCH_TERM = 'antern'
SEARCH_CATEGORY = 'home'
SEARCH_MATCH_FRACTION = 1 / (len(CATEGORIES) * 15)
# Prices are uniform over this range of cents (1.00 to 999.99).
MIN_CENTS, MAX_CENTS = 100, 99_999

ADJECTIVES = ('Compact', 'Deluxe', 'Rugged', 'Classic', 'Modern', 'Vintage', 'Premium', 'Portable',
              'Sleek', 'Ergonomic', 'Handmade', 'Lightweight', 'Sturdy', 'Smart', 'Foldable',
              'Adjustable', 'Wireless', 'Durable', 'Elegant', 'Rustic', 'Minimal', 'Ultra', 'Mini',
              'Grand', 'Cozy', 'Bold', 'Soft', 'Bright', 'Quiet', 'Nimble')
# No material or adjective contains SEARCH_TERM, nor does any noun but Lantern.
MATERIALS = ('Bamboo', 'Oak', 'Walnut', 'Steel', 'Aluminium', 'Cotton', 'Wool', 'Linen', 'Leather',
             'Canvas', 'Ceramic', 'Glass', 'Copper', 'Brass', 'Carbon', 'Silicone', 'Maple', 'Granite',
             'Marble', 'Titanium')
NOUNS = {
    'electronics': ('Headphones', 'Speaker', 'Charger', 'Keyboard', 'Mouse', 'Monitor', 'Router', 'Camera',
                    'Tablet', 'Laptop', 'Drone', 'Projector', 'Microphone', 'Smartwatch', 'Earbuds'),
    'clothing': ('Jacket', 'Sweater', 'Scarf', 'Hoodie', 'Shirt', 'Trousers', 'Dress', 'Cardigan', 'Parka',
                 'Gloves', 'Beanie', 'Vest', 'Blazer', 'Raincoat', 'Socks'),
    'books': ('Notebook', 'Journal', 'Atlas', 'Cookbook', 'Novel', 'Anthology', 'Encyclopedia', 'Almanac',
              'Sketchbook', 'Planner', 'Biography', 'Dictionary', 'Handbook', 'Guidebook', 'Diary'),
    'home': ('Lamp', 'Kettle', 'Teapot', 'Vase', 'Cushion', 'Blanket', 'Mirror', 'Clock', 'Shelf', 'Stool',
             'Rug', 'Candle', 'Skillet', 'Colander', 'Lantern'),
    'sports': ('Racket', 'Helmet', 'Dumbbell', 'Kettlebell', 'Skateboard', 'Surfboard', 'Paddle', 'Yoga Mat',
               'Football', 'Basketball', 'Bicycle', 'Frisbee', 'Compass', 'Tent', 'Backpack'),
    'toys': ('Puzzle', 'Robot', 'Kite', 'Yo-Yo', 'Teddy Bear', 'Spinning Top', 'Train Set', 'Dollhouse',
             'Building Blocks', 'Rocket', 'Xylophone', 'Puppet', 'Race Car', 'Jigsaw', 'Doll'),
    'other': ('Gift Card', 'Umbrella', 'Keychain', 'Wallet', 'Sunglasses', 'Thermos', 'Flashlight', 'Padlock',
              'Toolbox', 'Easel', 'Globe', 'Hourglass', 'Telescope', 'Binoculars', 'Suitcase'),
}
PRAISES = ('built to last', 'a customer favourite', 'made for everyday use', 'easy to clean',
           'backed by a two-year warranty', 'designed in-house', 'great as a gift', 'tested by our team')
SERIES = ('AX', 'BT', 'CR', 'DL', 'EV', 'FX', 'GT', 'HZ', 'KX', 'MQ', 'PR', 'RS', 'SV', 'TW', 'VZ', 'WY')


def products(count, seed=DEFAULT_SEED):
    """Yield `count` product dicts (name, description, price, stock_quantity, category); the same ones
    for the same seed, on any machine."""
    rng = random.Random(seed)
    for _ in range(count):
        category = rng.choice(CATEGORIES)
        adjective, material, noun = rng.choice(ADJECTIVES), rng.choice(MATERIALS), rng.choice(NOUNS[category])
        cents = rng.randint(MIN_CENTS, MAX_CENTS)
        yield {
            'name': f'{adjective} {material} {noun} {rng.choice(SERIES)}-{rng.randint(100, 999)}',
            'description': f'{adjective} {noun.lower()} in {material.lower()}, {rng.choice(PRAISES)}.',
            'price': f'{cents // 100}.{cents % 100:02d}',
            'stock_quantity': STOCK_QUANTITY,
            'category': category,
        }


# --- Orders: the shop's last HISTORY of orders, placed by CUSTOMERS customers ------------------------------------

# The order workflow as services/orders/rules.py has it (tests/bench/test_seed_orders.py holds the two together): each
# step forward with the hours it takes (uniform between the two figures), the statuses an order may be cancelled in,
# and the share of orders whose customer cancels them (if they get that far before HISTORY_END).
ORDER_STEPS = (('pending', 'processing', (0.5, 48)), ('processing', 'shipped', (12, 96)),
               ('shipped', 'delivered', (24, 168)))
CANCELLED = 'cancelled'
CANCELLABLE = ('pending', 'processing')
CANCELLED_SHARE = 0.08
ORDER_STATUSES = (*(source for source, _, _ in ORDER_STEPS), ORDER_STEPS[-1][1], CANCELLED)
PLACED_STATUS = ORDER_STEPS[0][0]
FINAL_STEP_STATUS = ORDER_STEPS[-1][1]
# Orders are placed evenly over the HISTORY that ends at HISTORY_END (naive UTC, as the services store time), so that
# an order's status follows its age: the newest are pending, most of the older ones delivered. A million orders with
# DEFAULT_SEED: delivered 80.9%, cancelled 7.7%, shipped 6.1%, processing 3.6%, pending 1.7%.
HISTORY_END = datetime.datetime(2025, 10, 20, 12, 0)
HISTORY = datetime.timedelta(days=60)
ORDER_COUNT = 1_000_000  # the benchmark's default
CUSTOMERS = 100_000
# An order's customer is ⌊customers × u^CUSTOMER_SKEW⌋ + 1 (u uniform in [0, 1)): customer k places a share
# √(k/C) − √((k−1)/C) of the orders, so BUSIEST_CUSTOMER, number 1, places √(1/C) of them, customer C/2 about 0.7 times
# the mean, the last half of it. A million orders over 100,000 customers with DEFAULT_SEED: customer 1 places 3,086
# (155 pages of 20), customer 2 1,286, customer 50,000 six (one page); 99,805 customers place at least one.
CUSTOMER_SKEW = 2
BUSIEST_CUSTOMER = 1
# Items per order (1 to 5) and units per item (1 to 3), by weight.
ITEM_COUNT_WEIGHTS = (45, 25, 15, 10, 5)
QUANTITY_WEIGHTS = (70, 20, 10)
# A listing's oldest keys kept by order_listings: a last page of up to 100 rows (services.settings.MAX_PAGE_SIZE) and
# the key before it.
OLDEST_KEYS = 101
# An order's history holds at most len(ORDER_STEPS) + 1 events: read in pages of 2, a delivered order's has a last
# page that is not its first.
HISTORY_PAGE_SIZE = 2
FIRST_NAMES = ('Ada', 'Alan', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Frances', 'John', 'Margaret', 'Dennis',
               'Radia', 'Ken', 'Hedy', 'Tim', 'Karen', 'Linus', 'Shafi', 'Guido', 'Sophie', 'Niklaus')
LAST_NAMES = ('Lovelace', 'Turing', 'Hopper', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Backus', 'Hamilton',
              'Ritchie', 'Perlman', 'Thompson', 'Lamarr', 'Berners-Lee', 'Jones', 'Torvalds', 'Goldwasser', 'Rossum',
              'Wilson', 'Wirth')
STREETS = ('Station Road', 'High Street', 'Mill Lane', 'Church Street', 'Park Avenue', 'Harbour Way', 'Elm Grove',
           'Orchard Close', 'Market Square', 'Canal Walk')
CITIES = ('Springfield', 'Riverton', 'Lakeside', 'Fairview', 'Kingsbridge', 'Ashford', 'Milltown', 'Westport')


class SeededOrder(NamedTuple):
    id: int
    customer: int  # its number, 1..customers
    status: str
    created_at: datetime.datetime
    updated_at: datetime.datetime  # its latest event's time


class SeededEvent(NamedTuple):
    id: int
    order_id: int
    from_status: str  # '' for the placement
    to_status: str
    created_at: datetime.datetime


def customer_email(number):
    return f'customer{number}@example.com'


def customer_name(number):
    return f'{FIRST_NAMES[number % len(FIRST_NAMES)]} {LAST_NAMES[number // len(FIRST_NAMES) % len(LAST_NAMES)]}'


def shipping_address(number):
    return f'{number % 997 + 1} {STREETS[number % len(STREETS)]}, {CITIES[number // len(STREETS) % len(CITIES)]}'


def typical_customer(customers):
    """A customer with about as many orders as most: one page of them (see CUSTOMER_SKEW)."""
    return max(1, customers // 2)


def order_history(count, customers=CUSTOMERS, seed=DEFAULT_SEED):
    """Yield `count` orders (SeededOrder: ids 1..count, oldest first) and every event of theirs (SeededEvent) in the
    order they happened, as the service would have written them: each order before its events, event ids in time
    order. Each order follows a course planned when it is placed (its steps' durations, whether it is cancelled), and
    its status is where that course stands at HISTORY_END. The same rows for the same arguments, on any machine."""
    rng = random.Random(seed)
    start, end = HISTORY_END - HISTORY, HISTORY.total_seconds()
    spacing = end / count
    event_ids = itertools.count(1)
    due = []  # a heap of each order's next change: (seconds after start, order id, from, to, its later changes)

    def happened(seconds):
        return start + datetime.timedelta(seconds=seconds)

    def schedule(order_id, changes):
        (seconds, source, target), *later = changes
        heapq.heappush(due, (seconds, order_id, source, target, later))

    def next_change():
        seconds, order_id, source, target, later = heapq.heappop(due)
        if later:
            schedule(order_id, later)
        return SeededEvent(next(event_ids), order_id, source, target, happened(seconds))

    for order_id in range(1, count + 1):
        placed = (order_id - 1 + rng.random()) * spacing
        customer = int(customers * rng.random() ** CUSTOMER_SKEW) + 1
        changes = _course(rng, placed, end)
        while due and due[0][0] <= placed:
            yield next_change()
        status, updated = (changes[-1][2], changes[-1][0]) if changes else (PLACED_STATUS, placed)
        yield SeededOrder(order_id, customer, status, happened(placed), happened(updated))
        yield SeededEvent(next(event_ids), order_id, '', PLACED_STATUS, happened(placed))
        if changes:
            schedule(order_id, changes)
    while due:
        yield next_change()


def _course(rng, placed, end):
    """The changes [(seconds, from, to)] an order placed at `placed` goes through by `end`."""
    cancelled_in = rng.choice(CANCELLABLE) if rng.random() < CANCELLED_SHARE else None
    changes, seconds = [], placed
    for source, target, (fewest_hours, most_hours) in ORDER_STEPS:
        seconds += rng.uniform(fewest_hours, most_hours) * 3600
        if seconds > end:
            break
        if source == cancelled_in:
            changes.append((seconds, source, CANCELLED))
            break
        changes.append((seconds, source, target))
    return changes


class OrderItems:
    """The items of seeded orders, as CreateOrder records them: 1 to 5 distinct products of the catalogue's first
    `product_count`, 1 to 3 units each, each with the product's name and price in the catalogue (its snapshot)."""

    def __init__(self, product_count, seed=DEFAULT_SEED):
        self._rng = random.Random(f'{seed} order items')
        self._products = range(1, product_count + 1)
        # The catalogue's names and prices, compact: a million products' take 36 MB.
        self._names, self._name_ends, self._cents = bytearray(), array('I', [0]), array('I', [0])
        for product in products(product_count, seed):
            self._names += product['name'].encode()
            self._name_ends.append(len(self._names))
            self._cents.append(int(product['price'].replace('.', '')))

    def next_order(self):
        """The next order's items [(product_id, product_name, price, quantity, subtotal)] and its total, amounts as
        decimal strings."""
        rng = self._rng
        count = min(rng.choices(range(1, len(ITEM_COUNT_WEIGHTS) + 1), ITEM_COUNT_WEIGHTS)[0], len(self._products))
        items, total = [], 0
        for product_id in rng.sample(self._products, count):
            quantity = rng.choices(range(1, len(QUANTITY_WEIGHTS) + 1), QUANTITY_WEIGHTS)[0]
            cents = self._cents[product_id]
            name = self._names[self._name_ends[product_id - 1]:self._name_ends[product_id]].decode()
            items.append((product_id, name, _amount(cents), quantity, _amount(cents * quantity)))
            total += cents * quantity
        return items, _amount(total)


def _amount(cents):
    return f'{cents // 100}.{cents % 100:02d}'


class Listing(NamedTuple):
    """A listing of seeded rows, newest first, as the API pages it: how many rows, and the keys (ids) of its oldest."""
    total: int
    oldest: tuple  # its OLDEST_KEYS smallest keys, ascending

    def last_page_after(self, page_size):
        """The key the last page of `page_size` rows follows, which its page token carries: 0 when the first page is
        the last (it holds the listing's oldest rows; the page before ends with the key returned)."""
        if self.total <= page_size:
            return 0
        return self.oldest[(self.total - 1) % page_size + 1]


@dataclass(frozen=True)
class OrderListings:
    """What the listings of order_history(count, customers) hold: ListOrders of each status, GetOrdersByCustomer of
    BUSIEST_CUSTOMER and of typical_customer(customers), and ListOrderEvents of `history_order`, the oldest order that
    went through every step (0 and an empty history if none did)."""
    by_status: dict  # status -> Listing
    by_customer: dict  # customer number -> Listing
    history_order: int
    history: Listing


@functools.cache
def order_listings(count, customers=CUSTOMERS, seed=DEFAULT_SEED):
    """The OrderListings of order_history(count, customers, seed): a walk over it without items (about 15 s for a
    million orders), once per process."""
    counted = {status: [0, []] for status in ORDER_STATUSES}
    counted_customers = {number: [0, []] for number in (BUSIEST_CUSTOMER, typical_customer(customers))}
    history_order, history = 0, [0, []]
    for row in order_history(count, customers, seed):
        if isinstance(row, SeededEvent):
            if row.order_id == history_order:
                _count(history, row.id)
            continue
        _count(counted[row.status], row.id)
        if row.customer in counted_customers:
            _count(counted_customers[row.customer], row.id)
        if not history_order and row.status == FINAL_STEP_STATUS:
            history_order = row.id
    return OrderListings({status: _listing(*tally) for status, tally in counted.items()},
                         {number: _listing(*tally) for number, tally in counted_customers.items()},
                         history_order, _listing(*history))


def _count(tally, key):
    """Count a row of a listing (tally: [total, oldest keys]), its keys seen in ascending order."""
    tally[0] += 1
    if len(tally[1]) < OLDEST_KEYS:
        tally[1].append(key)


def _listing(total, oldest):
    return Listing(total, tuple(oldest))
