"""A Python asyncio load client for the scenarios that need logic between requests (orders that must succeed, a mixed
workload), over grpc.aio for gRPC and aiohttp for REST. It competes with the servers for CPU and is labelled
"python client" in the results; h2load measures everything that a fixed request can."""
import asyncio
import contextlib
import itertools
import json
import random
import resource
import threading
import time

import grpc
from ecommerce.orders.v1 import carts_pb2, carts_pb2_grpc, orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from bench.loadgen import Measurement

TOOL = 'python client'


def self_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class OrderMaker:
    """Orders of `items` distinct products picked round-robin over the catalogue, so that stock is drawn evenly and
    no order runs short (the seed gives every product plenty)."""

    def __init__(self, product_count, items):
        if items > product_count:
            raise ValueError(f'{items} items per order need at least as many products, not {product_count}')
        self._product_count = product_count
        self._items = items
        self._counter = itertools.count()

    def next_order(self):
        """(customer number, [(product_id, quantity), ...])."""
        number = next(self._counter)
        first = number * self._items
        return number, [((first + index) % self._product_count + 1, 1) for index in range(self._items)]


def order_fields(number):
    return {'customer_name': f'Bench Shopper {number}', **cart_fields(number),
            'shipping_address': f'{number} Benchmark Road, Testville'}


def cart_fields(number):
    return {'customer_email': f'shopper{number % 1000}@example.com'}


def checkout_fields(number):
    return {'customer_name': f'Bench Shopper {number}', 'shipping_address': f'{number} Benchmark Road, Testville'}


class GrpcCalls:
    """The calls of the python-client scenarios over native gRPC, one channel (one connection) per client."""

    def __init__(self, products, orders, clients):
        # A local subchannel pool gives every channel its own connection, as h2load's clients have.
        options = [('grpc.use_local_subchannel_pool', 1)]
        self._channels = [(grpc.aio.insecure_channel(products, options), grpc.aio.insecure_channel(orders, options))
                          for _ in range(clients)]
        self._stubs = [(products_pb2_grpc.ProductServiceStub(product_channel),
                        orders_pb2_grpc.OrderServiceStub(order_channel), carts_pb2_grpc.CartServiceStub(order_channel))
                       for product_channel, order_channel in self._channels]

    async def get_product(self, client, product_id):
        await self._stubs[client][0].GetProduct(products_pb2.GetProductRequest(id=product_id), timeout=30)

    async def create_order(self, client, number, lines):
        await self._stubs[client][1].CreateOrder(orders_pb2.CreateOrderRequest(
            **order_fields(number), items=[orders_pb2.OrderItemRequest(product_id=product_id, quantity=quantity)
                                           for product_id, quantity in lines]), timeout=30)

    async def fill_cart(self, client, number, lines):
        """A new cart holding `lines`; its id."""
        carts = self._stubs[client][2]
        cart = await carts.CreateCart(carts_pb2.CreateCartRequest(**cart_fields(number)), timeout=30)
        for product_id, quantity in lines:
            await carts.AddCartItem(carts_pb2.AddCartItemRequest(cart_id=cart.id, product_id=product_id,
                                                                 quantity=quantity), timeout=30)
        return cart.id

    async def check_out(self, client, cart_id, number):
        await self._stubs[client][2].CheckoutCart(carts_pb2.CheckoutCartRequest(id=cart_id, **checkout_fields(number)),
                                                  timeout=30)

    async def complete(self, client, cart_id):
        await self._stubs[client][2].CompleteCheckout(carts_pb2.CompleteCheckoutRequest(id=cart_id), timeout=30)

    async def close(self):
        for channels in self._channels:
            for channel in channels:
                await channel.close()


class RestCalls:
    """The same calls over REST (HTTP/1.1 keep-alive, one connection per client at most). `product_path` and
    `orders_path` are the routes of the system called: ours through Envoy, or the baseline's."""

    def __init__(self, base_url, clients, product_path='/api/products/{id}', orders_path='/api/orders'):
        import aiohttp
        self._aiohttp = aiohttp
        self._base_url = base_url
        self._product_path = product_path
        self._orders_path = orders_path
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients),
                                              timeout=aiohttp.ClientTimeout(total=30))

    async def _checked(self, request):
        """The JSON body of a successful answer; RuntimeError for any other."""
        async with request as response:
            body = await response.read()
            if not 200 <= response.status < 300:
                raise RuntimeError(f'HTTP {response.status}: {body[:300]!r}')
            return json.loads(body) if body else None

    async def get_product(self, client, product_id):
        await self._checked(self._session.get(self._base_url + self._product_path.format(id=product_id)))

    async def create_order(self, client, number, lines):
        await self._checked(self._session.post(self._base_url + self._orders_path, json={
            **order_fields(number), 'items': [{'product_id': product_id, 'quantity': quantity}
                                              for product_id, quantity in lines]}))

    async def fill_cart(self, client, number, lines):
        cart = await self._checked(self._session.post(f'{self._base_url}/api/carts', json=cart_fields(number)))
        for product_id, quantity in lines:
            await self._checked(self._session.post(f'{self._base_url}/api/carts/{cart["id"]}/items',
                                                   json={'product_id': product_id, 'quantity': quantity}))
        return cart['id']

    async def check_out(self, client, cart_id, number):
        await self._checked(self._session.post(f'{self._base_url}/api/carts/{cart_id}/checkout',
                                               json=checkout_fields(number)))

    async def complete(self, client, cart_id):
        await self._checked(self._session.post(f'{self._base_url}/api/carts/{cart_id}/complete', json={}))

    async def close(self):
        await self._session.close()


