"""h2load as the load generator (a Python client would be the bottleneck): installed when missing, run for a bounded
time, and its per-request log turned into requests/s, latency percentiles and errors, gRPC statuses included.

h2load counts HTTP statuses only, and a gRPC error is an HTTP 200 whose grpc-status says otherwise. A unary call that
fails is answered "trailers-only": one HEADERS frame carrying grpc-status, which `h2load -v` prints with the response
headers (successful calls carry grpc-status in trailers, which it does not print). So the run counts every
`grpc-status: N` (N > 0) line of its verbose output, warm-up included; the same request is also sent once with a real
gRPC client before and after the run, so a request that cannot succeed stops the scenario with the server's answer."""
import contextlib
import re
import resource
import struct
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from scripts.debian import ensure_command

GRPC_HEADERS = (('content-type', 'application/grpc'), ('te', 'trailers'))
SUMMARY = re.compile(rb'requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, '
                     rb'(\d+) errored, (\d+) timeout')
GRPC_ERROR = re.compile(rb'\] grpc-status: ([1-9]\d*)')
# h2load 1.52 (Debian 12) may never exit after -D against a server that closes every HTTP/1.1 connection, as the
# baseline's gunicorn sync workers do (fixed upstream by nghttp2 PR #2249); it gets this long before it is stopped.
EXIT_GRACE_S = 5


def ensure_h2load():
    """The path of h2load (Debian's nghttp2-client), installed when missing."""
    return ensure_command('h2load', 'nghttp2-client')


@dataclass(frozen=True)
class LoadRequest:
    """The one request h2load repeats: GET without a body, POST with one; gRPC or plain HTTP."""
    url: str
    body: bytes | None = None
    headers: tuple = ()
    http1: bool = False  # HTTP/1.1 (h2load --h1) rather than cleartext HTTP/2
    grpc_message: bytes | None = None  # the serialized protobuf of a gRPC request, for its checks

    @property
    def grpc(self):
        return self.grpc_message is not None


def grpc_request(address, method, message):
    """A unary gRPC call as h2load sends it: POST /package.Service/Method with a length-prefixed protobuf body."""
    payload = message.SerializeToString()
    return LoadRequest(f'http://{address}/{method}', b'\x00' + struct.pack('>I', len(payload)) + payload,
                       GRPC_HEADERS, grpc_message=payload)


def http_request(url, json_body=None, http1=True):
    """A REST call: GET, or POST of a JSON body (bytes)."""
    headers = (('content-type', 'application/json'),) if json_body is not None else ()
    return LoadRequest(url, json_body, headers, http1)


