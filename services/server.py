"""Server plumbing shared by both services: logging, metrics, error mapping, health, reflection, shutdown."""
import asyncio
import contextlib
import contextvars
import datetime
import functools
import inspect
import json
import logging
import signal
import ssl
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass

import grpc
import peewee
from google.protobuf import any_pb2, message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from grpc_status import rpc_status
from playhouse.pool import MaxConnectionsExceeded

from services import auth, errors, metrics, request_context, tracing
from services.reflection import ReflectionServicer, api_files
from services.settings import (
    DATABASE_THREADS,
    KEEPALIVE_TIME_MS,
    KEEPALIVE_TIMEOUT_MS,
    MAX_CONCURRENT_CALLS,
    MAX_CONNECTION_IDLE_MS,
    MAX_ERROR_DETAILS_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_STREAMS_PER_CONNECTION,
    SERVICE_METADATA_BYTES,
)
from storage.database import connection_lost

log = logging.getLogger('services')

ERROR_DOMAIN = 'ecommerce'
# The one place where domain errors become gRPC status codes.
STATUS_CODES = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.InvalidArguments, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, naming the service, with the record's `fields` merged in. Its time is RFC 3339 in
    UTC with milliseconds, as Envoy's access log writes it, so that the three logs line up."""

    def __init__(self, service=None):
        super().__init__()
        self._service = service
        self._second = self._second_text = None  # the last whole second formatted: most lines share it

    def time_of(self, record):
        second = int(record.created)
        if second != self._second:
            self._second_text = datetime.datetime.fromtimestamp(second, datetime.UTC).strftime('%Y-%m-%dT%H:%M:%S')
            self._second = second
        return f'{self._second_text}.{int(record.msecs):03d}Z'

    def format(self, record):
        entry = {'time': self.time_of(record), 'level': record.levelname,
                 'service': self._service, 'logger': record.name, 'pid': record.process,
                 'message': record.getMessage()}
        entry.update(getattr(record, 'fields', {}))
        if record.exc_info:
            entry['traceback'] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TurnBufferedHandler(logging.StreamHandler):
    """A stream handler that writes the lines logged during one turn of the running event loop together, in one write
    when the turn ends, rather than one write (a system call) per line: a service logs a line per call, and serves
    many calls a turn under load. Outside the loop's thread (start-up, a probe thread, shut-down) a line goes out at
    once; logging.shutdown(), which a worker calls before it exits, writes what is left."""

    def __init__(self, stream):
        super().__init__(stream)
        self._waiting = []

    def emit(self, record):
        try:
            line = self.format(record)
        except Exception:  # as logging.StreamHandler.emit: a broken record must not break the call that logs it
            self.handleError(record)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if not self._waiting and loop is not None:
            loop.call_soon(self.flush)
        self._waiting.append(line)
        if loop is None:
            self.flush()

    def flush(self):
        with self.lock:
            if self._waiting:
                self.stream.write('\n'.join(self._waiting) + '\n')
                self._waiting.clear()
            self.stream.flush()


def configure_logging(level='INFO', service=None):
    handler = TurnBufferedHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # What a record would otherwise find out each time, and no line shows: the caller's source line (a walk up the
    # stack), and the thread's and the multiprocessing process's names.
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False


def status_for(error):
    """The status that answers a call refused with a domain error (status_message)."""
    return rpc_status.to_status(status_message(error))


def status_message(error):
    """The google.rpc.Status for a domain error: code, message, ErrorInfo and its field violations."""
    code = next(code for kind, code in STATUS_CODES if isinstance(error, kind))
    details = [error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)]
    if error.violations:
        details.append(bad_request(error.violations))
    packed = []
    for detail in details:
        wrapper = any_pb2.Any()
        wrapper.Pack(detail)
        packed.append(wrapper)
    return status_pb2.Status(code=code.value[0], message=error.message, details=packed)


def bad_request(violations):
    """A BadRequest with the first of `violations` ((field, problem) pairs) that fit in MAX_ERROR_DETAILS_BYTES,
    and always the first one."""
    listed = error_details_pb2.BadRequest()
    for field, problem in violations:
        listed.field_violations.add(field=field, description=problem)
        if listed.ByteSize() > MAX_ERROR_DETAILS_BYTES and len(listed.field_violations) > 1:
            del listed.field_violations[-1]
            break
    return listed


