"""The scenarios, each run on every path that has its route: fixed requests through h2load, orders and the mixed
workload through the python client (they need a fresh order, or a choice, per request)."""
import asyncio
from dataclasses import asdict, dataclass

from bench.asyncclient import OrderMaker, run_python_client
from bench.dataset import SEARCH_TERM
from bench.loadgen import run_h2load
from bench.processes import Usage, failed_calls
from bench.targets import PAGE_SIZE

CLIENTS = 32
# Paging and search have latency targets (p50 ≤ 5 ms, ≤ 20 ms): with one client they measure what a query costs,
# where 32 clients on a few cores would measure the queue in front of it.
QUERY_CLIENTS = 1
READ_SHARE = 0.9  # of the mixed workload; the rest are one-item orders
# Checkouts a second the carts filled before checkout_complete are meant for: above what this machine does.
FILLED_CARTS_PER_SECOND = 200


@dataclass(frozen=True)
class Settings:
    product_count: int
    duration: float
    warmup: float
    folder: str


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    clients: int

    def measure(self, target, settings):
        """A Measurement, or None when `target` lacks the route."""
        raise NotImplementedError


@dataclass(frozen=True)
class Fixed(Scenario):
    """One request repeated by h2load; `request(target, product_count)` picks it."""
    request: object = None

    def measure(self, target, settings):
        request = self.request(target, settings.product_count)
        if request is None:
            return None
        return run_h2load(request, self.clients, settings.duration, settings.warmup, settings.folder)


@dataclass(frozen=True)
class Scripted(Scenario):
    """The python client running `step(calls, client, rng, orders, product_count, prepared)` in every client loop,
    after `prepared = setup(calls, clients, orders, settings)`, unmeasured, if there is one. `carts`: the scenario
    needs a path with carts."""
    step: object = None
    items: int = 1
    setup: object = None
    carts: bool = False

    def measure(self, target, settings):
        if target.calls is None or (self.carts and not target.has_carts):
            return None
        orders = OrderMaker(settings.product_count, self.items)

        async def step(client_calls, client, rng, prepared):
            await self.step(client_calls, client, rng, orders, settings.product_count, prepared)

        async def setup(client_calls, clients):
            return await self.setup(client_calls, clients, orders, settings)

        return run_python_client(target.calls, self.clients, settings.duration, settings.warmup, step,
                                 setup if self.setup else None)


def middle_row(count):
    """First row of the page holding the catalogue's middle product."""
    return count // 2 // PAGE_SIZE * PAGE_SIZE


def last_row(count):
    return max(0, (count - 1) // PAGE_SIZE * PAGE_SIZE)


async def place_order(calls, client, rng, orders, product_count, prepared):
    await calls.create_order(client, *orders.next_order())


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


SCENARIOS = [
    Fixed('get_product', 'GetProduct of the middle product', CLIENTS,
          lambda target, count: target.get_product(max(1, count // 2))),
    Fixed('get_product_1client', 'GetProduct, one client (latency)', 1,
          lambda target, count: target.get_product(max(1, count // 2))),
    Fixed('list_first', f'ListProducts first page of {PAGE_SIZE}', QUERY_CLIENTS,
          lambda target, count: target.list_page(0)),
    Fixed('list_middle', 'ListProducts page in the middle', QUERY_CLIENTS,
          lambda target, count: target.list_page(middle_row(count))),
    Fixed('list_last', 'ListProducts last page', QUERY_CLIENTS,
          lambda target, count: target.list_page(last_row(count))),
    Fixed('search', f'SearchProducts q={SEARCH_TERM!r} (name substring), first page', QUERY_CLIENTS,
          lambda target, count: target.search(SEARCH_TERM)),
    Scripted('create_order_1', 'CreateOrder, 1 item, every order must succeed', CLIENTS, place_order, 1),
    Scripted('create_order_5', 'CreateOrder, 5 items, every order must succeed', CLIENTS, place_order, 5),
    Scripted('checkout_complete', 'CheckoutCart then CompleteCheckout of a 1-item cart filled before the run',
             CLIENTS, check_out_and_complete, 1, fill_carts, carts=True),
    Scripted('mixed', f'{READ_SHARE:.0%} GetProduct of a random product, the rest 1-item orders', CLIENTS,
             read_mostly, 1),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
SMOKE = ['get_product', 'list_last', 'search', 'create_order_5', 'checkout_complete', 'mixed']


def run_scenario(scenario, target, settings, logs=()):
    """One row of the results: the scenario's measurement on `target`, with each process tree's CPU seconds and
    peak RSS, and the failed calls the services logged meanwhile (a cross-check of the client's error count)."""
    offsets = {process: process.log_size() for process in logs}
    usage = Usage.start(target.pids)
    measurement = scenario.measure(target, settings)
    if measurement is None:
        return None
    row = {'scenario': scenario.name, 'description': scenario.description, 'path': target.path,
           **asdict(measurement), 'requests_per_s': measurement.requests_per_s,
           'processes': usage.finish(target.pids)}
    if logs:
        row['server_failed_calls'] = sum(failed_calls(process.log_since(offset)) for process, offset in offsets.items())
    return row
