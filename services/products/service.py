"""Assembles the Products server: storage bound to its database, servicer, shared plumbing."""
from ecommerce.products.v1 import products_pb2_grpc

from services import server
from services.products.servicer import ProductServicer
from services.settings import THREADS_PER_WORKER
from storage import products as products_storage
from storage.database import bind


def create_server(address, database_url, threads=THREADS_PER_WORKER):
    """Products server on `address` (port 0 picks one) over `database_url`; returns (server, port, health)."""
    database = bind(products_storage.database, database_url, products_storage.MODELS)
    return server.create_server(address, database, [
        (products_pb2_grpc.add_ProductServiceServicer_to_server, ProductServicer())], max_workers=threads)
