"""The servers' connection limits, with a real server whose calls wait until the test lets them go: one connection
carries at most MAX_STREAMS_PER_CONNECTION calls at once (the client holds the rest back), and a worker serves at most
MAX_CONCURRENT_CALLS at once (the next is refused at once with RESOURCE_EXHAUSTED)."""
import asyncio
import contextlib
import time

import grpc
import pytest
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from services import server
from services.settings import MAX_CONCURRENT_CALLS, MAX_STREAMS_PER_CONNECTION
from storage.database import open_database
from tests.conftest import DATABASE_INDEPENDENT
from tests.servers import serving

# Limits of a server whose calls never reach its database (a SQLite file of its own): the SQLite pass only.
pytestmark = DATABASE_INDEPENDENT


class WaitingProducts(products_pb2_grpc.ProductServiceServicer):
    """GetProduct waits for `release`, counting the calls in progress."""
    SERVICE_NAME = 'ecommerce.products.v1.ProductService'

    def __init__(self):
        self.in_progress = 0
        self.release = asyncio.Event()

    async def GetProduct(self, request, context):
        self.in_progress += 1
        try:
            await self.release.wait()
            return products_pb2.Product(id=request.id)
        finally:
            self.in_progress -= 1


@pytest.fixture
def waiting(tmp_path, loop):
    """(servicer, address): a server of WaitingProducts; every waiting call is released at the end."""
    servicer = loop.run(_make(WaitingProducts))
    steps = server.DatabaseSteps(open_database(f'sqlite:///{tmp_path}/x.db'))
    with serving(server.create_server('127.0.0.1:0', steps, [
            (products_pb2_grpc.add_ProductServiceServicer_to_server, servicer)]), loop) as (_server, port, _health):
        try:
            yield servicer, f'127.0.0.1:{port}'
        finally:
            loop.loop.call_soon_threadsafe(servicer.release.set)


async def _make(kind):
    return kind()  # in the server's loop, which its asyncio.Event then belongs to


def wait_for(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.02)


def test_one_connection_carries_at_most_the_stream_limit_at_once(waiting, loop):
    servicer, address = waiting
    with grpc.insecure_channel(address) as channel:
        stub = products_pb2_grpc.ProductServiceStub(channel)
        # Connected first: the client learns the limit from the server's first frame (before it, the server
        # refuses the streams over the limit, and the client gives up on them with UNAVAILABLE).
        grpc.channel_ready_future(channel).result(timeout=10)
        admitted = [stub.GetProduct.future(products_pb2.GetProductRequest(id=number), timeout=30)
                    for number in range(MAX_STREAMS_PER_CONNECTION)]
        wait_for(lambda: servicer.in_progress == MAX_STREAMS_PER_CONNECTION)
        waiting = [stub.GetProduct.future(products_pb2.GetProductRequest(id=number), timeout=30) for number in range(5)]
        time.sleep(0.5)  # time enough for the 5 extra calls to arrive if the limit let them
        assert servicer.in_progress == MAX_STREAMS_PER_CONNECTION
        assert not any(call.done() for call in waiting)
        loop.loop.call_soon_threadsafe(servicer.release.set)
        assert all(call.code() == grpc.StatusCode.OK for call in admitted)
        # As the first calls end, the client sends the waiting ones a little before the server has counted the
        # ended ones out: the server may refuse a few (REFUSED_STREAM, which the client reports as UNAVAILABLE;
        # Envoy retries those, as it is sure they were never served).
        assert {call.code() for call in waiting} <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}


def test_a_call_past_the_worker_limit_is_refused_at_once(waiting):
    servicer, address = waiting
    connections = -(-MAX_CONCURRENT_CALLS // MAX_STREAMS_PER_CONNECTION)
    with contextlib.ExitStack() as stack:
        # Distinct channel arguments keep grpc from sharing one connection between the channels.
        stubs = [products_pb2_grpc.ProductServiceStub(stack.enter_context(
            grpc.insecure_channel(address, options=[('ecommerce.test.connection', number)])))
            for number in range(connections + 1)]
        calls = [stubs[number // MAX_STREAMS_PER_CONNECTION].GetProduct.future(
            products_pb2.GetProductRequest(id=1), timeout=30) for number in range(MAX_CONCURRENT_CALLS)]
        wait_for(lambda: servicer.in_progress == MAX_CONCURRENT_CALLS)
        with pytest.raises(grpc.RpcError) as refused:
            stubs[-1].GetProduct(products_pb2.GetProductRequest(id=2), timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert all(not call.done() for call in calls)
