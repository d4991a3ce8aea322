"""Page sizes and page tokens: opaque, checksummed, tied to the listing that issued them; anything else is refused."""
import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services import pagination
from services.errors import InvalidArgument
from services.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest, encode_page_token, page_request


def test_first_page_has_no_cursor():
    assert page_request(10, '', 'products') == PageRequest(10, None)


def test_token_round_trips_to_the_key_it_was_made_from():
    token = encode_page_token(42, 'products')
    assert page_request(5, token, 'products') == PageRequest(5, 42)


def test_token_is_url_safe_and_does_not_show_the_key_in_clear():
    token = encode_page_token(123456, 'orders|pending')
    assert '=' not in token and '+' not in token and '/' not in token
    assert '123456' not in token


def test_zero_page_size_means_the_default():
    assert page_request(0, '', 'products').size == DEFAULT_PAGE_SIZE == 20


@pytest.mark.parametrize('asked', [MAX_PAGE_SIZE, MAX_PAGE_SIZE + 1, 10_000, 2**31 - 1])
def test_page_size_is_capped(asked):
    assert page_request(asked, '', 'products').size == MAX_PAGE_SIZE == 100


@pytest.mark.parametrize('size', [-1, -100])
def test_negative_page_size_is_rejected(size):
    with pytest.raises(InvalidArgument) as raised:
        page_request(size, '', 'products')
    assert raised.value.field == 'page_size'
    assert 'negative' in raised.value.message


def _decoded(token):
    return base64.urlsafe_b64decode(token + '=' * (-len(token) % 4)).decode()


