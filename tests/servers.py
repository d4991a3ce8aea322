"""Our servers inside the test process: a grpc.aio server and its channels live in one event loop, so each test
that needs them runs a loop in a thread of its own and hands it coroutines from the test's thread."""
import asyncio
import contextlib
import inspect
import threading


class LoopThread:
    """An event loop running in a daemon thread until close()."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name='test-event-loop', daemon=True)
        self._thread.start()

    def run(self, coroutine, timeout=60):
        """Run `coroutine` in the loop and return its result (or raise its exception) in the calling thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self):
        async def finish_tasks():  # e.g. a placement finishing after its caller was cancelled
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(finish_tasks())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


@contextlib.contextmanager
def event_loop():
    loop = LoopThread()
    try:
        yield loop
    finally:
        loop.close()


@contextlib.contextmanager
def serving(build, loop=None):
    """Start the server that the coroutine `build` makes (it returns (server, port, ...)) and yield what it returned;
    stop the server afterwards, pass or fail. The server runs in `loop` (a LoopThread) or in a loop of its own."""
    with contextlib.ExitStack() as stack:
        loop = loop or stack.enter_context(event_loop())
        built = loop.run(build)
        server = built[0]
        loop.run(server.start())
        try:
            yield built
        finally:
            loop.run(server.stop(0))


class Blocking:
    """`target` called from the test's thread: a method that returns a coroutine has it run in `loop` (a LoopThread)
    to its end; an attribute that is an object is wrapped the same way (desk._stock.reserve(...))."""

    def __init__(self, target, loop):
        self._target = target
        self._loop = loop

    def __getattr__(self, name):
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return Blocking(attribute, self._loop)

        def call(*args, **kwargs):
            result = attribute(*args, **kwargs)
            return self._loop.run(result) if inspect.iscoroutine(result) else result
        return call
