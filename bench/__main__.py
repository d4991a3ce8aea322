"""python -m bench [--products N] [--duration S] [--smoke] [--only SCENARIO ...]: seed a fresh system, start it, run
every scenario on every path for a bounded time, stop everything, print the table and the targets, and write the JSON
and the chart under bench/results/. SQLite by default; BENCH_DB=postgresql://... (a server where databases may be
created) or BENCH_DB=throwaway (scripts/throwaway_postgres.py) for PostgreSQL."""
import contextlib
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.asyncclient import GrpcCalls, idle_watchers, place_holds
from bench.dataset import CUSTOMERS, ORDER_COUNT
from bench.loadgen import ensure_h2load
from bench.processes import (
    DESCRIPTOR,
    ROOT,
    bare_envoy,
    bench_databases,
    floor_server,
    process_tree,
    running_system,
    statement_counter,
)
from bench.scenarios import BY_NAME, ENVOY_HOP, SCENARIOS, SMOKE, Fixed, Settings, run_scenario
from bench.seed import seed_orders, seed_products
from bench.targets import (
    BASELINE,
    FLOOR,
    GRPC_BARE_ENVOY,
    GRPC_ENVOY,
    IDLE_WATCHERS,
    LIVE_HOLDS,
    GrpcDirect,
    GrpcGetProduct,
    RestEnvoy,
    baseline_runner,
)
from services.settings import CommandLine

MAX_DURATION = 15
WORKERS = 'workers'  # the --only name of target 4's runs: GetProduct with 1, then 2 Products workers
WATCHERS = 'watchers'  # target 7's: GetProduct via Envoy without, then with IDLE_WATCHERS idle watch streams
HOLDS = 'holds'  # target 9's: GetProduct via Envoy without, then with LIVE_HOLDS checkouts holding stock
SMOKE_HOLDS = 50  # live holds in the smoke run
SMOKE_ORDERS = 2_000
METHOD_NOTES = [
    ('h2load rows: one request repeated from N connections with one request in flight each, after a warm-up; '
     'latencies from its per-request log.'),
    ('gRPC errors: h2load counts HTTP statuses only; a failed unary call is a trailers-only response whose '
     'grpc-status h2load -v prints, and those are counted; each request is also sent once with a gRPC client before '
     'and after its run. "servers logged" shows the services\' own count of failed calls when it differs.'),
    ('python client rows: an asyncio client (grpc.aio / aiohttp) in the bench process, for requests that differ '
     '(every order new, product ids round-robin); it shares the CPU with the servers (its CPU is "load gen CPU s").'),
    'REST via Envoy is HTTP/1.1 keep-alive; the baseline (gunicorn, sync workers) closes every connection.',
    ('list_* and search run with 1 client: their targets are latencies, which 32 clients on a few cores would turn '
     'into queueing time.'),
    ('CPU s: each process tree\'s user+system CPU over the measured window (warm-up excluded: h2load warms up in a '
     'run of its own); CPU µs/request: that divided by the successful requests, for all processes the path goes '
     'through and each; peak RSS: the largest VmHWM in the tree (peak since the process started), xN when the tree '
     'has N processes.'),
    ('gRPC via Envoy / via bare Envoy: GetProduct over h2c through our gateway, and through an Envoy with nothing but '
     'a router in front of the same Products (bench.processes.BARE_ENVOY): what our configuration adds to the hop.'),
    (f'{FLOOR}: GetProduct answered with a constant by a bare grpc.aio server (bench/floor_server.py): what a call '
     'costs on this machine before any of our code runs.'),
]


