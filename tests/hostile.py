"""Hostile values for the property-based tests (hypothesis strategies), and what a clear refusal looks like."""
import base64
from collections import Counter

import grpc
import pytest
from hypothesis import strategies as st

from tests.conftest import record_figures
from tests.rpc_errors import error_details

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1

# A refusal must be the client's fault or the resource's state, never a crash or an outage.
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS,
                 grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

# How the hostile requests of the running module were answered ('grpc INVALID_ARGUMENT', 'rest 400', ...).
OUTCOMES = Counter()


@pytest.fixture(scope='module', autouse=True)
def hostile_figures(request):
    """Puts the module's answers to hostile requests in the run's figures (a module imports it to use it)."""
    OUTCOMES.clear()
    yield
    record_figures(request.node.nodeid, requests=sum(OUTCOMES.values()), **dict(sorted(OUTCOMES.items())),
                   invariant='no server fault, no 5xx, no change by a refused request, every process alive')


# Kinds of hostile text, each as likely as the others however many examples it lists.
HOSTILE_STRINGS = {
    'blank': ['', ' ', '\t\n\r', '\u00a0\u2003', '\u200b'],
    'control': ['\x00', 'a\x00b', 'Desk\x00', '\x00' * 20, '\x7f\x1b[2J', '\x01\x02\x03'],
    'unicode': ['\u202eevil\u202c', '\u200f\u200e', '\ufeff', 'İı', 'ß' * 200, 'ΐ' * 200, '😀' * 10, '\U0010ffff',
                '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '١٢٣', 'e\u0301' * 150],
    'sql': ["'; DROP TABLE products;--", "Robert'); DROP TABLE orders;--", "' OR '1'='1", '" OR ""="', "\\'"],
    'pattern': ['%', '_', '%_%', '\\', '\\%', '\\_', 'a\\', '*', '?', '[a-z]', '%s%n%x', '{}', '{0}'],
    'path': ['../../etc/passwd', '..\\..\\windows\\win.ini', '..%2F..%2Fetc%2Fpasswd', '%00', '%2e%2e/', '/', '//',
             '..'],
    'code': ['<script>alert(1)</script>', '$(id)', '${jndi:ldap://x/a}', '{"a": 1}', 'NaN', 'null', 'true', '-1',
             '1e309'],
}

# Decimal strings a price field must read, or refuse without a crash.
HOSTILE_DECIMALS = [
    '1e309', '-1e309', 'NaN', '-NaN', 'nan', 'sNaN', 'Infinity', '-Infinity', 'inf', '-0', '0', '0.00', '-0.00',
    '1e-400', '1E2', '0x10', ' 1.00', '1.00 ', '1,50', '1_000', '+1', '', '.', '.5', '5.', '1.999', '1.9.9',
    '١٢٣', '１２３', '\u0661.\u0662', '9' * 400, '0.' + '0' * 400 + '1', '99999999.99', '100000000.00', '999999999',
    '0.01', '0.001', '-5', '19.99', '1e3', '1\x00', '\u200e1.00',
]

VALID_PRICES = ['0.01', '1', '19.99', '99999999.99']


def long_strings():
    """One character repeated past every length limit (200, 1000, 5000) and far beyond."""
    return st.builds(lambda char, count: char * count, st.sampled_from(['x', ' ', 'é', '😀', '\x00', "'", '%']),
                     st.sampled_from([199, 200, 201, 254, 255, 1000, 1001, 5000, 5001, 100_000]))


def hostile_text(absent=False):
    """Hostile text of every kind, random text and overlong text; with `absent`, sometimes None (left out)."""
    kinds = [st.sampled_from(examples) for examples in HOSTILE_STRINGS.values()]
    return st.one_of(*kinds, st.text(max_size=40), long_strings(), *([st.none()] if absent else []))


def hostile_decimal():
    return st.one_of(st.sampled_from(HOSTILE_DECIMALS + VALID_PRICES),
                     st.text(alphabet='0123456789.-+eE ', max_size=15),
                     st.decimals(allow_nan=True, allow_infinity=True).map(str))


def int32s(*likely):
    """Any int32, often a bound or one of `likely`."""
    edges = [INT32_MIN, INT32_MIN + 1, -1, 0, 1, 100, 101, 1000, 1001, 10**9, 10**9 + 1, INT32_MAX, *likely]
    return st.one_of(st.sampled_from(edges), st.integers(INT32_MIN, INT32_MAX))


def int64s(*likely):
    """Any int64, often a bound, a value past int32 or one of `likely` (such as ids that exist)."""
    edges = [INT64_MIN, -1, 0, 1, INT32_MAX, INT32_MAX + 1, 2**53 + 1, INT64_MAX, *likely]
    return st.one_of(st.sampled_from(edges), st.integers(INT64_MIN, INT64_MAX))


def enum_numbers(count):
    """An enum field's number: one of the `count` defined values, or any other int32."""
    return st.one_of(st.integers(0, count - 1), st.sampled_from([count, 99, -1, INT32_MIN, INT32_MAX]))


def page_tokens(*valid):
    """Page tokens: empty, valid ones, mangled valid ones, and junk."""
    mangled = [token[:-1] for token in valid if token] + [token + 'A' for token in valid] + [
        token[::-1] for token in valid]
    return st.one_of(st.just(''), st.sampled_from([*valid, *mangled] or ['']), hostile_text(),
                     st.binary(max_size=40).map(lambda raw: base64.urlsafe_b64encode(raw).decode()))


def spoiled(valid, hostile):
    """Dicts of the `valid` values with one to three of them replaced by a value drawn from `hostile[name]`; None
    leaves the field out. One bad value among good ones is what reaches the deep layers (storage, other services)."""
    @st.composite
    def build(draw):
        values = dict(valid)
        for name in draw(st.sets(st.sampled_from(sorted(hostile)), min_size=1, max_size=3)):
            values[name] = draw(hostile[name])
        return {name: value for name, value in values.items() if value is not None}
    return build()


def assert_clear_refusal(error):
    """An RpcError that blames the request (never the server) with a message; INVALID_ARGUMENT names its field."""
    assert error.code() not in SERVER_FAULTS, f'{error.code()}: {error.details()}'
    assert (error.details() or '').strip(), f'{error.code()} without a message'
    if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
        fields = error_details(error).fields
        assert len(fields) == 1 and all(fields), f'no field named: {error.details()}'
        assert error.details().startswith(f'{next(iter(fields))}: '), error.details()
