"""Envoy's configuration as scripts.gateway renders it: what it refuses to render, and tracing when asked for."""
import re
import subprocess
import sys

import pytest
import yaml

from bench.processes import DESCRIPTOR, ROOT, envoy_binary
from scripts.gateway import LUA_FILTER, REST_ANSWERS_SCRIPT, render_config

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
    result = subprocess.run([sys.executable, '-m', 'scripts.gateway', '--descriptor', str(DESCRIPTOR),
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


def test_tracing_is_off_unless_a_collector_is_given():
    config = render_config(DESCRIPTOR, '127.0.0.1:8080', '127.0.0.1:9901', *SERVICES)
    assert 'tracing:' not in config and 'otlp_collector' not in config


def test_with_a_collector_envoy_traces_to_it_in_a_configuration_the_real_binary_accepts(tmp_path):
    config = tmp_path / 'envoy.yaml'
    config.write_text(render_config(DESCRIPTOR, '127.0.0.1:8080', '127.0.0.1:9901', *SERVICES,
                                    otlp_address='collector.example:4317'))
    checked = subprocess.run([envoy_binary(), '--mode', 'validate', '-c', config], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr[-2000:]
    rendered = yaml.safe_load(config.read_text())
    [listener] = [listener for listener in rendered['static_resources']['listeners'] if listener['name'] == 'gateway']
    manager = listener['filter_chains'][0]['filters'][0]['typed_config']
    assert manager['tracing']['provider']['name'] == 'envoy.tracers.opentelemetry'
    clusters = {cluster['name']: cluster for cluster in rendered['static_resources']['clusters']}
    [endpoint] = clusters['otlp_collector']['load_assignment']['endpoints'][0]['lb_endpoints']
    assert endpoint['endpoint']['address']['socket_address'] == {'address': 'collector.example', 'port_value': 4317}


def test_a_collector_address_without_a_port_is_refused():
    with pytest.raises(ValueError, match='expected host:port'):
        render_config(DESCRIPTOR, '127.0.0.1:8080', '127.0.0.1:9901', *SERVICES, otlp_address='collector.example')


def cors_policy(config):
    (host,) = [host for listener in yaml.safe_load(config)['static_resources']['listeners']
               if listener['name'] == 'gateway'
               for host in listener['filter_chains'][0]['filters'][0]['typed_config']['route_config']['virtual_hosts']]
    return host['typed_per_filter_config']['envoy.filters.http.cors']


def test_by_default_no_other_origin_may_call():
    config = render_config(DESCRIPTOR, '127.0.0.1:8080', '127.0.0.1:9901', *SERVICES)
    assert cors_policy(config)['allow_origin_string_match'] == []
    assert 'local ALLOWED_ORIGINS = {}\n' in config


def test_the_origins_allowed_are_those_given_exactly():
    config = render_config(DESCRIPTOR, '127.0.0.1:8080', '127.0.0.1:9901', *SERVICES,
                           cors_origins=['http://localhost:3000', 'https://shop.example.com'])
    assert cors_policy(config)['allow_origin_string_match'] == [
        {'exact': 'http://localhost:3000'}, {'exact': 'https://shop.example.com'}]
    assert 'local ALLOWED_ORIGINS = {["http://localhost:3000"] = true, ["https://shop.example.com"] = true}' in config


@pytest.mark.parametrize('origin', ['*', 'localhost:3000', 'http://localhost:3000/', 'https://shop.example.com/app',
                                    'HTTP://SHOP.EXAMPLE.COM', 'ftp://shop.example.com', 'http://shop example.com'])
def test_an_origin_no_browser_sends_is_refused_naming_it(origin):
    with pytest.raises(ValueError, match=f"CORS origin '{re.escape(origin)}': expected scheme://host"):
        render_config(DESCRIPTOR, '127.0.0.1:8080', '127.0.0.1:9901', *SERVICES, cors_origins=[origin])


def gateway_manager(config):
    (listener,) = [listener for listener in yaml.safe_load(config)['static_resources']['listeners']
                   if listener['name'] == 'gateway']
    return listener['filter_chains'][0]['filters'][0]['typed_config']


def test_lua_runs_on_the_way_back_only_on_the_routes_of_rest_creates_and_deletes():
    """Every request is checked; only the answers of the calls whose REST form answers 201 or 204 pass through Lua
    again (each run of a script costs the call a coroutine: scripts/gateway.py REST_ANSWERS_SCRIPT)."""
    manager = gateway_manager(render_config(DESCRIPTOR, '127.0.0.1:8080', '127.0.0.1:9901', *SERVICES))
    (lua,) = [item['typed_config'] for item in manager['http_filters'] if item['name'] == LUA_FILTER]
    checks = lua['default_source_code']['inline_string']
    with_answers = lua['source_codes'][REST_ANSWERS_SCRIPT]['inline_string']
    assert 'function envoy_on_request' in checks and 'function envoy_on_response' not in checks
    assert with_answers.startswith(checks) and 'function envoy_on_response' in with_answers
    routes = manager['route_config']['virtual_hosts'][0]['routes']
    answering = {route['match']['path'] for route in routes
                 if route.get('typed_per_filter_config', {}).get(LUA_FILTER, {}).get('name') == REST_ANSWERS_SCRIPT}
    with_metadata = {route['match']['path'] for route in routes
                     if LUA_FILTER in route.get('metadata', {}).get('filter_metadata', {})}
    assert answering == with_metadata and '/ecommerce.products.v1.ProductService/CreateProduct' in answering
    assert '/ecommerce.products.v1.ProductService/GetProduct' not in answering