@contextlib.contextmanager
def idle_watchers(base_url, count):
    """`count` WatchOrders streams through Envoy (REST, one connection each), open until the block ends: the watchers
    of target 7, which wait for a change that does not come. They run in a thread with its own event loop, so that
    h2load can load the system meanwhile."""
    import aiohttp
    opened, stop = threading.Event(), None
    failure = []

    async def hold():
        nonlocal stop
        stop = asyncio.Event()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=count)) as session:
            try:
                responses = await asyncio.gather(*(session.get(f'{base_url}/api/orders/watch') for _ in range(count)))
            except Exception as error:  # reported by the caller's thread
                failure.append(f'{type(error).__name__}: {error}')
                opened.set()
                return
            try:
                if any(response.status != 200 for response in responses):
                    failure.append(f'watch answered {[response.status for response in responses][:5]}')
                opened.set()
                await stop.wait()
            finally:
                for response in responses:
                    response.close()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(hold(),), daemon=True)
    thread.start()
    try:
        if not opened.wait(30) or failure:
            raise RuntimeError(f'{count} watchers did not open: {failure or "timed out"}')
        yield
    finally:
        if stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


async def _drive(calls, clients, duration, warmup, step, setup, usage):
    """Run `clients` loops of `step(calls, client, rng, prepared)` for warmup + duration seconds, after `prepared =
    await setup(calls, clients)` (None without a setup), which is neither timed nor measured; time the steps that
    start after warm-up, and measure `usage` (bench.processes.Usage) from then until the last step ends."""
    latencies, errors, first_errors = [], 0, []
    prepared = await setup(calls, clients) if setup else None
    measuring_from = time.monotonic() + warmup
    stop_at = measuring_from + duration

    async def client_loop(client):
        nonlocal errors
        rng = random.Random(client)
        while (started := time.monotonic()) < stop_at:
            try:
                await step(calls, client, rng, prepared)
                failed = False
            except Exception as error:  # every failure is a figure here, not a crash of the run
                failed = True
                if len(first_errors) < 3:
                    first_errors.append(f'{type(error).__name__}: {error}'[:300])
            errors += failed  # warm-up included: every order must succeed
            if started >= measuring_from:
                latencies.append((time.monotonic() - started) * 1000)

    async def open_window():
        await asyncio.sleep(measuring_from - time.monotonic())
        if usage:
            usage.start()
        return self_cpu_seconds()

    window = asyncio.create_task(open_window())
    await asyncio.gather(*(client_loop(client) for client in range(clients)))
    if usage:
        usage.stop()
    cpu = self_cpu_seconds() - await window
    await calls.close()
    notes = [f'first errors: {"; ".join(first_errors)}'] if first_errors else []
    return Measurement.from_latencies(TOOL, clients, duration, latencies, errors, cpu, notes)


def run_python_client(make_calls, clients, duration, warmup, step, setup=None, usage=None):
    """Measure `step` (an async function of (calls, client, rng, prepared)) with `make_calls(clients)` in a fresh event
    loop, after `setup` (an async function of (calls, clients) returning `prepared`) if given; `usage` over the
    measured window."""
    async def main():
        return await _drive(make_calls(clients), clients, duration, warmup, step, setup, usage)
    return asyncio.run(main())


def place_holds(make_calls, count, product_count, clients=32):
    """Check out `count` carts of one product each through `make_calls(clients)` (GrpcCalls), `clients` at a time, and
    leave them so: `count` live holds, as many shoppers paying at once would leave."""
    numbers = itertools.count()

    async def client_loop(calls, client):
        while (number := next(numbers)) < count:
            cart_id = await calls.fill_cart(client, number, [(number % product_count + 1, 1)])
            await calls.check_out(client, cart_id, number)

    async def main():
        calls = make_calls(clients)
        try:
            await asyncio.gather(*(client_loop(calls, client) for client in range(clients)))
        finally:
            await calls.close()
    asyncio.run(main())
