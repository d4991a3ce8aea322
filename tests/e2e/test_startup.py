"""Start-up failures a user can fix end with one clear log line and exit status 1, not a traceback."""
import os
import socket
import subprocess
import sys

import pytest

from bench.processes import ROOT
from tests.conftest import DATABASE_INDEPENDENT

# Start-up errors, on SQLite files and made-up URLs of their own, not the database under test: the SQLite pass only.
pytestmark = [pytest.mark.e2e, DATABASE_INDEPENDENT]


def start(module, *args):
    """python -m module, its metrics on a free port unless `args` name another, until it exits."""
    return subprocess.run([sys.executable, '-m', module, '--metrics-address', '127.0.0.1:0', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def taken_port():
    """A socket listening on a loopback port, which nothing else can take meanwhile."""
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen()
    return taken


def test_a_port_in_use_is_reported_in_one_line(tmp_path):
    with taken_port() as taken:
        port = taken.getsockname()[1]
        result = start('services.products', '--address', f'127.0.0.1:{port}',
                       '--database-url', f'sqlite:///{tmp_path}/products.db')
    assert result.returncode == 1
    assert f'cannot listen on 127.0.0.1:{port}' in result.stderr
    assert 'Traceback' not in result.stderr


@pytest.mark.parametrize('service', ['products', 'orders'])
def test_a_metrics_port_in_use_is_reported_in_one_line(tmp_path, service):
    with taken_port() as taken:
        port = taken.getsockname()[1]
        result = start(f'services.{service}', '--address', '127.0.0.1:0', '--metrics-address', f'127.0.0.1:{port}',
                       '--database-url', f'sqlite:///{tmp_path}/{service}.db')
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if 'cannot start' in line]
    assert len(errors) == 1 and f'cannot serve metrics on 127.0.0.1:{port}' in errors[0], result.stderr
    assert 'Traceback' not in result.stderr


@pytest.mark.parametrize('url, expected', [
    ('mysql://localhost/shop', "unsupported database URL scheme 'mysql'"),
    ('sqlite:///:memory:', 'SQLite needs a file path'),
    ('postgresql://shop:s3cret@127.0.0.1:1/shop', 'cannot open database postgresql://127.0.0.1:1/shop'),
])
def test_a_bad_database_url_is_reported_without_its_password(url, expected):
    result = start('services.orders', '--address', '127.0.0.1:0', '--database-url', url)
    assert result.returncode == 1
    assert expected in result.stderr
    assert 's3cret' not in result.stderr
    assert 'Traceback' not in result.stderr



@pytest.mark.parametrize('service, flags, expected', [
    ('products', ['--tls-key', 'present', '--tls-cert', 'missing'], 'cannot read TLS certificate {missing}'),
    ('orders', ['--tls-cert', 'present', '--tls-key', 'present', '--tls-client-ca', 'missing'],
     'cannot read client CA {missing}'),
    ('orders', ['--products-tls-ca', 'missing'], 'cannot read CA {missing}'),
    ('products', ['--tls-cert', 'present', '--tls-key', 'present'],
     '{present} and {present} are not a PEM certificate and its private key'),
    ('orders', ['--products-tls-ca', 'present'], '{present} holds no PEM certificate'),
])
def test_a_missing_or_unusable_certificate_file_is_reported_in_one_line(tmp_path, service, flags, expected):
    """Flags name 'present' (a file that is not PEM) and 'missing' (no file); the one log line names it."""
    files = {'present': tmp_path / 'present.pem', 'missing': tmp_path / 'missing.pem'}
    files['present'].write_text('')
    result = start(f'services.{service}', '--address', '127.0.0.1:0', '--database-url',
                   f'sqlite:///{tmp_path}/{service}.db', *(str(files.get(flag, flag)) for flag in flags))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if 'cannot start' in line]
    assert len(errors) == 1 and expected.format(**files) in errors[0], result.stderr
    assert 'Traceback' not in result.stderr


def test_a_trace_exporter_that_is_not_installed_is_reported_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, '-m', 'services.products', '--address', '127.0.0.1:0', '--database-url',
                             f'sqlite:///{tmp_path}/products.db'], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={**os.environ, 'OTEL_TRACES_EXPORTER': 'zipkin'})
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if 'cannot start' in line]
    assert errors and all('OTEL_TRACES_EXPORTER=zipkin' in line for line in errors), result.stderr
    assert 'Traceback' not in result.stderr
