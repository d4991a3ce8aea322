"""The scenarios, each run on every path that has its route: fixed requests through h2load (CreateOrder too: the same
order placed again is a new order), checkouts and the mixed workload through the python client (they need a cart
filled before, or a choice, per request)."""
import asyncio
from dataclasses import asdict, dataclass

from bench.asyncclient import OrderMaker, run_python_client
from bench.dataset import BUSIEST_CUSTOMER, HISTORY_PAGE_SIZE, SEARCH_TERM, customer_email, order_listings
from bench.loadgen import run_h2load
from bench.processes import Usage, failed_calls
from bench.targets import PAGE_SIZE

CLIENTS = 32
# Paging and search have latency targets (p50 ≤ 5 ms, ≤ 20 ms): with one client they measure what a query costs,
# where 32 clients on a few cores would measure the queue in front of it.
QUERY_CLIENTS = 1
# Orders at scale (target 5): the largest status listing (four orders in five are delivered), the customer with the
# most orders, and the history of an order that went through every step.
LISTED_STATUS = 'delivered'
TAIL_CLIENTS = 4  # target 2: CreateOrder's p99 where clients do not queue behind each other
READ_SHARE = 0.9  # of the mixed workload; the rest are one-item orders
# Checkouts a second the carts filled before checkout_complete are meant for: above what this machine does (about 230
# a second in 2026-12; carts filled during the measurement would add their calls to it).
FILLED_CARTS_PER_SECOND = 400
# Calls a second on each of the CLIENTS connections of get_product_steady: 800 a second in all, well below what every
# path it runs on sustains here (the slowest, GetProduct through an Envoy to Products, about 1,700 in 2026-12).
STEADY_RATE = 25


@dataclass(frozen=True)
class Settings:
    product_count: int
    order_count: int
    duration: float
    warmup: float
    folder: str


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    clients: int

    def measure(self, target, settings, usage):
        """A Measurement, or None when `target` lacks the route; `usage` (bench.processes.Usage) over the measured
        window, warm-up excluded."""
        raise NotImplementedError


@dataclass(frozen=True)
class Fixed(Scenario):
    """One request repeated by h2load; `request(target, settings)` picks it. `rate`: calls a second per client
    (a fixed load), rather than as many as the path answers."""
    request: object = None
    rate: int = 0

    def measure(self, target, settings, usage):
        request = self.request(target, settings)
        if request is None:
            return None
        return run_h2load(request, self.clients, settings.duration, settings.warmup, settings.folder, usage=usage,
                          rate=self.rate)


@dataclass(frozen=True)
class Scripted(Scenario):
    """The python client running `step(calls, client, rng, orders, product_count, prepared)` in every client loop,
    after `prepared = setup(calls, clients, orders, settings)`, unmeasured, if there is one. `carts`: the scenario
    needs a path with carts."""
    step: object = None
    items: int = 1
    setup: object = None
    carts: bool = False

    def measure(self, target, settings, usage):
        if target.calls is None or (self.carts and not target.has_carts):
            return None
        orders = OrderMaker(settings.product_count, self.items)

        async def step(client_calls, client, rng, prepared):
            await self.step(client_calls, client, rng, orders, settings.product_count, prepared)

        async def setup(client_calls, clients):
            return await self.setup(client_calls, clients, orders, settings)

        return run_python_client(target.calls, self.clients, settings.duration, settings.warmup, step,
                                 setup if self.setup else None, usage)