INTERNAL_STATUS = rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message='internal error'))
# The database could not be reached, stayed locked past its busy timeout, or the pool had no connection to spare:
# the transaction was rolled back, and the same call may well work in a moment (Envoy retries reads on UNAVAILABLE).
DATABASE_OUTAGES = (peewee.OperationalError, peewee.InterfaceError, MaxConnectionsExceeded)
DATABASE_UNAVAILABLE = status_for(errors.Unavailable('the database is unavailable or busy; try again',
                                                     reason='DATABASE_UNAVAILABLE'))
# Once a connection to the database failed or broke, calls are refused at once while a thread tries a new
# connection this often, rather than each call waiting out a connection timeout of its own on the event loop.
DATABASE_PROBE_INTERVAL_S = 0.5


class UnreadableRequest:
    """Stands for a request that could not be parsed, so that the handler refuses it as the client's mistake."""


UNREADABLE = ('cannot be parsed: every string must be valid UTF-8 and every field well-formed '
              '(a %-encoded path parameter may not be UTF-8)')


def lenient(deserializer):
    """`deserializer`, returning an UnreadableRequest where grpc would answer INTERNAL ("Exception deserializing
    request!"): a string that is not UTF-8, such as Envoy passes on from the path /api/orders/customer/%C3%28."""
    def deserialize(data):
        try:
            return deserializer(data)
        except message.DecodeError:
            return UnreadableRequest()
    return deserialize if deserializer else None


class DatabaseSteps:
    """How a call reaches the database from the event loop: a step (a plain function) runs with a connection.

    By default a step runs right on the loop: SQLite answers from this process in microseconds, and PostgreSQL on
    the same machine or network in a fraction of a millisecond, less than a hand-off to a thread costs
    (GetProduct on SQLite: ~3,250 calls/s on the loop, ~2,300 through a pool; docs/performance.md). The loop
    waits meanwhile, which is why no transaction may wait on anything but the database (see SqliteWriters).
    With `threads` > 0, steps run in a pool of that many threads while the loop serves other calls: for a
    database whose round trips are long.
    """

    def __init__(self, database, threads=DATABASE_THREADS):
        self.database = database
        self._pool = futures.ThreadPoolExecutor(threads, thread_name_prefix='database') if threads > 0 else None
        self._unreachable = threading.Event()  # from a lost connection until a probe connects again
        self._losing = threading.Lock()

    async def run(self, step, *args, **kwargs):
        if self._pool is None:
            return self._connected(step, args, kwargs)
        # In the call's context, so that a step sees its request id (request_context) in the pool's thread too.
        in_context = functools.partial(contextvars.copy_context().run, self._connected, step, args, kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, in_context)

    async def run_long(self, step, *args, **kwargs):
        """Run a step that takes seconds (an import) in a thread of its own, whatever `threads` says, so that the
        loop serves other calls meanwhile. On SQLite a write transaction on the loop still waits for its end."""
        return await asyncio.to_thread(self._connected, step, args, kwargs)

    def _connected(self, step, args, kwargs):
        if self._unreachable.is_set():
            raise errors.Unavailable('the database cannot be reached; try again', reason='DATABASE_UNAVAILABLE')
        try:
            # One connection per step, never held across an await: calls interleave on the loop between steps.
            with self.database.connection_context():
                return step(*args, **kwargs)
        except DATABASE_OUTAGES as error:
            if connection_lost(error):
                self._lost(error)
            raise

    def _lost(self, error):
        """Refuse every step from now on, until a probe in a thread of its own gets a new connection through."""
        with self._losing:
            if self._unreachable.is_set():
                return
            self._unreachable.set()
        log.warning('database unreachable: calls are refused until a new connection gets through',
                    extra={'fields': {'error': str(error).strip()}})
        threading.Thread(target=self._probe, name='database-probe', daemon=True).start()

    def _probe(self):
        lost_at = time.monotonic()
        self.database.close_idle()  # they went through the same network: as likely broken
        while True:
            time.sleep(DATABASE_PROBE_INTERVAL_S)
            try:
                with self.database.connection_context():
                    self.database.execute_sql('SELECT 1')
            except DATABASE_OUTAGES:
                continue
            self._unreachable.clear()
            log.warning('database reachable again', extra={'fields': {'after_s': round(time.monotonic() - lost_at, 1)}})
            return


