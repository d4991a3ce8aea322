"""Assembles the Orders server: storage, the Products client, the servicer and the recovery loop."""
import datetime
import logging
import threading

import grpc
from ecommerce.orders.v1 import orders_pb2_grpc

from services import server
from services.orders.servicer import OrderServicer
from services.orders.stock_client import StockClient
from services.orders.workflow import OrderDesk
from services.settings import THREADS_PER_WORKER
from storage import orders as orders_storage
from storage.database import bind

log = logging.getLogger('services.orders')


class RecoveryLoop:
    """Runs OrderDesk.recover at start and then every `interval` seconds, until stopped."""

    def __init__(self, desk, database, interval, stale_after):
        self._desk = desk
        self._database = database
        self._interval = interval
        self._stale_after = stale_after
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name='order-recovery', daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stopped.set()
        self._thread.join()

    def run_once(self):
        with self._database.connection_context():
            return self._desk.recover(self._stale_after)

    def _run(self):
        while True:
            try:
                self.run_once()
            except Exception:  # keep recovering on the next round whatever went wrong
                log.exception('recovery pass failed')
            if self._stopped.wait(self._interval):
                return


def create_server(address, database_url, products_address, products_timeout=5.0, threads=THREADS_PER_WORKER,
                  recovery_interval=10.0, stale_after=None):
    """Orders server on `address` (port 0 picks one); returns (server, port, health, recovery loop).

    A placement older than `stale_after` is surely not in flight any more, so recovery undoes it; it
    must exceed `products_timeout` by far (default: six times it, at least 30 s).
    """
    stale_after = stale_after or datetime.timedelta(seconds=max(30.0, 6 * products_timeout))
    database = bind(orders_storage.database, database_url, orders_storage.MODELS)
    # Round-robin spreads calls over every address the target resolves to (replicas of Products). While Products
    # is down, gRPC's reconnection backoff grows to 2 minutes by default, so after a long outage Orders would go
    # on refusing orders that long after Products is back; retrying the connection every second bounds that.
    channel = grpc.insecure_channel(products_address, options=[('grpc.lb_policy_name', 'round_robin'),
                                                               ('grpc.max_reconnect_backoff_ms', 1000)])
    # A retry waits for an earlier try being undone at most as long as that try's release call can take.
    desk = OrderDesk(StockClient(channel, products_timeout), settle_wait=products_timeout + 1)
    grpc_server, port, health = server.create_server(address, database, [
        (orders_pb2_grpc.add_OrderServiceServicer_to_server, OrderServicer(desk))], max_workers=threads)
    return grpc_server, port, health, RecoveryLoop(desk, database, recovery_interval, stale_after)
