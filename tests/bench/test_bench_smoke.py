"""The benchmark itself, kept from rotting: the whole harness in its smoke size (python -m bench --smoke) measures
every scenario of the smoke set on both of our paths without an error and leaves nothing running; and h2load's
blindness to gRPC statuses is really made up for."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ecommerce.products.v1 import products_pb2

from bench.loadgen import grpc_request, run_h2load
from bench.processes import ROOT, start_service
from bench.report import ORDER_LISTINGS
from bench.scenarios import ENVOY_HOP, SMOKE
from bench.targets import FLOOR, GRPC_BARE_ENVOY, GRPC_DIRECT, GRPC_ENVOY, IDLE_WATCHERS, PRODUCT_SERVICE, REST_ENVOY
from tests.conftest import DATABASE_INDEPENDENT

pytestmark = pytest.mark.e2e


def bench_database():
    """The smoke run uses the suite's PostgreSQL server on the PostgreSQL half (it makes its own databases there),
    SQLite otherwise."""
    database = os.environ.get('ECOMMERCE_TEST_DATABASE', 'sqlite')
    return database if database.startswith('postgres') else ''


def running_commands_mentioning(text):
    found = []
    for cmdline in Path('/proc').glob('[0-9]*/cmdline'):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            continue  # gone meanwhile
    return found


def test_smoke_run_measures_every_scenario_on_both_paths_and_stops_everything(tmp_path, figures):
    done = subprocess.run([sys.executable, '-m', 'bench', '--smoke', '--results', str(tmp_path)], cwd=ROOT,
                          env={**os.environ, 'BENCH_DB': bench_database()}, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / 'latest.json').read_text())
    rows = {(row['scenario'], row['path']): row for row in results['rows']}
    # The orders' listings are measured over gRPC only (target 5 is a database's cost, not a path's).
    listings = {scenario for scenario in SMOKE if scenario.startswith(ORDER_LISTINGS)}
    assert listings
    hop_paths = (GRPC_ENVOY, GRPC_BARE_ENVOY, FLOOR)
    assert set(rows) == {(scenario, path) for scenario in SMOKE for path in (GRPC_DIRECT, REST_ENVOY)
                         if scenario not in listings or path == GRPC_DIRECT} | {
        (scenario, path) for scenario in set(ENVOY_HOP) & set(SMOKE) for path in hop_paths} | {
        (f'get_product_{count}_watchers', REST_ENVOY) for count in (0, IDLE_WATCHERS)} | {
        (f'get_product_{holds}_holds', REST_ENVOY) for holds in ('no', 'live')}
    for key, row in rows.items():
        assert row['requests'] > 0, key
        assert row['errors'] == 0, (key, row['notes'])
        assert row.get('server_failed_calls', 0) == 0, key
        assert row['p50_ms'] <= row['p95_ms'] <= row['p99_ms'], key
        assert {'products', 'envoy'} <= set(row['processes']) or set(row['processes']) == {'floor'}, key
        assert all(process['peak_rss_mb'] > 0 for process in row['processes'].values()), key
        # CPU per request: every process measured, over the measured window only, and all of them together.
        costs = row['cpu_ms_per_request']
        assert set(costs) == {*row['processes'], 'all'}, key
        assert costs['all'] == pytest.approx(sum(value for name, value in costs.items() if name != 'all'), abs=0.01)
        assert costs['all'] > 0, key
    assert {verdict['verdict'] for verdict in results['targets']} <= {'PASS', 'MISS', 'n/a', 'info'}
    assert (tmp_path / 'latest.png').read_bytes().startswith(b'\x89PNG')
    assert 'scenario' in done.stdout and 'CreateOrder' in done.stdout  # the table and the targets
    # Nothing it started survives it: not the processes it measured, nor anything using its temp folder.
    assert results['pids'] and not [pid for pid in results['pids'] if Path(f'/proc/{pid}').exists()]
    assert not running_commands_mentioning(results['folder'])
    figures(rows=len(rows), requests=sum(row['requests'] for row in rows.values()),
            database=results['settings']['database'], wall_s=results['wall_seconds'])


# h2load's counting, against a Products on a SQLite file of its own: the SQLite pass only.
@DATABASE_INDEPENDENT
def test_failed_grpc_calls_count_as_errors_though_h2load_sees_http_200(tmp_path):
    process, address = start_service('products', f'sqlite:///{tmp_path}/products.db', tmp_path)
    try:
        missing = grpc_request(address, f'{PRODUCT_SERVICE}/GetProduct', products_pb2.GetProductRequest(id=1))
        measured = run_h2load(missing, clients=2, duration=0.5, warmup=0, folder=tmp_path, checked=False)
    finally:
        process.stop()
    assert measured.requests > 0
    assert measured.errors == measured.requests
