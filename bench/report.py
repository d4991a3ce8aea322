"""The results: a table row per (scenario, path), the issue's targets as PASS/MISS/n/a, the JSON file and the chart."""
import json
from pathlib import Path

from bench.targets import BASELINE, GRPC_DIRECT, IDLE_WATCHERS, LIVE_HOLDS, REST_ENVOY

MILLION = 1_000_000
SERVICES = ('products', 'orders')


class Missing(Exception):
    """A figure a target needs was not measured; the message says why."""


class Figures:
    """Look-ups into the rows by (scenario, path), raising Missing with the reason a row is absent."""

    def __init__(self, rows, reasons):
        self._rows = {(row['scenario'], row['path']): row for row in rows}
        self._reasons = reasons  # path, or (scenario, path) -> why there is no row (baseline not built, a failure)

    def __call__(self, scenario, path, key):
        row = self._rows.get((scenario, path))
        if row is None:
            raise Missing(self._reasons.get((scenario, path)) or self._reasons.get(path)
                          or f'{scenario} was not run on {path}')
        if row[key] is None:
            raise Missing(f'{scenario} on {path} has no {key}')
        return row[key]

    def peak_rss(self, service):
        peaks = [row['processes'][service]['peak_rss_mb'] for row in self._rows.values()
                 if service in row['processes'] and row['processes'][service]['peak_rss_mb'] is not None]
        if not peaks:
            raise Missing(f'{service} was not measured')
        return max(peaks)


def _ratio_check(scenario, path, minimum, key='requests_per_s', against=BASELINE):
    def check(figure):
        ours, theirs = figure(scenario, path, key), figure(scenario, against, key)
        ratio = ours / theirs if theirs else float('inf')
        return ratio >= minimum, f'{ours:g} vs {theirs:g} {key}: {ratio:.2f}x (need {minimum}x)'
    return check


def _at_most(scenario, path, key, limit):
    def check(figure):
        value = figure(scenario, path, key)
        return value <= limit, f'{value:g} (limit {limit:g})'
    return check


def _latency_ratio(scenario, path, reference_scenario, reference_path, limit, key='p50_ms'):
    """figure(scenario, path) ≤ limit × figure(reference); a limit below 1 asks for `1 / limit` times faster."""
    def check(figure):
        value, reference = figure(scenario, path, key), figure(reference_scenario, reference_path, key)
        passed = value <= limit * reference
        if limit < 1:  # "20x faster" reads better than "0.05x"
            faster = reference / value if value else float('inf')
            return passed, f'{value:g} ms vs {reference:g} ms: {faster:.1f}x faster (need {1 / limit:g}x)'
        return passed, f'{value:g} ms vs {reference:g} ms: {value / reference:.2f}x (limit {limit:g}x)'
    return check


def _against(scenario, reference, path, minimum):
    """scenario's requests/s ≥ minimum × reference's, both on `path` in the same run."""
    def check(figure):
        ours, theirs = figure(scenario, path, 'requests_per_s'), figure(reference, path, 'requests_per_s')
        return ours >= minimum * theirs, f'{ours:g} vs {theirs:g} req/s: {ours / theirs:.2f}x (need {minimum:g}x)'
    return check


def _rss_check(service):
    def check(figure):
        peak = figure.peak_rss(service)
        return peak <= 150, f'{service} peak RSS {peak:g} MB (limit 150)'
    return check


# (label, check, whether it is defined at 1,000,000 products)
TARGETS = [
    ('1. GetProduct gRPC direct >= 3x baseline req/s', _ratio_check('get_product', GRPC_DIRECT, 3), False),
    ('1. GetProduct REST via Envoy >= 2x baseline req/s', _ratio_check('get_product', REST_ENVOY, 2), False),
    *[target for items in (1, 5) for target in (
        (f'2. CreateOrder {items} item(s) REST via Envoy >= 2x baseline orders/s',
         _ratio_check(f'create_order_{items}', REST_ENVOY, 2), False),
        (f'2. CreateOrder {items} item(s) REST via Envoy p99 <= 50 ms at 32 clients',
         _at_most(f'create_order_{items}', REST_ENVOY, 'p99_ms', 50), False),
        (f'2. CreateOrder {items} item(s) REST via Envoy zero errors',
         _at_most(f'create_order_{items}', REST_ENVOY, 'errors', 0), False))],
    ('3. REST via Envoy p50 at 1 client <= 1.5x gRPC direct',
     _latency_ratio('get_product_1client', REST_ENVOY, 'get_product_1client', GRPC_DIRECT, 1.5), False),
    ('4. GetProduct via Envoy: 2 workers >= 1.5x 1 worker',
     _against('get_product_2_workers', 'get_product_1_worker', REST_ENVOY, 1.5), False),
    *[(f'5. ListProducts {page} page p50 <= 5 ms gRPC direct', _at_most(f'list_{page}', GRPC_DIRECT, 'p50_ms', 5), True)
      for page in ('first', 'middle', 'last')],
    ('5. ListProducts last page p50 within 1.5x of first',
     _latency_ratio('list_last', GRPC_DIRECT, 'list_first', GRPC_DIRECT, 1.5), True),
    ('5. SearchProducts p50 <= 20 ms gRPC direct', _at_most('search', GRPC_DIRECT, 'p50_ms', 20), True),
    ('5. SearchProducts >= 20x faster than the baseline (p50)',
     _latency_ratio('search', GRPC_DIRECT, 'search', BASELINE, 1 / 20), True),
    *[(f'6. {service} peak RSS <= 150 MB', _rss_check(service), True) for service in SERVICES],
    (f'7. GetProduct via Envoy with {IDLE_WATCHERS} idle watchers >= 0.9x without',
     _against(f'get_product_{IDLE_WATCHERS}_watchers', 'get_product_0_watchers', REST_ENVOY, 0.9), False),
    # A checkout is two calls (hold, then order) where CreateOrder is one, each about as costly: half its rate is par.
    ('8. Checkout + complete via Envoy >= 0.4x CreateOrder (1 item) orders/s',
     _against('checkout_complete', 'create_order_1', REST_ENVOY, 0.4), False),
    ('8. Checkout + complete via Envoy p99 <= 3x CreateOrder (1 item) p99',
     _latency_ratio('checkout_complete', REST_ENVOY, 'create_order_1', REST_ENVOY, 3, key='p99_ms'), False),
    (f'9. GetProduct via Envoy with {LIVE_HOLDS:,} live holds >= 0.9x without',
     _against('get_product_live_holds', 'get_product_no_holds', REST_ENVOY, 0.9), False),
]


