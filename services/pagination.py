"""Page sizes and page tokens (AIP-158): tokens are opaque, signed, and tied to their listing."""
import base64
import hashlib
import hmac
from dataclasses import dataclass

from services.errors import InvalidArgument
from services.settings import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

# Signing keeps clients from forging cursors; it is not a secret that protects data.
_TOKEN_KEY = b'ecommerce.page_token.v1'


@dataclass(frozen=True)
class PageRequest:
    size: int
    after: int | None  # key of the last row of the previous page


def _listing_digest(listing):
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def _sign(payload):
    return hmac.new(_TOKEN_KEY, payload.encode(), hashlib.sha256).hexdigest()[:24]


def encode_page_token(after, listing):
    """Token for the page that follows the row keyed `after` in `listing` (filters in canonical form)."""
    payload = f'{after}.{_listing_digest(listing)}'
    return base64.urlsafe_b64encode(f'{payload}.{_sign(payload)}'.encode()).decode().rstrip('=')


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
    try:
        decoded = base64.urlsafe_b64decode(page_token + '=' * (-len(page_token) % 4)).decode()
        after, digest, signature = decoded.split('.')
        payload = f'{after}.{digest}'
        valid = hmac.compare_digest(signature, _sign(payload))
    except ValueError:  # bad base64, bad UTF-8 or wrong number of parts
        valid = False
    if not valid:
        raise InvalidArgument('page_token', 'is not a token returned by this API')
    if digest != _listing_digest(listing):
        raise InvalidArgument('page_token', 'belongs to a listing with other filters; '
                                            'keep the filters of the first page or start again')
    return PageRequest(size, int(after))
