"""Assembles the Products server: storage bound to its database, its two servicers, shared plumbing."""
from ecommerce.products.v1 import products_pb2_grpc, stock_pb2_grpc

from services import metrics, server
from services.products.servicer import ProductServicer
from services.products.stock_servicer import StockServicer
from services.settings import DATABASE_THREADS, SHOP_CURRENCY
from storage import products as products_storage
from storage.database import bind


async def create_server(address, database_url, threads=DATABASE_THREADS, tls=None, gate=server.OPEN_GATE,
                        tracer_provider=None, currency=SHOP_CURRENCY):
    """Products server on `address` (port 0 picks one) over `database_url`, pricing in `currency` (the shop's),
    serving TLS with `tls` (a server.ServerTls) to the callers `gate` (an auth.Gate) admits, tracing its calls with
    `tracer_provider`; returns (server, port, health)."""
    steps = server.DatabaseSteps(
        bind(products_storage.database, database_url, products_storage.MODELS, currency), threads)
    metrics.stock()  # made now, so that its counters are scraped as 0 before the first reservation
    return await server.create_server(address, steps, [
        (products_pb2_grpc.add_ProductServiceServicer_to_server, ProductServicer(steps, currency)),
        # Orders' stock calls, on the same port; the gateway does not route them.
        (stock_pb2_grpc.add_StockServiceServicer_to_server, StockServicer()),
    ], tls, gate, tracer_provider)
