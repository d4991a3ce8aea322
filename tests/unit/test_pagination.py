"""Page sizes and page tokens: opaque, signed, tied to the listing that issued them."""
import base64

import pytest

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