def middle_product(target, settings):
    return target.get_product(max(1, settings.product_count // 2))


def middle_row(count):
    """First row of the page holding the catalogue's middle product."""
    return count // 2 // PAGE_SIZE * PAGE_SIZE


def last_row(count):
    return max(0, (count - 1) // PAGE_SIZE * PAGE_SIZE)


async def fill_carts(calls, clients, orders, settings):
    """Carts holding one order's lines each, filled before the measurement (a queue of (customer number, cart id)):
    as many as checkouts at FILLED_CARTS_PER_SECOND could use, so that only checkouts and completions are measured."""
    filled = asyncio.Queue()
    count = int(FILLED_CARTS_PER_SECOND * (settings.duration + settings.warmup))

    async def fill(client):
        while filled.qsize() < count:
            number, lines = orders.next_order()
            filled.put_nowait((number, await calls.fill_cart(client, number, lines)))
    await asyncio.gather(*(fill(client) for client in range(clients)))
    return filled


async def check_out_and_complete(calls, client, rng, orders, product_count, filled):
    if filled.empty():  # faster than foreseen: fill one more, in the measurement
        number, lines = orders.next_order()
        filled.put_nowait((number, await calls.fill_cart(client, number, lines)))
    number, cart_id = filled.get_nowait()
    await calls.check_out(client, cart_id, number)
    await calls.complete(client, cart_id)


async def read_mostly(calls, client, rng, orders, product_count, prepared):
    if rng.random() < READ_SHARE:
        await calls.get_product(client, rng.randint(1, product_count))
    else:
        await calls.create_order(client, *orders.next_order())


def seeded(settings):
    """What the listings of the orders seeded hold (bench.dataset.OrderListings)."""
    return order_listings(settings.order_count)


def key_before(listing, page, page_size=PAGE_SIZE):
    """The key that `page` ('first' or 'last') of `listing` follows, which its page token carries (0: none)."""
    return listing.last_page_after(page_size) if page == 'last' else 0


def orders_by_status(page):
    def request(target, settings):
        return target.list_orders(LISTED_STATUS, key_before(seeded(settings).by_status[LISTED_STATUS], page))
    return request


def orders_by_customer(page):
    def request(target, settings):
        return target.orders_by_customer(customer_email(BUSIEST_CUSTOMER),
                                         key_before(seeded(settings).by_customer[BUSIEST_CUSTOMER], page))
    return request


def order_events(page):
    def request(target, settings):
        listings = seeded(settings)
        return target.order_events(listings.history_order, key_before(listings.history, page, HISTORY_PAGE_SIZE),
                                   HISTORY_PAGE_SIZE)
    return request


SCENARIOS = [
    Fixed('get_product', 'GetProduct of the middle product', CLIENTS, middle_product),
    Fixed('get_product_1client', 'GetProduct, one client (latency)', 1, middle_product),
    # A process's CPU per call falls as its load rises (more calls share each wake-up and each write), so two paths
    # compare their CPU per call at the same load: this one, not each at the most it answers.
    Fixed('get_product_steady', f'GetProduct at a fixed {CLIENTS * STEADY_RATE} calls/s ({CLIENTS} clients x '
          f'{STEADY_RATE})', CLIENTS, middle_product, rate=STEADY_RATE),
    Fixed('list_first', f'ListProducts first page of {PAGE_SIZE}', QUERY_CLIENTS,
          lambda target, run: target.list_page(0)),
    Fixed('list_middle', 'ListProducts page in the middle', QUERY_CLIENTS,
          lambda target, run: target.list_page(middle_row(run.product_count))),
    Fixed('list_last', 'ListProducts last page', QUERY_CLIENTS,
          lambda target, run: target.list_page(last_row(run.product_count))),
    Fixed('search', f'SearchProducts q={SEARCH_TERM!r} (name substring), first page', QUERY_CLIENTS,
          lambda target, run: target.search(SEARCH_TERM)),
    *[Fixed(f'create_order_{items}{suffix}', f'CreateOrder, {items} item(s), {clients} client(s), every order must '
            'succeed', clients, lambda target, run, items=items: target.create_order(run.product_count, items))
      for items, clients, suffix in ((1, CLIENTS, ''), (1, TAIL_CLIENTS, f'_{TAIL_CLIENTS}clients'), (5, CLIENTS, ''))],
    *[scenario for page in ('first', 'last') for scenario in (
        Fixed(f'orders_status_{page}', f'ListOrders status={LISTED_STATUS}, {page} page of {PAGE_SIZE}',
              QUERY_CLIENTS, orders_by_status(page)),
        Fixed(f'orders_customer_{page}', f'GetOrdersByCustomer of the busiest customer, {page} page of {PAGE_SIZE}',
              QUERY_CLIENTS, orders_by_customer(page)),
        Fixed(f'order_events_{page}', f'ListOrderEvents of a delivered order, {page} page of {HISTORY_PAGE_SIZE}',
              QUERY_CLIENTS, order_events(page)))],
    Scripted('checkout_complete', 'CheckoutCart then CompleteCheckout of a 1-item cart filled before the run',
             CLIENTS, check_out_and_complete, 1, fill_carts, carts=True),
    Scripted('mixed', f'{READ_SHARE:.0%} GetProduct of a random product, the rest 1-item orders', CLIENTS,
             read_mostly, 1),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
# Target 3: these scenarios also run over gRPC through our Envoy and through a bare one, when they run at all.
ENVOY_HOP = ('get_product', 'get_product_1client', 'get_product_steady')
SMOKE = ['get_product', 'get_product_steady', 'list_last', 'search', 'create_order_5', 'orders_status_last',
         'orders_customer_last', 'order_events_last', 'checkout_complete', 'mixed']


def run_scenario(scenario, target, settings, logs=(), counters=None):
    """One row of the results: the scenario's measurement on `target`, with each process tree's CPU seconds over the
    measured window, its CPU per successful request (each tree's and all of them), its peak RSS, and the failed calls
    the services logged meanwhile (a cross-check of the client's error count); where `counters` count each database's
    statements (PostgreSQL with pg_stat_statements), the statements per successful request too."""
    offsets = {process: process.log_size() for process in logs}
    usage = Usage(target.pids, counters)
    measurement = scenario.measure(target, settings, usage)
    if measurement is None:
        return None
    processes = usage.figures()
    succeeded = max(1, measurement.requests - measurement.errors)
    row = {'scenario': scenario.name, 'description': scenario.description, 'path': target.path,
           **asdict(measurement), 'requests_per_s': measurement.requests_per_s, 'processes': processes,
           'cpu_ms_per_request': {**{name: round(figures['cpu_s'] * 1000 / succeeded, 3)
                                     for name, figures in processes.items()},
                                  'all': round(sum(figures['cpu_s'] for figures in processes.values()) * 1000
                                               / succeeded, 3)}}
    if usage.statements:
        row['statements_per_request'] = {name: round(count / succeeded, 2) for name, count in usage.statements.items()}
    if logs:
        row['server_failed_calls'] = sum(failed_calls(process.log_since(offset)) for process, offset in offsets.items())
    return row
