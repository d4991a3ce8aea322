"""Two replicas of each service behind one Envoy: losing one of each under load loses no read and no stock.

Envoy balances across the replicas, probes them with the gRPC health protocol, retries reads that a dying
replica cut off, and ejects it; Orders spreads its calls over both Products replicas. Orders placed during
the loss are retried by the client with their request_id, so each is placed once.
"""
import random
import signal
import threading
import time
import urllib.request
import uuid
from collections import Counter

import grpc
import pytest
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from bench.processes import start_envoy
from tests.e2e.clients import RestClient
from tests.stock_checks import all_orders, assert_stock_conserved

pytestmark = pytest.mark.e2e

LOAD_SECONDS = 6
KILL_AFTER = 2


def envoy_stat(admin, name):
    with urllib.request.urlopen(f'http://{admin}/stats?filter=^{name}$', timeout=5) as reply:
        text = reply.read().decode()
    return int(text.split(':')[1]) if ':' in text else 0


def healthy_hosts(admin, cluster):
    with urllib.request.urlopen(f'http://{admin}/clusters', timeout=5) as reply:
        lines = reply.read().decode().splitlines()
    return sum(line.startswith(f'{cluster}::') and line.endswith('::health_flags::healthy') for line in lines)


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f'{what} within {timeout} s'
        time.sleep(0.1)


def served_calls(service):
    return sum(entry.get('message') == 'rpc' for entry in service.log_entries())


@pytest.fixture
def replicated(run_service, database_url, tmp_path):
    """Two Products and two Orders replicas over shared databases, behind the real Envoy."""
    products = [run_service('products', database_url('products')) for _ in range(2)]
    products_target = 'ipv4:' + ','.join(replica.address for replica in products)
    orders = [run_service('orders', database_url('orders'), ['--products-address', products_target,
                                                             '--products-timeout', '2', '--recovery-interval', '1'])
              for _ in range(2)]
    envoy, gateway, admin = start_envoy(tmp_path, [replica.address for replica in products],
                                        [replica.address for replica in orders])
    try:
        for cluster in ('products', 'orders'):
            wait_until(lambda cluster=cluster: healthy_hosts(admin, cluster) == 2, 15,
                       f'both {cluster} replicas healthy')
        yield products, orders, gateway, admin
    finally:
        envoy.stop()