class RequestInterceptor(grpc.aio.ServerInterceptor):
    """Around every call of our services: its request id, its caller admitted or refused (`gate`, an auth.Gate),
    domain errors mapped, its metrics and one log line. A plain-function unary handler is a database step (run by
    DatabaseSteps); a coroutine handler (a call to another service, one that reads a stream of requests) and a
    server-streaming one (an async generator) await on their own."""

    def __init__(self, steps, gate):
        self._steps = steps
        self._gate = gate
        self._handlers = {}  # method -> wrapped handler: the same for every call, so built once

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        wrapped = self._handlers.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            # Calls with one response (health Check too) and our own server streams; an unknown method, and grpc's
            # own streams (health Watch, reflection), pass through untouched.
            ours = handler and (handler.unary_unary or handler.stream_unary
                                or (handler.unary_stream and not method.startswith('/grpc.')))
            if not ours:
                return handler
            wrapped = self._handlers[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method, handler):
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, handler.unary_stream, self._gate,
                                metrics.calls().for_method(method, 'server_stream')),
                request_deserializer=lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer)
        behaviour = handler.unary_unary or handler.stream_unary
        readable = _readable_stream if handler.stream_unary else _readable
        recorded = metrics.calls().for_method(method, 'client_stream' if handler.stream_unary else 'unary')
        if inspect.iscoroutinefunction(behaviour):
            call = behaviour
        else:
            def call(request, context):
                return self._steps.run(behaviour, request, context)

        gate = self._gate
        streamed = handler.stream_unary is not None

        async def handle(request, context):
            async with _Served(method, context, recorded) as served:
                gate.admit(method, served.metadata, None if streamed else request)
                return await call(readable(request), context)

        make_handler = (grpc.stream_unary_rpc_method_handler if handler.stream_unary
                        else grpc.unary_unary_rpc_method_handler)
        return make_handler(handle, request_deserializer=lenient(handler.request_deserializer),
                            response_serializer=handler.response_serializer)

    @staticmethod
    def _streaming(method, behaviour, gate, recorded):
        async def handle(request, context):
            async with _Served(method, context, recorded) as served:
                gate.admit(method, served.metadata, request)
                # The responses are closed here whatever happens, so that a watch's own cleanup runs as soon as its
                # client goes.
                async with contextlib.aclosing(behaviour(_readable(request), context)) as responses:
                    async for response in responses:
                        yield response
        return handle


# Health checks come every second from Envoy (and from an orchestrator's probes): logged at INFO they would bury the
# calls people make; at DEBUG, and counted in the metrics like every call.
HEALTH_METHODS = '/grpc.health.v1.Health/'


class _Served:
    """Around one call: its request id, the status that an exception ending it becomes, its log line and its metrics
    (`recorded`, the method's services.metrics.MethodMetrics)."""
    __slots__ = ('_code', '_context', '_method', '_peer', '_recorded', '_request_id', '_started', 'metadata')

    def __init__(self, method, context, recorded):
        self._method = method
        self._context = context
        self._recorded = recorded
        # Read now: grpc.aio crashes the process (SIGSEGV) on peer() once a cancelled call is gone.
        self._peer = context.peer()
        self._started = time.perf_counter()
        self._code = grpc.StatusCode.OK
        self.metadata = context.invocation_metadata()
        self._request_id = request_context.start_request(self.metadata)
        recorded.started()

    async def __aenter__(self):
        return self

    async def __aexit__(self, _kind, error, _traceback):
        try:
            if isinstance(error, grpc.aio.AbortError):  # the handler set its own status (health: an unknown service)
                self._code = self._context.code() or grpc.StatusCode.UNKNOWN
            elif isinstance(error, asyncio.CancelledError):  # the client went away, or the deadline passed
                self._code = grpc.StatusCode.CANCELLED
            elif isinstance(error, Exception):
                status = _refusal(self._method, error)
                self._code = status.code
                self._context.set_code(status.code)  # which the call's span records, when traced
                await self._context.abort_with_status(status)
        finally:
            seconds = time.perf_counter() - self._started
            self._recorded.finished(self._code, seconds)
            fields = {'method': self._method, 'code': self._code.name, 'peer': self._peer,
                      'request_id': self._request_id, 'duration_ms': round(seconds * 1000, 2)}
            trace_id = tracing.current_trace_id()
            if trace_id:
                fields['trace_id'] = trace_id
            level = logging.DEBUG if self._method.startswith(HEALTH_METHODS) else logging.INFO
            log.log(level, 'rpc', extra={'fields': fields})