def check_once(request, timeout=10):
    """Send `request` once with an ordinary client; raise RuntimeError with the server's answer unless it succeeds."""
    if request.grpc:
        address, _, method = request.url.removeprefix('http://').partition('/')
        with grpc.insecure_channel(address) as channel:
            try:
                channel.unary_unary(f'/{method}')(request.grpc_message, timeout=timeout)
            except grpc.RpcError as error:
                raise RuntimeError(f'{request.url} answered {error.code().name}: {error.details()}') from None
        return
    call = urllib.request.Request(request.url, data=request.body, headers=dict(request.headers),
                                  method='POST' if request.body is not None else 'GET')
    try:
        with urllib.request.urlopen(call, timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        raise RuntimeError(f'{request.url} answered HTTP {error.code}: {error.read()[:500]!r}') from None
    except urllib.error.URLError as error:
        raise RuntimeError(f'{request.url} did not answer: {error.reason}') from None


def percentile(ordered, fraction):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


@dataclass
class Measurement:
    """What one load run measured, whichever tool generated it."""
    tool: str
    clients: int
    seconds: float
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    loadgen_cpu_s: float = 0.0
    notes: list = field(default_factory=list)

    @classmethod
    def from_latencies(cls, tool, clients, seconds, latencies_ms, errors, loadgen_cpu_s=0.0, notes=()):
        ordered = sorted(latencies_ms)
        p50, p95, p99 = (percentile(ordered, fraction) for fraction in (0.50, 0.95, 0.99))
        return cls(tool, clients, seconds, len(ordered), errors, *(None if value is None else round(value, 3)
                                                                   for value in (p50, p95, p99)),
                   round(loadgen_cpu_s, 2), list(notes))

    @property
    def requests_per_s(self):
        return round(self.requests / self.seconds, 1) if self.seconds else 0.0


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_bounded(command, output, timeout):
    """Run `command` with its output into `output`; kill it if it outlives `timeout`, and say so (True)."""
    with open(output, 'wb') as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            process.wait(timeout)
            return False
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return True


def run_h2load(request, clients, duration, warmup=1.0, folder=None, checked=True, usage=None, rate=0):
    """Load `request` from `clients` connections (one request in flight on each) for `duration` seconds after
    `warmup` seconds of the same load (a run of its own, unmeasured); latencies and statuses come from h2load's
    per-request log. `checked`: send it once before and after with an ordinary client, refusing to measure a request
    that fails. `usage` (bench.processes.Usage) is started and stopped around the measured run. `rate`: calls per
    second on each connection (h2load --rps), rather than each call as soon as the last one ended."""
    h2load = ensure_h2load()
    if checked:
        check_once(request)
    # Its errors count: a request must succeed from the first.
    warmup_errors = run_h2load(request, clients, warmup, 0, folder, checked=False, rate=rate).errors if warmup else 0
    with tempfile.TemporaryDirectory(prefix='h2load-', dir=folder) as work:
        work = Path(work)
        log, output = work / 'requests.tsv', work / 'output.txt'
        command = [h2load, '-D', f'{round(duration * 1000)}ms', '-c', str(clients), '-m', '1', '-t', '1',
                   f'--log-file={log}']
        if request.http1:
            command.append('--h1')
        if rate:
            command.append(f'--rps={rate}')
        if request.grpc:
            command.append('-v')  # prints trailers-only responses' grpc-status: how gRPC errors are counted
        if request.body is not None:
            (work / 'body').write_bytes(request.body)
            command += ['-d', str(work / 'body')]
        for name, value in request.headers:
            command += ['-H', f'{name}: {value}']
        started_cpu = children_cpu_seconds()
        if usage:
            usage.start()
        hung = _run_bounded([*command, request.url], output, duration + EXIT_GRACE_S)
        if usage:
            usage.stop()
        cpu = children_cpu_seconds() - started_cpu
        text = output.read_bytes()
        summary = SUMMARY.search(text)
        if summary is None and not hung:
            raise RuntimeError(f'h2load failed: {" ".join(command)}\n{text[-2000:].decode(errors="replace")}')
        latencies, http_errors = [], 0
        with contextlib.suppress(FileNotFoundError), open(log, 'rb') as rows:
            for row in rows:
                _started, status, micros = row.split(b'\t')
                latencies.append(int(micros) / 1000)
                http_errors += not 200 <= int(status) < 300
    failed = int(summary.group(5)) if summary else 0
    grpc_errors = len(GRPC_ERROR.findall(text)) if request.grpc else 0
    if checked:
        check_once(request)
    notes = ['HTTP/1.1' if request.http1 else 'h2c']
    if request.grpc:
        notes.append(f'grpc-status errors counted from h2load -v: {grpc_errors}')
    if rate and len(latencies) > 1.1 * rate * clients * duration:
        notes.append(f'h2load sent more than the {rate * clients} calls/s asked for (seen where the server closes '
                     'each connection after one answer: the baseline)')
    if hung:
        notes.append('h2load did not exit after its duration (nghttp2 #2250, HTTP/1.1 with Connection: close) and '
                     'was stopped: figures from its per-request log, connection failures not counted')
    return Measurement.from_latencies('h2load', clients, duration, latencies,
                                      max(http_errors, failed) + grpc_errors + warmup_errors, cpu, notes)