def parse_args(argv):
    parser = CommandLine(prog='python -m bench', description=__doc__)
    parser.add_argument('--products', type=int, help='products seeded (default 1,000,000; 200 with --smoke)')
    parser.add_argument('--orders', type=int, help=f'orders seeded across {CUSTOMERS:,} customers (default '
                                                   f'1,000,000; {SMOKE_ORDERS:,} with --smoke)')
    parser.add_argument('--duration', type=float,
                        help=f'seconds measured per scenario (default 10, at most {MAX_DURATION}; 0.3 with --smoke)')
    parser.add_argument('--warmup', type=float, help='seconds of warm-up before each (default 1; 0.1 with --smoke)')
    parser.add_argument('--smoke', action='store_true',
                        help=f'tiny and quick, as `make test` runs it: {", ".join([*SMOKE, WATCHERS, HOLDS])} '
                             f'({SMOKE_HOLDS} holds); no baseline, no workers')
    parser.add_argument('--only', nargs='+', choices=[*BY_NAME, WORKERS, WATCHERS, HOLDS], metavar='SCENARIO',
                        help=f'run only these: {", ".join([*BY_NAME, WORKERS, WATCHERS, HOLDS])}')
    parser.add_argument('--no-baseline', action='store_true', help='skip the baseline even when it is built')
    parser.add_argument('--results', type=Path, default=ROOT / 'bench' / 'results', help='where to write results')
    parser.add_argument('--products-args', default='', help='extra arguments for the Products service')
    parser.add_argument('--orders-args', default='', help='extra arguments for the Orders service')
    parser.add_argument('--worker-flag', default='--workers',
                        help='the Products flag taking a number of workers, for target 4 (default %(default)s)')
    args = parser.parse_args(argv)
    args.products = args.products or (200 if args.smoke else 1_000_000)
    args.orders = args.orders or (SMOKE_ORDERS if args.smoke else ORDER_COUNT)
    args.duration = min(MAX_DURATION, args.duration or (0.3 if args.smoke else 10))
    args.warmup = args.warmup if args.warmup is not None else (0.1 if args.smoke else 1)
    args.only = args.only or ([*SMOKE, WATCHERS, HOLDS] if args.smoke else [*BY_NAME, WORKERS, WATCHERS, HOLDS])
    args.holds = SMOKE_HOLDS if args.smoke else LIVE_HOLDS
    return args


def say(text):
    print(text, flush=True)


def environment():
    h2load = subprocess.run([ensure_h2load(), '--version'], check=False, capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], check=False, capture_output=True, text=True,
                            cwd=ROOT)
    return {'cpus': os.cpu_count(), 'python': platform.python_version(), 'h2load': h2load,
            'commit': commit.stdout.strip(), 'machine': platform.platform()}


class Run:
    """One benchmark run: its settings, the rows measured so far, and every process it started."""

    def __init__(self, args, folder):
        self.args = args
        self.settings = Settings(args.products, args.orders, args.duration, args.warmup, folder)
        self.rows = []
        self.pids = []
        self.failures = {}  # (scenario, path) -> why it has no row

    def measure(self, targets, scenarios, logs=(), counters=None):
        """Each of `scenarios` on each of `targets`; `counters` count the statements each database runs meanwhile."""
        for target in targets:
            self.pids += [member for pid in target.pids.values() for member in process_tree(pid)]
            for scenario in scenarios:
                try:
                    row = run_scenario(scenario, target, self.settings, logs, counters)
                except Exception as error:  # one broken scenario must not lose the others' figures
                    self.failures[scenario.name, target.path] = f'failed: {str(error).strip()[:500]}'
                    say(f'  {scenario.name:<22} {target.path:<15} {self.failures[scenario.name, target.path]}')
                    continue
                if row is None:  # the path has no such route
                    continue
                self.rows.append(row)
                say(f'  {scenario.name:<22} {target.path:<15} {row["requests_per_s"]:>9.0f} req/s  '
                    f'p50 {report.milliseconds(row["p50_ms"])} ms  p99 {report.milliseconds(row["p99_ms"])} ms  '
                    f'errors {row["errors"]}')


