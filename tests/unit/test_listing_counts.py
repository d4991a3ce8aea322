"""The reuse of listings' total sizes (services.pagination.ListingCounts), on a clock that moves only when told: a short
listing is counted for every page, a long one reused for a hundred times what counting it took, at most 30 s, and only
the listings used last are kept."""
from pathlib import Path

import pytest

from services.pagination import EXACT_BELOW, LONGEST_REUSE_S, REUSE_FACTOR, ListingCounts

PROTOS = Path(__file__).resolve().parents[2] / 'protos'
LONG = EXACT_BELOW * 500


class StoppedClock:
    """time.monotonic for a test: it moves when a count takes time, or when the test moves it."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Count:
    """A listing's count() taking `cost` seconds on `clock`; each call answers the next of `totals` (the last one
    again when they run out) and is counted in `calls`."""

    def __init__(self, clock, cost, *totals):
        self.clock, self.cost, self.totals, self.calls = clock, cost, list(totals), 0

    def __call__(self):
        self.clock.now += self.cost
        self.calls += 1
        return self.totals[min(self.calls, len(self.totals)) - 1]


@pytest.fixture
def clock():
    return StoppedClock()


def test_a_short_listing_is_counted_for_every_page_however_long_counting_takes(clock):
    totals = ListingCounts(clock)
    count = Count(clock, 1.0, EXACT_BELOW - 1, 3, 4)
    assert [totals.total('pending', count) for _ in range(3)] == [EXACT_BELOW - 1, 3, 4]
    assert count.calls == 3


def test_a_cheap_count_is_reused_for_a_hundred_times_what_it_took_which_is_next_to_nothing(clock):
    totals = ListingCounts(clock)
    count = Count(clock, 0.0001, LONG, LONG + 1)
    started = clock.now
    assert totals.total('pending', count) == LONG
    clock.now = started + 0.0001 * REUSE_FACTOR - 0.0005
    assert totals.total('pending', count) == LONG
    clock.now = started + 0.0001 * REUSE_FACTOR + 0.0001
    assert totals.total('pending', count) == LONG + 1
    assert count.calls == 2


def test_an_expensive_count_is_reused_within_its_window_and_counted_again_after(clock):
    totals = ListingCounts(clock)
    count = Count(clock, 0.040, LONG, LONG + 7)
    window = 0.040 * REUSE_FACTOR  # from the start of the count
    started = clock.now
    assert totals.total('delivered', count) == LONG
    for seconds in (0.1, window / 2, window - 0.01):
        clock.now = started + seconds
        assert totals.total('delivered', count) == LONG
    assert count.calls == 1
    clock.now = started + window + 0.001
    assert totals.total('delivered', count) == LONG + 7
    assert count.calls == 2
    clock.now += window - 0.1
    assert totals.total('delivered', count) == LONG + 7  # reused again, for another window
    assert count.calls == 2


def test_no_total_is_reused_for_longer_than_the_cap_however_slow_its_count(clock):
    totals = ListingCounts(clock)
    count = Count(clock, 5.0, LONG, LONG + 1)
    started = clock.now
    totals.total('everything', count)
    clock.now = started + LONGEST_REUSE_S - 0.01
    assert totals.total('everything', count) == LONG
    clock.now = started + LONGEST_REUSE_S
    assert totals.total('everything', count) == LONG + 1


def test_a_long_listing_grown_short_is_exact_again_from_its_next_count(clock):
    totals = ListingCounts(clock)
    count = Count(clock, 0.040, LONG, 12, 11)
    totals.total('shipped', count)
    clock.now += LONGEST_REUSE_S
    assert [totals.total('shipped', count) for _ in range(2)] == [12, 11]


def test_each_listing_is_counted_and_reused_apart(clock):
    totals = ListingCounts(clock)
    delivered, shipped = Count(clock, 0.040, LONG), Count(clock, 0.040, LONG + 1)
    assert (totals.total(('delivered', ''), delivered), totals.total(('shipped', ''), shipped)) == (LONG, LONG + 1)
    assert (totals.total(('delivered', ''), delivered), totals.total(('shipped', ''), shipped)) == (LONG, LONG + 1)
    assert delivered.calls == shipped.calls == 1


def test_only_the_listings_used_last_are_kept(clock):
    totals = ListingCounts(clock, most_kept=2)
    counts = {listing: Count(clock, 0.040, LONG) for listing in 'abc'}
    for listing in 'abac':  # a was used after b: b is the one dropped for c
        totals.total(listing, counts[listing])
    for listing in 'cab':
        totals.total(listing, counts[listing])
    assert {listing: count.calls for listing, count in counts.items()} == {'a': 1, 'b': 2, 'c': 1}


@pytest.mark.parametrize('response', ['ListOrdersResponse', 'GetOrdersByCustomerResponse'])
def test_the_contract_states_the_rule_a_client_relies_on(response):
    proto = (PROTOS / 'ecommerce' / 'orders' / 'v1' / 'orders.proto').read_text()
    message = proto[proto.index(f'message {response} {{'):]
    comment = message[:message.index('int32 total_size')].rpartition(';')[2]
    assert f'{EXACT_BELOW:,}' in comment and f'{LONGEST_REUSE_S:g} seconds' in comment, comment