@pytest.mark.parametrize('stop_signal', [signal.SIGKILL, signal.SIGTERM], ids=['killed', 'shut-down'])
def test_losing_a_replica_of_each_service_under_load_loses_no_read_and_no_stock(replicated, figures, stop_signal):
    products, orders, gateway, admin = replicated
    api = RestClient(gateway, timeout=10)
    initial = {}
    for index in range(4):
        reply = api.post('/api/products', {'name': f'Replicated {index}', 'price': '5.00', 'stock_quantity': 5000,
                                           'category': 'toys'})
        assert reply.status == 201, reply
        initial[int(reply.body['id'])] = 5000
    product_ids = list(initial)
    first_order = api.post('/api/orders', {'customer_name': 'Ada', 'customer_email': 'ada@example.com',
                                           'shipping_address': 'x', 'items': [{'product_id': product_ids[0],
                                                                               'quantity': 1}]})
    assert first_order.status == 201, first_order
    order_id = first_order.body['id']

    stop = threading.Event()
    reads, failures, placed, tries, unexpected = Counter(), [], [], Counter(), []
    lock = threading.Lock()
    channel = grpc.insecure_channel(gateway)
    grpc_products, grpc_orders = (products_pb2_grpc.ProductServiceStub(channel),
                                  orders_pb2_grpc.OrderServiceStub(channel))

    def reader(index):
        rng = random.Random(index)
        while not stop.is_set():
            kind = rng.choice(['rest product', 'rest list', 'rest order', 'grpc product', 'grpc order'])
            try:
                if kind.startswith('rest'):
                    path = {'rest product': f'/api/products/{rng.choice(product_ids)}',
                            'rest list': '/api/products?page_size=5', 'rest order': f'/api/orders/{order_id}'}[kind]
                    reply = api.get(path)
                    ok = reply.status == 200
                    kind = kind if ok else f'{kind}: {reply}'
                elif kind == 'grpc product':
                    ok = grpc_products.GetProduct(products_pb2.GetProductRequest(id=product_ids[1]), timeout=10).id
                else:
                    ok = grpc_orders.GetOrder(orders_pb2.GetOrderRequest(id=int(order_id)), timeout=10).id
            except (OSError, grpc.RpcError) as error:
                ok, kind = False, f'{kind}: {error}'
            with lock:
                reads[kind] += 1
                if not ok:
                    failures.append(kind)

    def buyer(index):
        rng = random.Random(100 + index)
        while not stop.is_set():
            body = {'request_id': str(uuid.uuid4()), 'customer_name': 'Buyer',
                    'customer_email': f'b{index}@example.com',
                    'shipping_address': 'x', 'items': [{'product_id': rng.choice(product_ids),
                                                        'quantity': rng.randint(1, 3)}]}
            for attempt in range(1, 30):  # a client that sends a request_id retries whatever happened
                try:
                    reply = api.post('/api/orders', body)
                except OSError:
                    reply = None
                if reply is not None and reply.status == 201:
                    with lock:
                        placed.append(reply.body['id'])
                        tries[attempt] += 1
                    break
                # Whatever did not refuse the order outright is retried: 503 from a replica gone, 499 (CANCELLED)
                # for a call a replica in shutdown dropped before starting it.
                if reply is not None and reply.status not in (499, 502, 503, 504):
                    unexpected.append(reply)
                    return
                time.sleep(0.2)
            else:
                unexpected.append(f'order {body["request_id"]} never placed')
            time.sleep(0.05)

    threads = ([threading.Thread(target=reader, args=(index,)) for index in range(6)]
               + [threading.Thread(target=buyer, args=(index,)) for index in range(3)])
    for thread in threads:
        thread.start()
    try:
        time.sleep(KILL_AFTER)
        served_before = [served_calls(replica) for replica in products + orders]
        for replica in (products[0], orders[0]):
            replica.process.popen.send_signal(stop_signal)
        time.sleep(LOAD_SECONDS - KILL_AFTER)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        channel.close()

    assert all(served_before), f'every replica served calls before the kill: {served_before}'
    assert failures == [], f'{len(failures)} of {sum(reads.values())} reads failed: {Counter(failures)}'
    assert unexpected == []
    assert len(placed) == len(set(placed)) and placed
    for cluster in ('products', 'orders'):
        wait_until(lambda cluster=cluster: healthy_hosts(admin, cluster) == 1, 10,
                   f'the dead {cluster} replica out of rotation')
    with grpc.insecure_channel(products[1].address) as to_products, \
            grpc.insecure_channel(orders[1].address) as to_orders:
        products_stub, orders_stub = (products_pb2_grpc.ProductServiceStub(to_products),
                                      orders_pb2_grpc.OrderServiceStub(to_orders))
        assert {int(order_id) for order_id in placed} <= {order.id for order in all_orders(orders_stub)}
        # A placement cut off by the kill gives its stock back once recovery (every second here) has run.
        wait_until(lambda: stock_conserved(products_stub, orders_stub, initial), 15, 'stock conserved')
        _stock, held = assert_stock_conserved(products_stub, orders_stub, initial)
    figures(replicas='2 products + 2 orders', stopped=f'1 of each ({stop_signal.name})', reads=sum(reads.values()),
            read_failures=len(failures), orders_placed=len(placed), orders_needing_retries=sum(
                count for attempt, count in tries.items() if attempt > 1),
            envoy_retries=envoy_stat(admin, 'cluster.products.upstream_rq_retry')
            + envoy_stat(admin, 'cluster.orders.upstream_rq_retry'),
            units_in_orders=sum(held.values()), invariant='initial == shelf + live orders')



def stock_conserved(products_stub, orders_stub, initial):
    try:
        assert_stock_conserved(products_stub, orders_stub, initial)
        return True
    except AssertionError:
        return False
