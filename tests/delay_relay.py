"""A TCP relay that adds latency on demand: python -m tests.delay_relay --target HOST:PORT --delay SECONDS.

It stands in for `tc qdisc ... netem delay` on kernels built without netem (this machine's: `tc` answers "Specified
qdisc kind is unknown"). Every connection to it is passed on to `--target`; after SIGUSR1, each chunk sent towards
the target is held `--delay` seconds first (in order, without slowing the stream), until SIGUSR2. Answers come back
at once, as netem on one side's egress would do. It logs {"message": "serving", "port": N} once listening.
"""
import argparse
import asyncio
import json
import signal


class Relay:
    def __init__(self, target, delay):
        self._host, _, port = target.rpartition(':')
        self._port = int(port)
        self._delay = delay
        self.delaying = False

    async def connection(self, client_reader, client_writer):
        try:
            target_reader, target_writer = await asyncio.open_connection(self._host, self._port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(self._delayed(client_reader, target_writer), _copy(target_reader, client_writer),
                             return_exceptions=True)

    async def _delayed(self, reader, writer):
        """Copy reader to writer, each chunk sent when its delay (as it was when the chunk arrived) is over."""
        loop = asyncio.get_running_loop()
        chunks = asyncio.Queue()

        async def send():
            while (chunk := await chunks.get()) is not None:
                due, data = chunk
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(data)
                await writer.drain()

        sending = asyncio.create_task(send())
        try:
            while data := await reader.read(65536):
                chunks.put_nowait((loop.time() + (self._delay if self.delaying else 0.0), data))
            chunks.put_nowait(None)
            await sending
        finally:
            sending.cancel()
            writer.close()


async def _copy(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--listen', default='127.0.0.1:0', help='HOST:PORT to listen on (default %(default)s)')
    parser.add_argument('--target', required=True, help='HOST:PORT to pass connections on to')
    parser.add_argument('--delay', type=float, default=0.2, help='seconds added after SIGUSR1 (default %(default)s)')
    args = parser.parse_args()
    relay = Relay(args.target, args.delay)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: setattr(relay, 'delaying', True))
    loop.add_signal_handler(signal.SIGUSR2, lambda: setattr(relay, 'delaying', False))
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    host, _, port = args.listen.rpartition(':')
    server = await asyncio.start_server(relay.connection, host, int(port))
    print(json.dumps({'message': 'serving', 'port': server.sockets[0].getsockname()[1]}), flush=True)
    async with server:
        await stopped.wait()


if __name__ == '__main__':
    asyncio.run(main())
