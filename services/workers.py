"""Several worker processes per service, sharing one port: a Python gRPC server uses one core at most
(the GIL), so a service uses more only with more processes. grpc's own recipe: fork the workers before
any gRPC object or database connection exists, and let each bind the port with SO_REUSEPORT.

The parent only supervises: it passes SIGTERM/SIGINT on to every worker (each then shuts down
gracefully on its own), restarts a worker that dies while the service runs, and exits with the first
failure if the workers cannot start. Workers die with the parent (PR_SET_PDEATHSIG), so a parent killed
with SIGKILL leaves no worker behind.
"""
import asyncio
import ctypes
import logging
import os
import signal
import socket
import sys
import time

from services import metrics, server, tracing
from storage.database import prepare_schema

log = logging.getLogger('services')

_PR_SET_PDEATHSIG = 1
# A worker that exits with an error this soon after starting could not start (port, database): starting
# it again would fail the same way. One killed by a signal is replaced whenever it dies.
_START_UP_SECONDS = 5.0


def reserve_port(address):
    """For 'host:0', a free port that the workers can all bind, held by a socket kept open (bound, never
    listening) so that nothing else takes it; returns (address with the port, the socket or None)."""
    host, _, port = address.rpartition(':')
    if port != '0':
        return address, None
    holder = socket.socket(socket.AF_INET6 if ':' in host.strip('[]') else socket.AF_INET)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host.strip('[]'), 0))
    return f'{host}:{holder.getsockname()[1]}', holder


def run(count, work, worker_exited=lambda pid: None):
    """Run work() in `count` worker processes (in this process when count is 1); return an exit status.
    worker_exited(pid) is called for each worker that ends."""
    if count <= 1:
        work()
        return 0
    parent = os.getpid()
    workers = {}
    stopping = []

    def start_worker():
        # Held back across the fork: the worker must not run the parent's handler before it has its own.
        unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)
                ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() == parent:  # else the parent died before the line above
                    work()
                    status = 0
            except SystemExit as exit_:
                status = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                log.exception('worker failed')
            finally:
                logging.shutdown()
                os._exit(status)
        workers[pid] = time.monotonic()
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)

    def pass_on(signum, _frame):
        stopping.append(signum)
        for pid in workers:
            os.kill(pid, signum)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    for _ in range(count):
        start_worker()
    failure = 0
    while workers:
        pid, wait_status = os.wait()
        started = workers.pop(pid, None)
        if started is None:
            continue
        worker_exited(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        if stopping or failure:
            failure = failure or (code if code > 0 else 0)
        elif time.monotonic() - started < _START_UP_SECONDS and code > 0:  # it gave up by itself
            log.error('worker could not start; stopping the others',
                      extra={'fields': {'worker_pid': pid, 'status': code}})
            failure = code
            pass_on(signal.SIGTERM, None)
        else:
            log.error('worker died; starting another', extra={'fields': {'worker_pid': pid, 'status': code}})
            start_worker()
    return failure


def run_service(name, storage_module, args, start):
    """What both services do at start-up: make the schema once (on a new database the workers would all
    create it at once), reserve the port, serve the metrics of every worker (services.metrics), then run
    `args.workers` workers, each with its own event loop serving what `await start(address, tracer_provider)`
    returns, (grpc server, port, health, functions called when it begins to stop, coroutine functions awaited once
    it stopped), until SIGTERM. Each worker sets up its own tracing (services.tracing), after the fork."""
    with server.exit_on_start_failure(name):
        prepare_schema(storage_module, args.database_url, args.currency)
        endpoint = metrics.MetricsEndpoint.start(name, args.metrics_address)
    address, _held = reserve_port(args.address)

    async def serve():
        with server.exit_on_start_failure(name):
            tracer_provider = tracing.configure(name)
            grpc_server, port, health, on_shutdown, on_stop = await start(address, tracer_provider)
        await server.serve(grpc_server, health, args.grace, name, port, on_shutdown, on_stop)
        tracing.shut_down(tracer_provider)

    try:
        status = run(args.workers, lambda: asyncio.run(serve()), endpoint.worker_exited)
    finally:
        endpoint.stop()
    sys.exit(status)
