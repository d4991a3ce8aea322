"""The README's recipe for replicas behind Envoy (PostgreSQL), run as written: its fenced block, read from README.md,
so that this fails when the README drifts. Its ports are fixed, so it runs on a host of its own (a network namespace,
tests.network) where every port is free. Every replica serves, and calls through its Envoy reach each one; then every
process on that host is stopped and the host removed, pass or fail.

The recipe starts its own throwaway PostgreSQL, whatever the suite's database: the SQLite pass only.
"""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from scripts.run import envoy_ready
from scripts.throwaway_postgres import find_bin_dir
from services.settings import GATEWAY_ADDRESS, GATEWAY_ADMIN_ADDRESS
from tests.conftest import DATABASE_INDEPENDENT
from tests.e2e.clients import ROOT, RestClient
from tests.network import Network, unavailable_reason

pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT,
              pytest.mark.skipif(find_bin_dir() is None or shutil.which('psql') is None,
                                 reason='the recipe needs PostgreSQL (initdb, postgres, pg_isready) and psql')]

HEADING = '### Replicas behind Envoy (PostgreSQL)'
HOST = 'recipe'
# Seconds for PostgreSQL's initdb, four services' start and Envoy's first health checks, on a busy machine.
READY_WITHIN = 90
STOPS_WITHIN = 30  # seconds for everything on the host to end after SIGTERM, before SIGKILL
READS_WITHIN = 10  # seconds of reads through Envoy for its calls to reach every replica


def recipe():
    """The first bash block of the README's replicas section."""
    readme = (ROOT / 'README.md').read_text()
    return re.search(r'```bash\n(.*?)```', readme[readme.index(HEADING):], re.DOTALL)[1]


def stop_everything_on(network):
    """SIGTERM to every process on the recipe's host (the throwaway PostgreSQL then stops its server and removes its
    folder), SIGKILL to those left after STOPS_WITHIN."""
    for signum, wait in ((signal.SIGTERM, STOPS_WITHIN), (signal.SIGKILL, 0)):
        for pid in network.pids(HOST):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + wait
        while network.pids(HOST) and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.fixture
def recipe_running(tmp_path):
    """The recipe under bash on a host of its own: (that Network, the shell's Popen, the file its output goes to)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f'cannot give the recipe a host of its own here: {reason}')
    network = Network([HOST], [])
    try:
        log = tmp_path / 'recipe.log'
        with open(log, 'wb') as output:
            shell = subprocess.Popen([*network.run_in(HOST), 'bash', '-c', recipe()], cwd=ROOT,
                                     stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        try:
            yield network, shell, log
        finally:
            stop_everything_on(network)
            shell.wait()
    finally:
        network.remove()


def successes_per_replica():
    """Envoy's calls that succeeded, by (cluster, address) of the replica, from its admin interface."""
    with urllib.request.urlopen(f'http://{GATEWAY_ADMIN_ADDRESS}/clusters', timeout=5) as reply:
        stats = [line.split('::') for line in reply.read().decode().splitlines()]
    # products::127.0.0.1:50061::rq_success::12
    return {(cluster, address): int(count) for cluster, address, name, count in (stat for stat in stats
                                                                                 if len(stat) == 4)
            if name == 'rq_success'}


def shop_until_every_replica_served(replicas):
    """On the recipe's host: a product and an order through Envoy, then reads of both until Envoy has sent calls to
    every one of `replicas`, (cluster, address) pairs, or READS_WITHIN seconds passed; its successes per replica.
    Reads may go to one replica at first: Envoy's workers learn that the others passed their health checks up to a
    second after Envoy does (its update_merge_window)."""
    api = RestClient(GATEWAY_ADDRESS)
    product = api.call('POST', '/api/products', {'name': 'Lamp', 'price': '12.50', 'stock_quantity': 7,
                                                 'category': 'home'})
    assert product.status == 201, product
    order = api.call('POST', '/api/orders', {
        'customer_name': 'Ada', 'customer_email': 'ada@example.com', 'shipping_address': '1 Analytical Way',
        'items': [{'product_id': product.body['id'], 'quantity': 1}]})
    assert order.status == 201, order
    deadline = time.monotonic() + READS_WITHIN
    while True:
        for path in (f'/api/products/{product.body["id"]}', f'/api/orders/{order.body["id"]}'):
            reply = api.call('GET', path)
            assert reply.status == 200, reply
        served = successes_per_replica()
        if all(served.get(replica) for replica in replicas) or time.monotonic() > deadline:
            return served


def test_the_readme_recipe_runs_as_written_and_envoy_reaches_every_replica(recipe_running):
    network, shell, log = recipe_running
    replicas = [(cluster, address) for cluster in ('products', 'orders')
                for address in re.search(rf'--{cluster} (\S+)', recipe())[1].split(',')]
    assert len(replicas) == 4
    deadline = time.monotonic() + READY_WITHIN
    while not network.call_on(HOST, lambda: envoy_ready(GATEWAY_ADMIN_ADDRESS)):
        assert shell.poll() is None and time.monotonic() < deadline, \
            f'not every replica is healthy in Envoy:\n{log.read_text()[-6000:]}'
        time.sleep(0.2)
    served = network.call_on(HOST, lambda: shop_until_every_replica_served(replicas))
    assert all(served.get(replica) for replica in replicas), served