def check_targets(rows, reasons, product_count):
    """[{target, verdict, detail}]: PASS or MISS with the figures, or n/a with the reason one is missing."""
    figure = Figures(rows, reasons)
    verdicts = []
    for label, check, at_a_million in TARGETS:
        try:
            passed, detail = check(figure)
        except Missing as missing:
            verdicts.append({'target': label, 'verdict': 'n/a', 'detail': str(missing)})
            continue
        if at_a_million and product_count < MILLION:
            detail += f' (at {product_count:,} products; the target is for {MILLION:,})'
        verdicts.append({'target': label, 'verdict': 'PASS' if passed else 'MISS', 'detail': detail})
    return verdicts


def milliseconds(value):
    return '-' if value is None else f'{value:.2f}'


def _errors(row):
    shown = str(row['errors'])
    server = row.get('server_failed_calls')
    return shown if server is None or server == row['errors'] else f'{shown} (servers logged {server})'


def _processes(row):
    return ', '.join(f'{name} {figures["cpu_s"]:.1f}s/{figures["peak_rss_mb"]:.0f}MB'
                     + (f'x{figures["processes"]}' if figures['processes'] > 1 else '')
                     for name, figures in row['processes'].items() if figures['peak_rss_mb'] is not None)


def table(rows):
    """The results table as text: one line per (scenario, path)."""
    header = ('scenario', 'path', 'tool', 'clients', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors',
              'load gen CPU s', 'CPU s / peak RSS per process')
    lines = [header] + [(row['scenario'], row['path'], row['tool'], str(row['clients']), f'{row["requests_per_s"]:.0f}',
                         milliseconds(row['p50_ms']), milliseconds(row['p95_ms']), milliseconds(row['p99_ms']),
                         _errors(row), f'{row["loadgen_cpu_s"]:.1f}', _processes(row)) for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    text = ['  '.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]
    text.insert(1, '  '.join('-' * width for width in widths))
    return '\n'.join(text)


def verdict_lines(verdicts):
    width = max(len(verdict['target']) for verdict in verdicts)
    return '\n'.join(f'{verdict["verdict"]:<4}  {verdict["target"]:<{width}}  {verdict["detail"]}'
                     for verdict in verdicts)


def write_results(results, folder, stamp):
    """results as <stamp>.json and latest.json, the chart as <stamp>.png and latest.png; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2)
    written = []
    for name in (stamp, 'latest'):
        (folder / f'{name}.json').write_text(text)
        written.append(folder / f'{name}.json')
    chart = folder / 'latest.png'
    draw_chart(results['rows'], chart)
    (folder / f'{stamp}.png').write_bytes(chart.read_bytes())
    return [*written, chart]


def draw_chart(rows, path):
    """Throughput and p99 per scenario, one bar per path side by side; p99 on a log scale, as it spans 1 to 1000 ms."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    scenarios = list(dict.fromkeys(row['scenario'] for row in rows))
    paths = [path for path in (GRPC_DIRECT, REST_ENVOY, BASELINE) if any(row['path'] == path for row in rows)]
    by_key = {(row['scenario'], row['path']): row for row in rows}
    figure, axes = pyplot.subplots(2, 1, figsize=(max(10, 1.2 * len(scenarios)), 10))
    width = 0.8 / max(1, len(paths))
    for axis, key, title in ((axes[0], 'requests_per_s', 'throughput (requests/s)'),
                             (axes[1], 'p99_ms', 'p99 latency (ms)')):
        for index, path_name in enumerate(paths):
            values = [(by_key.get((scenario, path_name)) or {}).get(key) or 0 for scenario in scenarios]
            axis.bar([position + index * width for position in range(len(scenarios))], values, width, label=path_name)
        axis.set_title(title)
        if key == 'p99_ms':
            axis.set_yscale('log')
        axis.set_xticks([position + width * (len(paths) - 1) / 2 for position in range(len(scenarios))])
        axis.set_xticklabels(scenarios, rotation=35, ha='right')
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