def run(args, folder, bench_db):
    """Measure everything asked; returns (run, seconds seeding products and orders, reasons a path has no rows)."""
    bench = Run(args, folder)
    scenarios = [scenario for scenario in SCENARIOS if scenario.name in args.only]
    with bench_databases(folder, bench_db) as (products_url, orders_url):
        say(f'seeding {args.products:,} products and {args.orders:,} orders ...')
        seed_seconds = seed_products(products_url, args.products), seed_orders(orders_url, args.orders, CUSTOMERS,
                                                                               args.products)
        say(f'seeded in {seed_seconds[0]:.1f} s and {seed_seconds[1]:.1f} s')
        if scenarios or WATCHERS in args.only or HOLDS in args.only:
            with running_system(folder, products_url, orders_url, shlex.split(args.products_args),
                                shlex.split(args.orders_args)) as system:
                say(f'system: products {system.products}, orders {system.orders}, envoy {system.gateway}')
                logs = [system.processes['products'], system.processes['orders']]
                counted = (('products', statement_counter(products_url)), ('orders', statement_counter(orders_url)))
                counters = {service: counter for service, counter in counted if counter}
                bench.measure([GrpcDirect(system), RestEnvoy(system)], scenarios, logs, counters)
                measure_envoy_hop(bench, system, [scenario for scenario in scenarios if scenario.name in ENVOY_HOP])
                if WATCHERS in args.only:
                    measure_watchers(bench, system, logs)
                if HOLDS in args.only:  # last: the holds stay until the system stops
                    measure_holds(bench, system, logs)
        reasons = {BASELINE: measure_baseline(bench, scenarios)} if scenarios else {}
        if WORKERS in args.only:
            measure_workers(bench, products_url, orders_url)
    return bench, seed_seconds, {path: reason for path, reason in reasons.items() if reason}


def measure_baseline(bench, scenarios):
    """Run `scenarios` on the baseline; returns why it was not measured, or None."""
    args = bench.args
    if args.smoke or args.no_baseline:
        return 'baseline skipped (--smoke or --no-baseline)'
    runner, reason = baseline_runner()
    if runner is None:
        return reason
    say(f'starting the baseline with {args.products:,} products ...')
    try:
        with runner(bench.settings.folder, args.products) as baseline:
            bench.measure([baseline], scenarios)
    except RuntimeError as error:  # it did not start: the other figures still stand
        return f'baseline did not start: {str(error).strip()[:500]}'
    return None


def measure_envoy_hop(bench, system, scenarios):
    """Target 3: `scenarios` over gRPC through our gateway, then through a bare Envoy in front of the same Products;
    and target 1's reference: the same on the floor server (a constant answer on grpc.aio)."""
    if not scenarios:
        return
    products = system.pids['products']
    bench.measure([GrpcGetProduct(GRPC_ENVOY, system.gateway, {'products': products, 'envoy': system.pids['envoy']})],
                  scenarios)
    with bare_envoy(bench.settings.folder, system.products) as (envoy, address):
        bench.measure([GrpcGetProduct(GRPC_BARE_ENVOY, address, {'products': products, 'envoy': envoy.pid})],
                      scenarios)
    with floor_server(bench.settings.folder) as (server, address):
        bench.measure([GrpcGetProduct(FLOOR, address, {'floor': server.pid})], scenarios)


def measure_watchers(bench, system, logs):
    """Target 7: GetProduct via Envoy without, then with IDLE_WATCHERS open WatchOrders streams, back to back."""
    base = BY_NAME['get_product']
    for count in (0, IDLE_WATCHERS):
        scenario = Fixed(f'get_product_{count}_watchers', f'GetProduct while {count} WatchOrders streams wait',
                         base.clients, base.request)
        with idle_watchers(f'http://{system.gateway}', count) if count else contextlib.nullcontext():
            bench.measure([RestEnvoy(system)], [scenario], logs)


def measure_holds(bench, system, logs):
    """Target 9: GetProduct via Envoy, then the same after `args.holds` carts were checked out and left holding stock
    (their holds outlast the run), back to back: what live holds cost while nobody calls, the expiry loop's look once
    a second included."""
    base, count = BY_NAME['get_product'], bench.args.holds
    bench.measure([RestEnvoy(system)], [Fixed('get_product_no_holds', 'GetProduct before the holds below',
                                              base.clients, base.request)], logs)
    say(f'  checking out {count:,} carts ...')
    started = time.monotonic()
    place_holds(lambda clients: GrpcCalls(system.products, system.orders, clients), count, bench.args.products)
    say(f'  {count:,} holds placed in {time.monotonic() - started:.1f} s')
    bench.measure([RestEnvoy(system)], [Fixed('get_product_live_holds', f'GetProduct while {count:,} checkouts hold '
                                              'stock', base.clients, base.request)], logs)


