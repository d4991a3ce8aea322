"""services.server.TurnBufferedHandler: the lines of one turn of the event loop go out in one write, in order, as
JSON lines; outside a loop at once; none is lost when the process ends."""
import asyncio
import io
import json
import logging

from services.server import JsonFormatter, TurnBufferedHandler


class CountingStream(io.StringIO):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def write(self, text):
        self.writes += 1
        return super().write(text)


def handler_logger(stream, name):
    handler = TurnBufferedHandler(stream)
    handler.setFormatter(JsonFormatter('products'))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return handler, logger


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_lines_of_one_turn_are_written_together_in_order_when_it_ends():
    stream = CountingStream()
    _handler, logger = handler_logger(stream, 'test.turn')

    async def calls():
        for number in range(5):
            logger.info('rpc', extra={'fields': {'call': number}})
        assert stream.writes == 0  # not before the turn ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return stream.writes

    assert asyncio.run(calls()) == 1
    written = lines(stream)
    assert [line['call'] for line in written] == list(range(5))
    assert {line['message'] for line in written} == {'rpc'} and {line['service'] for line in written} == {'products'}
    assert all(line['time'].endswith('Z') and len(line['time']) == len('2026-12-03T02:30:00.123Z') for line in written)


def test_outside_a_loop_a_line_goes_out_at_once():
    stream = CountingStream()
    _handler, logger = handler_logger(stream, 'test.at_once')
    logger.warning('database unreachable', extra={'fields': {'error': 'gone'}})
    assert stream.writes == 1
    assert lines(stream)[0]['error'] == 'gone'


def test_lines_waiting_when_the_loop_ends_are_written_by_flush():
    stream = CountingStream()
    handler, logger = handler_logger(stream, 'test.ending')

    async def last_call():
        logger.info('stopped')
    asyncio.run(last_call())  # the loop closes before the turn's write was due
    handler.flush()  # what logging.shutdown() does before a worker exits
    assert [line['message'] for line in lines(stream)] == ['stopped']
