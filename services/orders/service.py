"""Assembles the Orders server: storage, the Products client, the servicers of orders and carts, and the loops that
recover unfinished work and expire checkouts' holds."""
import asyncio
import contextlib
import datetime
import logging

import grpc
from ecommerce.orders.v1 import carts_pb2_grpc, orders_pb2_grpc

from services import server, tracing
from services.errors import Unavailable
from services.orders.cart_servicer import CartServicer
from services.orders.carts import CartDesk
from services.orders.feed import OrderFeed
from services.orders.servicer import OrderServicer
from services.orders.stock_client import StockClient
from services.orders.workflow import OrderDesk
from services.settings import CHECKOUT_HOLD_SECONDS, DATABASE_THREADS, SHOP_CURRENCY
from storage import orders as orders_storage
from storage.database import bind

# Connections each Orders worker keeps to Products, taking calls in turn. Products' workers share its port and the
# kernel hands each connection to one of them: over a single connection, every stock call of this worker would go to
# the same Products worker, whatever the others were doing.
PRODUCTS_CONNECTIONS = 4

# How often each worker looks for holds whose time has come: a hold's stock is back within this of its expiry, even
# with nobody calling. One indexed query a second when none is due.
EXPIRY_CHECK_SECONDS = 1.0

log = logging.getLogger('services.orders')


class PeriodicPass:
    """Runs the coroutine function `work` at start and then every `interval` seconds, in the server's event loop,
    until stopped; stopping lets a pass under way finish. A pass that fails is logged and tried again next time; while
    the database is out of reach, the first pass deferred says so and the first to go through again says how many
    were deferred, rather than a warning every second for the whole outage."""

    def __init__(self, name, work, interval):
        self._name = name
        self._work = work
        self._interval = interval
        self._stopped = asyncio.Event()
        self._task = None

    def start(self):
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self):
        self._stopped.set()
        await self._task

    async def run_once(self):
        return await self._work()

    async def _run(self):
        deferred = 0  # passes deferred in a row
        while True:
            try:
                await self.run_once()
                if deferred:
                    log.info('%s pass resumed', self._name, extra={'fields': {'passes_deferred': deferred}})
                deferred = 0
            except (Unavailable, *server.DATABASE_OUTAGES) as error:  # the database is out of reach for now
                if not deferred:
                    log.warning('%s pass deferred', self._name, extra={'fields': {'error': str(error).strip()}})
                deferred += 1
            except Exception:  # keep going on the next round whatever went wrong
                log.exception('%s pass failed', self._name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval)
            if self._stopped.is_set():
                return


class Background:
    """What runs beside an Orders server: the recovery and expiry loops, and the feed of changes that watches read."""

    def __init__(self, recovery, expiry, changes):
        self.recovery = recovery
        self.expiry = expiry
        self.changes = changes

    def start(self):
        self.recovery.start()
        self.expiry.start()

    def shutdown(self):
        """The server is stopping: watches would never end by themselves, so they end now."""
        self.changes.close()

    async def stop(self):
        await self.recovery.stop()
        await self.expiry.stop()


async def create_server(address, database_url, products_address, products_timeout=5.0, threads=DATABASE_THREADS,
                        recovery_interval=10.0, stale_after=None, tls=None, products_tls=None,
                        gate=server.OPEN_GATE, issuer=None, tracer_provider=None, currency=SHOP_CURRENCY,
                        hold_seconds=CHECKOUT_HOLD_SECONDS):
    """Orders server on `address` (port 0 picks one), serving TLS with `tls` (a server.ServerTls) to the callers
    `gate` (an auth.Gate) admits, and calling Products over TLS with `products_tls` (a server.ChannelTls) with
    `service` tokens that `issuer` (an auth.TokenIssuer; None: no token) signs; with `tracer_provider`, its calls and
    each call to Products make spans of one trace; its orders are in `currency` (the shop's), and a checkout holds
    its stock `hold_seconds`. Returns (server, port, health, Background).

    A placement older than `stale_after` is surely not in flight any more, so recovery undoes it; it
    must exceed `products_timeout` by far (default: six times it, at least 30 s).
    """
    stale_after = stale_after or datetime.timedelta(seconds=max(30.0, 6 * products_timeout))
    steps = server.DatabaseSteps(bind(orders_storage.database, database_url, orders_storage.MODELS, currency),
                                 threads)
    # Round-robin spreads calls over every address the target resolves to (replicas of Products). While Products
    # is down, gRPC's reconnection backoff grows to 2 minutes by default, so after a long outage Orders would go
    # on refusing orders that long after Products is back; retrying the connection every second bounds that.
    # A local subchannel pool gives each channel a connection of its own (gRPC shares one between channels of the
    # same target and options otherwise).
    options = [('grpc.lb_policy_name', 'round_robin'), ('grpc.max_reconnect_backoff_ms', 1000),
               ('grpc.use_local_subchannel_pool', 1)]
    interceptors = tracing.client_interceptors(tracer_provider)
    channels = [grpc.aio.secure_channel(products_address, products_tls.credentials(), options,
                                        interceptors=interceptors) if products_tls
                else grpc.aio.insecure_channel(products_address, options, interceptors=interceptors)
                for _ in range(PRODUCTS_CONNECTIONS)]
    # A retry waits for an earlier try being undone at most as long as that try's release call can take.
    stock = StockClient(channels, products_timeout, issuer, currency)
    desk = OrderDesk(stock, steps, settle_wait=products_timeout + 1, currency=currency)
    carts = CartDesk(stock, steps, desk, hold_seconds, currency)
    changes = OrderFeed(steps, desk.records)
    grpc_server, port, health = await server.create_server(address, steps, [
        (orders_pb2_grpc.add_OrderServiceServicer_to_server, OrderServicer(desk, changes, steps)),
        (carts_pb2_grpc.add_CartServiceServicer_to_server, CartServicer(carts, changes)),
    ], tls, gate, tracer_provider)

    async def recover():
        return await desk.recover(stale_after) + await carts.recover(stale_after)
    return grpc_server, port, health, Background(PeriodicPass('recovery', recover, recovery_interval),
                                                 PeriodicPass('expiry', carts.expire_due, EXPIRY_CHECK_SECONDS),
                                                 changes)