def _encoded(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip('=')


def test_token_with_a_forged_cursor_is_rejected():
    token = encode_page_token(42, 'products')
    _after, digest, signature = _decoded(token).split('.')
    forged = _encoded(f'7.{digest}.{signature}')
    with pytest.raises(InvalidArgument) as raised:
        page_request(10, forged, 'products')
    assert raised.value.field == 'page_token'
    assert 'not a token returned by this API' in raised.value.message


@pytest.mark.parametrize('token', [
    'garbage', '!!!!', 'é', _encoded('1.2'), _encoded('1.2.3.4'), _encoded('x.y.z'),
    base64.urlsafe_b64encode(b'\xff\xfe.\x00.\x01').decode(),
])
def test_malformed_token_is_rejected(token):
    with pytest.raises(InvalidArgument) as raised:
        page_request(10, token, 'products')
    assert raised.value.field == 'page_token'


def test_token_with_one_character_changed_is_rejected():
    token = encode_page_token(42, 'products')
    tampered = token[:-1] + ('A' if token[-1] != 'A' else 'B')
    with pytest.raises(InvalidArgument) as raised:
        page_request(10, tampered, 'products')
    assert raised.value.field == 'page_token'


def test_token_from_another_listing_is_rejected_with_an_explanation():
    token = encode_page_token(42, 'search|lap|electronics|None|None')
    with pytest.raises(InvalidArgument) as raised:
        page_request(10, token, 'search|lap|books|None|None')
    assert raised.value.field == 'page_token'
    assert 'other filters' in raised.value.message
    # and the same token is still good for its own listing
    assert page_request(10, token, 'search|lap|electronics|None|None').after == 42


# --- hand-made tokens: anyone can make one, since the checksum's key is in the public source -------

LISTING = 'products'
INT64_MAX = 2**63 - 1


def _sealed(payload):
    """A token with a good checksum over any payload, as a client reading our source can make one."""
    return _encoded(f'{payload}.{pagination._checksum(payload)}')


def _cursor_token(after, listing=LISTING):
    """A token with a good checksum for `listing` whose cursor is any text."""
    return _sealed(f'{after}.{pagination._listing_digest(listing)}')


def test_a_token_issued_by_the_previous_release_still_works():
    # encode_page_token(42, 'products') as the previous release wrote it: replicas of both releases serve the same
    # clients during an upgrade.
    assert page_request(5, 'NDIuMGEzZTI3YjhjYTgxODI2NC44ZWIyMDAwZjgwZTIzZDU0NmYyZGE2ZmU', LISTING).after == 42


@pytest.mark.parametrize('after', [1, 2**31, INT64_MAX])
def test_every_row_key_round_trips(after):
    assert page_request(5, encode_page_token(after, LISTING), LISTING).after == after


@pytest.mark.parametrize('after', [
    INT64_MAX + 1, 2**64, 10**30, '9' * 5000, 0, -1, -INT64_MAX - 1, '-0', '00', '007', '+5', ' 5', '5 ', '1_000',
    '1e3', '0x10', 'NaN', 'x', '', '١٢٣', '²', '5\x00',
])
def test_a_well_checksummed_token_with_a_cursor_no_row_can_have_is_refused(after):
    with pytest.raises(InvalidArgument) as raised:
        page_request(10, _cursor_token(after), LISTING)
    assert raised.value.field == 'page_token'


@pytest.mark.parametrize('token', [
    _encoded(f'42.{pagination._listing_digest(LISTING)}.é'),  # non-ASCII where the checksum goes
    _encoded('42.é.x'), _encoded('é'), 'é' * 40, '\x00', '.', '..', _encoded('..'), _encoded('...'),
    encode_page_token(42, LISTING) + '==', encode_page_token(42, LISTING) + '!',
    encode_page_token(42, LISTING).replace('N', '+', 1), ' ' + encode_page_token(42, LISTING),
    'A' * 100_000,
])
def test_a_mangled_token_is_refused(token):
    with pytest.raises(InvalidArgument) as raised:
        page_request(10, token, LISTING)
    assert raised.value.field == 'page_token'


cursors = st.one_of(st.integers(), st.integers(INT64_MAX - 2, 2**80), st.text(max_size=30),
                    st.text(alphabet='0123456789-+ _.', max_size=25),
                    st.sampled_from(['', '0', '-0', '00', '1', '١', '²', '9' * 5000]))
digests = st.sampled_from([pagination._listing_digest(LISTING), pagination._listing_digest('orders|'), '', 'x' * 16,
                           pagination._listing_digest(LISTING).upper()])


@st.composite
def hand_made_tokens(draw):
    """Tokens built by hand: any cursor, a right or wrong listing digest, a good, wrong or missing checksum, fields
    dropped or added, and any of several encodings."""
    fields = [str(draw(cursors)), draw(digests)]
    payload = '.'.join(fields)
    checksum = draw(st.one_of(st.just(pagination._checksum(payload)), st.just(''), st.text(max_size=30),
                              st.just('0' * 24)))
    fields.append(checksum)
    shape = draw(st.sampled_from(['as issued', 'fewer fields', 'more fields', 'empty part']))
    if shape == 'fewer fields':
        del fields[draw(st.integers(0, 2))]
    elif shape == 'more fields':
        fields.insert(draw(st.integers(0, 3)), draw(st.text(max_size=8)))
    elif shape == 'empty part':
        fields[draw(st.integers(0, 2))] = ''
    text = '.'.join(fields)
    encoding = draw(st.sampled_from(['urlsafe', 'padded', 'standard', 'raw']))
    try:
        raw = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: send the text itself
        return text
    if encoding == 'urlsafe':
        return base64.urlsafe_b64encode(raw).decode().rstrip('=')
    if encoding == 'padded':
        return base64.urlsafe_b64encode(raw).decode()
    if encoding == 'standard':
        return base64.b64encode(raw).decode()
    return text


def _page_or_refusal(token):
    """What page_request makes of `token`: a page that starts past a row key this API issued, or InvalidArgument
    naming page_token; anything else (ValueError, OverflowError, TypeError) fails the test."""
    try:
        page = page_request(10, token, LISTING)
    except InvalidArgument as refusal:
        assert refusal.field == 'page_token' and refusal.message.startswith('page_token: ')
        return
    if not token:
        assert page.after is None  # the first page
        return
    assert isinstance(page.after, int) and 0 < page.after <= INT64_MAX
    assert token == encode_page_token(page.after, LISTING)  # only the token exactly as issued


@given(token=hand_made_tokens())
@settings(max_examples=500)
def test_a_hand_made_token_is_a_page_as_issued_or_invalid_argument(token):
    _page_or_refusal(token)


@given(token=st.one_of(st.text(max_size=200), st.binary(max_size=120).map(
    lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip('='))))
@settings(max_examples=500)
def test_any_text_as_a_token_is_a_page_as_issued_or_invalid_argument(token):
    _page_or_refusal(token)


@given(after=st.integers(1, INT64_MAX), listing=st.text(max_size=40))
def test_a_token_is_good_for_its_own_listing_only(after, listing):
    token = encode_page_token(after, listing)
    assert page_request(10, token, listing).after == after
    if listing != LISTING:
        with pytest.raises(InvalidArgument, match='other filters'):
            page_request(10, token, LISTING)
