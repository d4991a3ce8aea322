"""When the services trace: only when OTEL_TRACES_EXPORTER names an exporter, so that by default no span is made."""
import pytest

from services import tracing


@pytest.mark.parametrize('environment', [
    {},
    {'OTEL_TRACES_EXPORTER': 'none'},
    {'OTEL_TRACES_EXPORTER': ' None '},
    {'OTEL_TRACES_EXPORTER': 'console', 'OTEL_SDK_DISABLED': 'true'},
])
def test_without_an_exporter_nothing_is_traced(monkeypatch, environment):
    monkeypatch.delenv('OTEL_TRACES_EXPORTER', raising=False)
    monkeypatch.delenv('OTEL_SDK_DISABLED', raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    provider = tracing.configure('products')
    assert provider is None
    assert tracing.server_interceptors(provider) == [] and tracing.client_interceptors(provider) == []
    assert tracing.current_trace_id() is None
