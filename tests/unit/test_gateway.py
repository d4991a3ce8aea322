"""Envoy's configuration as services.gateway renders it: what it refuses to render."""
import subprocess
import sys

import pytest

from bench.processes import DESCRIPTOR, ROOT
from services.gateway import render_config

SERVICES = ('127.0.0.1:50051', '127.0.0.1:50052')


@pytest.mark.parametrize('admin', ['127.0.0.1:9901', '127.0.0.2:9901', '[::1]:9901', 'localhost:9901'])
def test_the_admin_interface_may_listen_on_loopback(admin):
    assert '9901' in render_config(DESCRIPTOR, '0.0.0.0:8080', admin, *SERVICES)


@pytest.mark.parametrize('admin', ['0.0.0.0:9901', '[::]:9901', '10.1.2.3:9901', 'gateway.example.com:9901'])
def test_an_admin_interface_others_can_reach_is_refused_unless_allowed(admin):
    with pytest.raises(ValueError, match='admin interface must listen on a loopback address'):
        render_config(DESCRIPTOR, '0.0.0.0:8080', admin, *SERVICES)
    assert '9901' in render_config(DESCRIPTOR, '0.0.0.0:8080', admin, *SERVICES, public_admin=True)


def test_the_command_line_refuses_a_public_admin_address_in_one_line(tmp_path):
    out = tmp_path / 'envoy.yaml'
    result = subprocess.run([sys.executable, '-m', 'services.gateway', '--descriptor', str(DESCRIPTOR),
                             '--out', str(out), '--admin', '0.0.0.0:9901'], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert 'loopback' in result.stderr and 'Traceback' not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize('setting', ['writes_per_second', 'write_burst'])
def test_a_write_limit_below_one_is_refused(setting):
    with pytest.raises(ValueError, match='must be at least 1'):
        render_config(DESCRIPTOR, '127.0.0.1:8080', '127.0.0.1:9901', *SERVICES, **{setting: 0})


def test_the_write_limit_is_rendered_into_the_bucket_and_the_refusal():
    config = render_config(DESCRIPTOR, '127.0.0.1:8080', '127.0.0.1:9901', *SERVICES,
                           writes_per_second=7, write_burst=11)
    assert 'token_bucket: {max_tokens: 11, tokens_per_fill: 7, fill_interval: 1s}' in config
    assert 'at most 11 writes at once and 7 per second from one client' in config
