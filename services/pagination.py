"""Page sizes and page tokens (AIP-158): tokens are opaque to clients, checksummed, and tied to their listing."""
import base64
import hashlib
import hmac
from dataclasses import dataclass

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
