"""Page sizes and page tokens (AIP-158): tokens are opaque to clients, checksummed, and tied to their listing; and
the total sizes of long listings, counted again only once in a while."""
import base64
import collections
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

from services.errors import InvalidArgument
from services.settings import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

# The checksum's key is in the public source, so anyone can make a token that passes it: the checksum catches
# corrupted, truncated and hand-edited tokens, and those of another listing, not forgery. Nothing needs more, which
# is why the key is not a per-deployment secret (every worker and replica would have to share one, and tokens would
# stop working whenever it changed): a token only says where a page starts, in a listing whose filters come from
# the request and whose rows from what the caller may see, so a made-up token can at most start a page at a row the
# caller could reach by paging. Its cursor is therefore untrusted input, checked like any other (_cursor). The key
# stays what it has always been, so that tokens issued by an earlier release keep working during an upgrade.
_CHECKSUM_KEY = b'ecommerce.page_token.v1'
# The largest row key (a 64-bit id) a cursor may name, and how long a token may be: the longest we issue (that key
# and a listing digest) is 92 characters.
MAX_ROW_KEY = 2**63 - 1
MAX_TOKEN_LENGTH = 128
NOT_ISSUED = 'is not a token returned by this API; start again from the first page, without one'


@dataclass(frozen=True)
class PageRequest:
    size: int
    after: int | None  # key of the last row of the previous page


def _listing_digest(listing):
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def _checksum(payload):
    return hmac.new(_CHECKSUM_KEY, payload.encode(), hashlib.sha256).hexdigest()[:24]


def _token(payload):
    return base64.urlsafe_b64encode(f'{payload}.{_checksum(payload)}'.encode()).decode().rstrip('=')


def encode_page_token(after, listing):
    """Token for the page that follows the row keyed `after` in `listing` (filters in canonical form)."""
    return _token(f'{after}.{_listing_digest(listing)}')


def next_page_token(last_id, listing):
    """The next_page_token of a response: the token after `last_id`, or '' on the last page (last_id None)."""
    return encode_page_token(last_id, listing) if last_id is not None else ''


def page_request(page_size, page_token, listing):
    """Validate page_size and page_token for `listing`; raise InvalidArgument naming the field."""
    if page_size < 0:
        raise InvalidArgument('page_size', 'must not be negative')
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not page_token:
        return PageRequest(size, None)
    return PageRequest(size, _cursor(page_token, listing))


def _cursor(page_token, listing):
    """The row key `page_token` continues after: only a token exactly as encode_page_token wrote it, with a cursor
    some row can have, is one; anything else is InvalidArgument naming page_token."""
    after, digest = _parsed(page_token) or (None, None)
    if after is None or not hmac.compare_digest(page_token.encode(), _token(f'{after}.{digest}').encode()):
        raise InvalidArgument('page_token', NOT_ISSUED)
    if digest != _listing_digest(listing):
        raise InvalidArgument('page_token', 'belongs to a listing with other filters; '
                                            'keep the filters of the first page or start again')
    return after


def _parsed(page_token):
    """(row key, listing digest) of a token shaped as we issue them, else None; its checksum is checked by _cursor,
    which compares the whole token with the one these two make."""
    if len(page_token) > MAX_TOKEN_LENGTH:
        return None
    try:
        decoded = base64.urlsafe_b64decode(page_token + '=' * (-len(page_token) % 4)).decode('ascii')
    except ValueError:  # not base64 (or not ASCII), or the bytes are not ASCII
        return None
    fields = decoded.split('.')
    if len(fields) != 3 or not fields[0].isdigit():  # ASCII digits only: no sign, space, underscore or exponent
        return None
    after = int(fields[0])
    return (after, fields[1]) if 0 < after <= MAX_ROW_KEY else None


# A long listing's total_size is reused (ListingCounts): counting the 808,540 delivered orders of a million takes
# ~70 ms on SQLite and on PostgreSQL, even from an index holding every column the count reads, where the page itself
# takes ~1 ms. A count is kept REUSE_FACTOR times as long as it took, so that counting again costs a worker at most
# ~1% of its time per listing however often the listing is read (one count of c seconds per 100c); a count of 70 ms
# is then at most 7 s old. LONGEST_REUSE_S caps it for counts slower still (a cold cache, a much larger shop): those
# cost more than 1% then, but no listing shows a total older than half a minute.
REUSE_FACTOR = 100
LONGEST_REUSE_S = 30.0
# A total below this is never reused, so a client can rely on it: counting this many rows from an index takes
# ~0.1 ms, a tenth of what the page costs, and a customer's orders and a small shop's listings are always exact.
EXACT_BELOW = 1000
# The long listings kept, each a few hundred bytes: far more than there are (one per status and the unfiltered one,
# and each customer with EXACT_BELOW orders or more), bounded all the same, since their keys come from requests.
MOST_LISTINGS_KEPT = 1024


class KeptTotal(NamedTuple):
    total: int
    reusable_until: float  # on ListingCounts' clock


class ListingCounts:
    """The total sizes of a worker's long listings, each reused until it has been kept REUSE_FACTOR times as long as
    counting it took (at most LONGEST_REUSE_S); a total below EXACT_BELOW is counted for every page. Keyed by the
    listing (any hashable value naming its filters); the MOST_LISTINGS_KEPT used last are kept. Safe to share between
    threads; two threads may count one listing at once, each then keeping its own count."""

    def __init__(self, clock=time.monotonic, most_kept=MOST_LISTINGS_KEPT):
        self._clock = clock
        self._most_kept = most_kept
        self._kept = collections.OrderedDict()  # listing -> KeptTotal, the least recently used first
        self._lock = threading.Lock()

    def total(self, listing, count):
        """The total size of `listing`: the one kept, while it may be reused, else count() (a function)."""
        started = self._clock()
        with self._lock:
            kept = self._kept.get(listing)
            if kept is not None and started < kept.reusable_until:
                self._kept.move_to_end(listing)
                return kept.total
        total = count()
        # From the start of the count: a total is never older than the longest reuse, however long counting took.
        reusable_until = started + min((self._clock() - started) * REUSE_FACTOR, LONGEST_REUSE_S)
        with self._lock:
            if total < EXACT_BELOW:
                self._kept.pop(listing, None)
                return total
            self._kept[listing] = KeptTotal(total, reusable_until)
            self._kept.move_to_end(listing)
            if len(self._kept) > self._most_kept:
                self._kept.popitem(last=False)
        return total
