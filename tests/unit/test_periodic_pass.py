"""The Orders service's periodic passes (recovery, holds' expiry): a pass deferred by an outage is said once, and the
first to go through again says how many were deferred."""
import asyncio
import logging

from services.errors import Unavailable
from services.orders.service import PeriodicPass


def test_an_outage_is_logged_once_and_its_end_with_the_passes_it_deferred(caplog):
    outcomes = iter([Unavailable('the database cannot be reached')] * 3 + [None] * 100)
    done = asyncio.Event()

    async def work():
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome
        done.set()

    async def run():
        passes = PeriodicPass('expiry', work, interval=0.001)
        passes.start()
        await asyncio.wait_for(done.wait(), 5)
        await passes.stop()

    with caplog.at_level(logging.INFO, logger='services.orders'):
        asyncio.run(run())
    said = [(record.levelname, record.getMessage(), getattr(record, 'fields', {})) for record in caplog.records]
    assert said[:2] == [('WARNING', 'expiry pass deferred', {'error': 'the database cannot be reached'}),
                        ('INFO', 'expiry pass resumed', {'passes_deferred': 3})]
    assert len(said) == 2