def measure_workers(bench, products_url, orders_url):
    """Target 4: GetProduct gRPC direct and via Envoy with Products on 1, then 2 workers (each a fresh system on the
    same data)."""
    args = bench.args
    base = BY_NAME['get_product']
    for count in (1, 2):
        scenario = Fixed(f'get_product_{count}_worker{"s" if count > 1 else ""}',
                         f'GetProduct, Products with {args.worker_flag} {count}', base.clients, base.request)
        with running_system(bench.settings.folder, products_url, orders_url,
                            [*shlex.split(args.products_args), args.worker_flag, str(count)],
                            shlex.split(args.orders_args)) as system:
            bench.measure([GrpcDirect(system), RestEnvoy(system)], [scenario])


# Target 6 compares a PostgreSQL run with a SQLite run of the same size made at most this long before it: on a shared
# machine, figures hours apart differ by more than the target's margin.
SQLITE_RUN_MAX_AGE = datetime.timedelta(hours=2)


def sqlite_run(args, started):
    """The rows of the latest SQLite run of the same size in args.results, made within SQLITE_RUN_MAX_AGE before
    `started`; else why there is none to compare with."""
    path = args.results / 'latest-sqlite.json'
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return f'no SQLite run to compare with in {path}: run make bench first'
    size = {key: earlier['settings'].get(key) for key in ('products', 'orders', 'smoke')}
    if size != {'products': args.products, 'orders': args.orders, 'smoke': args.smoke}:
        return f'the SQLite run in {path} measured another size: {size}'
    if started - datetime.datetime.fromisoformat(earlier['started']) > SQLITE_RUN_MAX_AGE:
        return f'the SQLite run in {path} is from {earlier["started"]}: more than {SQLITE_RUN_MAX_AGE} before this one'
    return earlier['rows']


def main(argv=None):
    args = parse_args(argv)
    if not DESCRIPTOR.exists():
        raise SystemExit(f'{DESCRIPTOR} is missing: run `make all` first (`make bench` does)')
    ensure_h2load()
    bench_db = os.environ.get('BENCH_DB', '')
    started = datetime.datetime.now()
    folder = tempfile.mkdtemp(prefix='bench-')
    say(f'benchmark: {args.products:,} products, {args.duration:g} s per scenario after {args.warmup:g} s warm-up, '
        f'database {bench_db.split(":")[0] if bench_db else "sqlite"}')
    try:
        bench, seed_seconds, reasons = run(args, folder, bench_db)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    verdicts = report.check_targets(bench.rows, {**reasons, **bench.failures}, args.products, args.orders,
                                    sqlite_run(args, started) if bench_db else 'not a PostgreSQL run')
    results = {
        'started': started.isoformat(timespec='seconds'), 'wall_seconds': round(time.time() - started.timestamp(), 1),
        'settings': {'products': args.products, 'orders': args.orders, 'duration_s': args.duration,
                     'warmup_s': args.warmup, 'database': bench_db.split(':')[0] if bench_db else 'sqlite',
                     'smoke': args.smoke, 'products_args': args.products_args, 'orders_args': args.orders_args},
        'environment': environment(), 'seed_seconds': {'products': round(seed_seconds[0], 1),
                                                        'orders': round(seed_seconds[1], 1)}, 'rows': bench.rows,
        'targets': verdicts, 'missing': reasons, 'notes': METHOD_NOTES,
        'failures': [{'scenario': scenario, 'path': path, 'reason': reason}
                     for (scenario, path), reason in bench.failures.items()],
        'folder': folder, 'pids': sorted(set(bench.pids)),
    }
    say('\n' + report.table(bench.rows) + '\n')
    say('\n'.join(f'note: {note}' for note in METHOD_NOTES) + '\n')
    say(report.verdict_lines(verdicts) + '\n')
    paths = report.write_results(results, args.results, started.strftime('%Y%m%d-%H%M%S'))
    say('written: ' + ', '.join(str(path) for path in paths))
    say(f'seeding {args.products:,} products took {seed_seconds[0]:.1f} s, {args.orders:,} orders '
        f'{seed_seconds[1]:.1f} s; the whole run {results["wall_seconds"]:.0f} s')
    return 1 if bench.failures else 0


if __name__ == '__main__':
    sys.exit(main())
