"""DatabaseSteps: where a database step runs (on the event loop, or in a pool when given threads), each with a
connection of its own that is handed back afterwards, and its exception raised to the caller; once a connection
to the database is lost, steps refused at once until one gets through again."""
import asyncio
import contextlib
import sqlite3
import threading
import time

import peewee
import psycopg2
import pytest

from services.errors import Unavailable
from services.server import DATABASE_PROBE_INTERVAL_S, DatabaseSteps
from storage.database import open_database


def connections_in_use(database):
    """Connections checked out of the pool, by any thread (peewee's pool keeps them in _in_use)."""
    return len(database._in_use)


@pytest.fixture
def database(tmp_path):
    database = open_database(f'sqlite:///{tmp_path}/steps.db')
    yield database
    database.close_all()


def query_step(database, pause=0.0):
    """Runs on whatever thread DatabaseSteps picks: which thread, and whether it had a connection."""
    time.sleep(pause)
    return threading.get_ident(), database.execute_sql('SELECT 1').fetchone()[0], database.is_closed()


async def while_ticking(awaitable):
    """(`awaitable`'s result, how many times the loop ran a 10 ms ticker meanwhile)."""
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    try:
        return await awaitable, ticks
    finally:
        ticker.cancel()


def test_by_default_a_step_runs_on_the_loop_with_a_connection_handed_back_after(database):
    steps = DatabaseSteps(database)

    async def main():
        return threading.get_ident(), await steps.run(query_step, database)

    loop_thread, (step_thread, answer, closed_during) = asyncio.run(main())
    assert step_thread == loop_thread
    assert (answer, closed_during) == (1, False)
    assert connections_in_use(database) == 0


def test_with_threads_steps_run_in_the_pool_side_by_side_while_the_loop_goes_on(database):
    steps = DatabaseSteps(database, threads=2)

    async def main():
        started = time.monotonic()
        results, ticks = await while_ticking(asyncio.gather(steps.run(query_step, database, pause=0.3),
                                                            steps.run(query_step, database, pause=0.3)))
        return threading.get_ident(), results, time.monotonic() - started, ticks

    loop_thread, results, elapsed, ticks = asyncio.run(main())
    assert {thread for thread, _, _ in results}.isdisjoint({loop_thread})
    assert len({thread for thread, _, _ in results}) == 2
    assert all(answer == 1 and not closed for _, answer, closed in results)
    assert connections_in_use(database) == 0
    assert elapsed < 0.55  # side by side, not one after the other
    assert ticks >= 10  # the loop served other work meanwhile


def test_a_long_step_runs_off_the_loop_even_without_threads(database):
    steps = DatabaseSteps(database)

    async def main():
        return threading.get_ident(), *await while_ticking(steps.run_long(query_step, database, pause=0.3))

    loop_thread, (step_thread, answer, closed_during), ticks = asyncio.run(main())
    assert step_thread != loop_thread
    assert (answer, closed_during) == (1, False)
    assert connections_in_use(database) == 0
    assert ticks >= 10  # the loop served other work meanwhile


@pytest.mark.parametrize('threads', [0, 2])
def test_a_failing_step_raises_to_its_caller_and_hands_its_connection_back(database, threads):
    steps = DatabaseSteps(database, threads=threads)

    def failing_step():
        database.execute_sql('SELECT 1')
        raise LookupError('no such thing')

    with pytest.raises(LookupError, match='no such thing'):
        asyncio.run(steps.run(failing_step))
    assert connections_in_use(database) == 0
    assert asyncio.run(steps.run(query_step, database))[1] == 1


class FlakyDatabase:
    """Stands for a pooled PostgreSQL database whose server can be out of reach: connecting then fails as psycopg2
    fails when the network is silent (peewee's OperationalError around the driver's, without a SQLSTATE)."""

    def __init__(self):
        self.reachable = True
        self.connects = 0
        self.idle_closed = 0

    @contextlib.contextmanager
    def connection_context(self):
        self.connects += 1
        if not self.reachable:
            raise peewee.OperationalError(psycopg2.OperationalError('connection to server failed: timeout expired'))
        yield

    def execute_sql(self, sql):
        return sql

    def close_idle(self):
        self.idle_closed += 1


def test_once_a_connection_is_lost_steps_are_refused_at_once_until_a_probe_gets_through():
    database = FlakyDatabase()
    steps = DatabaseSteps(database)
    database.reachable = False
    with pytest.raises(peewee.OperationalError):
        asyncio.run(steps.run(lambda: 'done'))
    started, connects = time.monotonic(), database.connects
    for _ in range(100):  # refused without trying the database (the probe may try meanwhile, twice a second)
        with pytest.raises(Unavailable, match='the database cannot be reached') as refused:
            asyncio.run(steps.run(lambda: 'done'))
        assert refused.value.reason == 'DATABASE_UNAVAILABLE'
    assert time.monotonic() - started < 0.5
    assert database.connects - connects <= 1
    assert database.idle_closed == 1  # pooled connections through the same network went too

    database.reachable = True
    deadline = time.monotonic() + 3 * DATABASE_PROBE_INTERVAL_S
    while True:
        try:
            assert asyncio.run(steps.run(lambda: 'done')) == 'done'
            break
        except Unavailable:
            assert time.monotonic() < deadline, 'steps still refused after the database came back'
            time.sleep(0.05)


def test_a_busy_sqlite_or_a_refused_statement_stops_no_other_step():
    database = FlakyDatabase()
    steps = DatabaseSteps(database)

    def busy():
        raise peewee.OperationalError(sqlite3.OperationalError('database is locked'))

    with pytest.raises(peewee.OperationalError):
        asyncio.run(steps.run(busy))
    assert asyncio.run(steps.run(lambda: 'done')) == 'done'
