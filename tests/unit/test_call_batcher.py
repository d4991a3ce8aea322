"""CallBatcher (services/orders/stock_client.py): what waits goes together, each result reaches its own submitter."""
import asyncio
import contextvars

import pytest

from services.orders.stock_client import CallBatcher

whose = contextvars.ContextVar('whose', default='nobody')


class Recorder:
    """A `send` that records each call's items and the context it ran in, and answers when the test says."""

    def __init__(self):
        self.calls = []  # (items, whose)
        self.release = asyncio.Event()

    async def send(self, items):
        self.calls.append((items, whose.get()))
        await self.release.wait()
        if 'boom' in items:
            raise RuntimeError('the call failed')
        return [item * 10 for item in items]


def submitted(batcher, item, submitter):
    whose.set(submitter)  # in this task's own context
    return batcher.submit(item)


async def wait_for_calls(recorder, count):
    while len(recorder.calls) < count:
        await asyncio.sleep(0)


def test_an_item_alone_goes_at_once_and_what_waits_goes_together_in_order():
    async def scenario():
        recorder = Recorder()
        batcher = CallBatcher(recorder.send, in_flight=1, per_call=3)
        first = asyncio.create_task(submitted(batcher, 1, 'first'))
        await wait_for_calls(recorder, 1)
        waiting = [asyncio.create_task(submitted(batcher, item, f'submitter {item}')) for item in (2, 3, 4, 5)]
        await asyncio.sleep(0.01)
        assert recorder.calls == [([1], 'first')]  # one call under way at most: the others wait
        recorder.release.set()
        assert await asyncio.gather(first, *waiting) == [10, 20, 30, 40, 50]
        # At most per_call items a call, each call in the context of its first item's submitter.
        return recorder.calls

    assert asyncio.run(scenario()) == [([1], 'first'), ([2, 3, 4], 'submitter 2'), ([5], 'submitter 5')]


def test_a_failed_call_fails_each_of_its_items_and_the_next_call_still_goes():
    async def scenario():
        recorder = Recorder()
        batcher = CallBatcher(recorder.send, in_flight=1, per_call=10)
        doomed = asyncio.create_task(submitted(batcher, 'boom', 'a'))
        await wait_for_calls(recorder, 1)
        with_it = asyncio.create_task(submitted(batcher, 'x', 'b'))
        recorder.release.set()
        with pytest.raises(RuntimeError, match='the call failed'):
            await doomed
        assert await with_it == 'x' * 10
        later = await submitted(batcher, 'y', 'c')
        return later, recorder.calls

    later, calls = asyncio.run(scenario())
    assert later == 'y' * 10
    assert [items for items, _ in calls] == [['boom'], ['x'], ['y']]


def test_several_calls_may_be_under_way_at_once():
    async def scenario():
        recorder = Recorder()
        batcher = CallBatcher(recorder.send, in_flight=2, per_call=10)
        tasks = [asyncio.create_task(submitted(batcher, item, str(item))) for item in (1, 2, 3)]
        await wait_for_calls(recorder, 2)
        await asyncio.sleep(0.01)
        under_way = [items for items, _ in recorder.calls]
        recorder.release.set()
        return under_way, await asyncio.gather(*tasks), [items for items, _ in recorder.calls]

    under_way, results, calls = asyncio.run(scenario())
    assert under_way == [[1], [2]]
    assert results == [10, 20, 30]
    assert calls == [[1], [2], [3]]


def test_an_item_whose_submitter_stopped_waiting_is_not_sent():
    async def scenario():
        recorder = Recorder()
        batcher = CallBatcher(recorder.send, in_flight=1, per_call=10)
        first = asyncio.create_task(submitted(batcher, 1, 'first'))
        await wait_for_calls(recorder, 1)
        gone = asyncio.create_task(submitted(batcher, 2, 'gone'))
        kept = asyncio.create_task(submitted(batcher, 3, 'kept'))
        await asyncio.sleep(0.01)
        gone.cancel()
        recorder.release.set()
        return await asyncio.gather(first, kept), [items for items, _ in recorder.calls]

    results, calls = asyncio.run(scenario())
    assert results == [10, 30]
    assert calls == [[1], [3]]
