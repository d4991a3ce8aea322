"""Server plumbing shared by both services: logging, error mapping, health, reflection, shutdown."""
import contextlib
import json
import logging
import signal
import sys
import time
from concurrent import futures

import grpc
import peewee
from google.protobuf import any_pb2, message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from playhouse.pool import MaxConnectionsExceeded

from services import errors
from services.settings import MAX_MESSAGE_BYTES, THREADS_PER_WORKER

log = logging.getLogger('services')

ERROR_DOMAIN = 'ecommerce'
# The one place where domain errors become gRPC status codes.
STATUS_CODES = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the record's `fields` merged in."""

    def format(self, record):
        entry = {'time': self.formatTime(record, '%Y-%m-%dT%H:%M:%S'), 'level': record.levelname,
                 'logger': record.name, 'pid': record.process, 'message': record.getMessage()}
        entry.update(getattr(record, 'fields', {}))
        if record.exc_info:
            entry['traceback'] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level='INFO'):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)


def status_for(error):
    """The google.rpc.Status for a domain error: code, message, ErrorInfo and any field violation."""
    code = next(code for kind, code in STATUS_CODES if isinstance(error, kind))
    details = [error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)]
    if error.field:
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.problem)]))
    packed = []
    for detail in details:
        wrapper = any_pb2.Any()
        wrapper.Pack(detail)
        packed.append(wrapper)
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=error.message, details=packed))


INTERNAL_STATUS = rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message='internal error'))
# The database could not be reached, stayed locked past its busy timeout, or the pool had no connection to spare:
# the transaction was rolled back, and the same call may well work in a moment (Envoy retries reads on UNAVAILABLE).
DATABASE_OUTAGES = (peewee.OperationalError, peewee.InterfaceError, MaxConnectionsExceeded)
DATABASE_UNAVAILABLE = status_for(errors.Unavailable('the database is unavailable or busy; try again',
                                                     reason='DATABASE_UNAVAILABLE'))


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


class RequestInterceptor(grpc.ServerInterceptor):
    """Around every unary call: a database connection, domain errors mapped, one log line."""

    def __init__(self, database):
        self._database = database
        self._handlers = {}  # method -> wrapped handler: the same for every call, so built once

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        wrapped = self._handlers.get(method)
        if wrapped is None:
            handler = continuation(handler_call_details)
            if handler is None or handler.unary_unary is None:
                return handler  # an unknown method; health Watch and reflection streams pass through untouched
            wrapped = self._handlers[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method, handler):
        behaviour = handler.unary_unary
        # Health checks must answer without the database (a probe is not a query).
        connection = contextlib.nullcontext if method.startswith('/grpc.') else self._database.connection_context

        def handle(request, context):
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                if isinstance(request, UnreadableRequest):
                    raise errors.InvalidArgument('request', UNREADABLE)
                with connection():
                    return behaviour(request, context)
            except errors.DomainError as error:
                status = status_for(error)
                code = status.code
                context.abort_with_status(status)
            except DATABASE_OUTAGES as error:
                code = grpc.StatusCode.UNAVAILABLE
                log.warning('database unavailable', extra={'fields': {'method': method, 'error': str(error).strip()}})
                context.abort_with_status(DATABASE_UNAVAILABLE)
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception('unhandled error', extra={'fields': {'method': method}})
                context.abort_with_status(INTERNAL_STATUS)
            finally:
                log.info('rpc', extra={'fields': {
                    'method': method, 'code': code.name, 'peer': context.peer(),
                    'duration_ms': round((time.perf_counter() - started) * 1000, 2)}})

        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=lenient(handler.request_deserializer),
            response_serializer=handler.response_serializer)


def create_server(address, database, services, max_workers=THREADS_PER_WORKER):
    """Build a server with `services` (pairs of add_XServicer_to_server and servicer), health and reflection.

    Returns (server, bound port, health servicer). Binding port 0 picks a free port, as the tests do.
    """
    # A larger request is refused by grpc itself with RESOURCE_EXHAUSTED, before any handler runs.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers),
                         interceptors=[RequestInterceptor(database)],
                         options=[('grpc.max_receive_message_length', MAX_MESSAGE_BYTES)])
    health_servicer = health.HealthServicer(experimental_non_blocking=True,
                                            experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=1))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = []
    for add_to_server, servicer in services:
        add_to_server(servicer, server)
        names.append(servicer.SERVICE_NAME)
    reflection.enable_server_reflection(
        names + [health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:  # grpcio's "Failed to bind", most often a port in use
        port = 0
    if port == 0:
        raise OSError(f'cannot listen on {address}: is the port in use?')
    for name in ['', *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


def start_or_exit(name, build):
    """Return build(); a start-up failure the user can fix (port, database URL) ends the process with one
    log line and exit status 1 rather than a traceback."""
    try:
        return build()
    except (OSError, ValueError) as error:
        log.error('cannot start', extra={'fields': {'service': name, 'error': str(error)}})
        raise SystemExit(1) from None


def serve(server, health_servicer, grace, name, port, on_stop=()):
    """Run until SIGTERM or SIGINT, then report NOT_SERVING, let calls in flight finish, and return."""
    stopping = []  # not an Event: a second signal arriving inside Event.set() would deadlock on its lock

    def shut_down(signum, _frame):
        if stopping:  # a repeat (Ctrl-C reaches a worker both from the terminal and from its parent)
            return
        stopping.append(signum)
        log.info('shutting down', extra={'fields': {'service': name, 'signal': signal.Signals(signum).name,
                                                    'grace_s': grace}})
        health_servicer.enter_graceful_shutdown()
        server.stop(grace)

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    server.start()
    log.info('serving', extra={'fields': {'service': name, 'port': port}})
    server.wait_for_termination()
    for callback in on_stop:
        callback()
    log.info('stopped', extra={'fields': {'service': name}})