def _readable(request):
    if isinstance(request, UnreadableRequest):
        raise errors.InvalidArgument('request', UNREADABLE)
    return request


async def _readable_stream(requests):
    """A stream of requests that raises InvalidArgument at the first one that could not be parsed."""
    async for request in requests:
        yield _readable(request)


def _refusal(method, error):
    """The status that answers a call ended by `error`: a domain error's own, UNAVAILABLE for a database outage,
    else a bare INTERNAL (the traceback goes to the log, never to the client)."""
    if isinstance(error, errors.DomainError):
        return status_for(error)
    if isinstance(error, DATABASE_OUTAGES):
        log.warning('database unavailable', extra={'fields': {'method': method, 'error': str(error).strip()}})
        return DATABASE_UNAVAILABLE
    log.error('unhandled error', exc_info=error, extra={'fields': {'method': method}})
    return INTERNAL_STATUS


def read_file(path, what):
    """The bytes of the file at `path`; OSError naming it and `what` it was for when it cannot be read."""
    try:
        with open(path, 'rb') as file:
            return file.read()
    except OSError as error:
        raise OSError(f'cannot read {what} {path}: {error.strerror}') from None


def check_pem(certificate=None, key=None, ca=None):
    """ValueError naming the files when they are not PEM, or the key is not the certificate's: gRPC would only
    fail to bind, without saying why. Python's ssl reads them as OpenSSL will."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if certificate:
        try:
            context.load_cert_chain(certificate, key)
        except ssl.SSLError:
            raise ValueError(f'{certificate} and {key} are not a PEM certificate and its private key') from None
    if ca:
        try:
            context.load_verify_locations(ca)
        except ssl.SSLError:
            raise ValueError(f'{ca} holds no PEM certificate') from None


@dataclass(frozen=True)
class ServerTls:
    """A server's certificate and key (PEM), and the CA that client certificates must chain to when they are
    required (mTLS). Held as bytes: read before the workers fork, turned into gRPC credentials in each worker."""
    certificate: bytes
    key: bytes
    client_ca: bytes | None = None

    @classmethod
    def from_files(cls, certificate, key, client_ca=None):
        """ServerTls from file paths, or None (plaintext) when no certificate is given; ValueError when the
        flags do not go together, OSError naming a file that cannot be read."""
        if not (certificate or key or client_ca):
            return None
        if not (certificate and key):
            raise ValueError('TLS needs both a certificate (--tls-cert) and its key (--tls-key)')
        tls = cls(read_file(certificate, 'TLS certificate'), read_file(key, 'TLS key'),
                  client_ca and read_file(client_ca, 'client CA'))
        check_pem(certificate, key, client_ca)
        return tls

    def credentials(self):
        return grpc.ssl_server_credentials([(self.key, self.certificate)], root_certificates=self.client_ca,
                                           require_client_auth=self.client_ca is not None)


@dataclass(frozen=True)
class ChannelTls:
    """What a client verifies a server's certificate with (a CA; None: the system's roots), and the client's own
    certificate and key for a server that requires one (mTLS)."""
    ca: bytes | None = None
    certificate: bytes | None = None
    key: bytes | None = None

    @classmethod
    def from_files(cls, ca=None, certificate=None, key=None, flag='--tls'):
        """ChannelTls from file paths, or None (plaintext) when none is given; ValueError when a client certificate
        comes without its key or the other way round (flags named after `flag`), OSError naming an unreadable file."""
        if not (ca or certificate or key):
            return None
        if bool(certificate) != bool(key):
            raise ValueError(f'a client certificate needs its key: give both {flag}-cert and {flag}-key')
        tls = cls(ca and read_file(ca, 'CA'), certificate and read_file(certificate, 'client certificate'),
                  key and read_file(key, 'client key'))
        check_pem(certificate, key, ca)
        return tls

    def credentials(self):
        return grpc.ssl_channel_credentials(self.ca, self.key, self.certificate)


OPEN_GATE = auth.Gate(None)

# grpc core's channel arguments (a misspelt name is silently ignored); the values and why: services/settings.py.
SERVER_OPTIONS = (
    # A larger request is refused by grpc itself with RESOURCE_EXHAUSTED, before any handler runs.
    ('grpc.max_receive_message_length', MAX_MESSAGE_BYTES),
    # Headers as large as Envoy lets through, with what it adds (services.settings); beyond that RESOURCE_EXHAUSTED.
    ('grpc.max_metadata_size', SERVICE_METADATA_BYTES),
    ('grpc.absolute_max_metadata_size', SERVICE_METADATA_BYTES),
    ('grpc.keepalive_time_ms', KEEPALIVE_TIME_MS),
    ('grpc.keepalive_timeout_ms', KEEPALIVE_TIMEOUT_MS),
    # Keep pinging a connection whose only call is a silent watch (by default grpc stops after 2 pings without
    # data), so that a client that vanished is found out.
    ('grpc.http2.max_pings_without_data', 0),
    ('grpc.max_connection_idle_ms', MAX_CONNECTION_IDLE_MS),
    ('grpc.max_concurrent_streams', MAX_STREAMS_PER_CONNECTION),
)


async def create_server(address, steps, services, tls=None, gate=OPEN_GATE, tracer_provider=None):
    """Build a grpc.aio server with `services` (pairs of add_XServicer_to_server and servicer), health and
    reflection; call it inside the event loop that will serve it. It serves TLS with `tls` (a ServerTls),
    plaintext without, admits callers through `gate` (an auth.Gate; by default everyone), and makes a span of each
    call with `tracer_provider` (services.tracing).

    Returns (server, bound port, health servicer). Binding port 0 picks a free port, as the tests do.
    """
    # The span's interceptor goes first, around ours, so that our log line sees the call's trace id.
    interceptors = [*tracing.server_interceptors(tracer_provider), RequestInterceptor(steps, gate)]
    server = grpc.aio.server(interceptors=interceptors, options=SERVER_OPTIONS,
                             maximum_concurrent_rpcs=MAX_CONCURRENT_CALLS)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = []
    for add_to_server, servicer in services:
        add_to_server(servicer, server)
        names.append(servicer.SERVICE_NAME)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        ReflectionServicer([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], api_files()), server)
    try:
        port = (server.add_secure_port(address, tls.credentials()) if tls
                else server.add_insecure_port(address))
    except RuntimeError:  # grpcio's "Failed to bind", most often a port in use
        port = 0
    if port == 0:
        raise OSError(f'cannot listen on {address}: is the port in use?')
    for name in ['', *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


@contextlib.contextmanager
def exit_on_start_failure(name):
    """A start-up failure the user can fix (port, database URL) ends the process with one log line and exit
    status 1 rather than a traceback."""
    try:
        yield
    except (OSError, ValueError) as error:
        log.error('cannot start', extra={'fields': {'service': name, 'error': str(error)}})
        raise SystemExit(1) from None


async def serve(server, health_servicer, grace, name, port, on_shutdown=(), on_stop=()):
    """Run until SIGTERM or SIGINT, then report NOT_SERVING, call each of `on_shutdown` (end what would never finish
    by itself, such as watches), let calls in flight finish, await each of `on_stop`, and return."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # A repeat (Ctrl-C reaches a worker both from the terminal and from its parent) changes nothing.
        loop.add_signal_handler(signum, lambda signum=signum: stopping.done() or stopping.set_result(signum))
    await server.start()
    log.info('serving', extra={'fields': {'service': name, 'port': port}})
    signum = await stopping
    log.info('shutting down', extra={'fields': {'service': name, 'signal': signal.Signals(signum).name,
                                                'grace_s': grace}})
    await health_servicer.enter_graceful_shutdown()
    for callback in on_shutdown:
        callback()
    await server.stop(grace)
    for callback in on_stop:
        await callback()
    log.info('stopped', extra={'fields': {'service': name}})
