"""services.metrics: the per-call samples the shared plumbing records, and where the endpoint listens by default."""
import grpc
import pytest

from services import metrics
from services.orders import __main__ as orders_main
from services.products import __main__ as products_main
from services.settings import split_address
from tests.metric_samples import in_process

LABELS = {'grpc_type': 'unary', 'grpc_service': 'test.v1.Metered', 'grpc_method': 'Measure'}


def test_a_method_counts_its_calls_by_code_times_them_and_tracks_those_in_flight():
    recorded = metrics.calls().for_method('/test.v1.Metered/Measure', 'unary')
    recorded.started()
    recorded.started()
    assert in_process('grpc_server_calls_in_flight', **LABELS) == 2
    recorded.finished(grpc.StatusCode.OK, 0.002)
    recorded.finished(grpc.StatusCode.NOT_FOUND, 0.0004)
    assert in_process('grpc_server_calls_in_flight', **LABELS) == 0
    assert [in_process('grpc_server_handled_total', **LABELS, grpc_code=code) for code in ('OK', 'NOT_FOUND')] == [1, 1]
    assert in_process('grpc_server_handling_seconds_count', **LABELS) == 2
    assert in_process('grpc_server_handling_seconds_bucket', **LABELS, le='0.0005') == 1
    assert in_process('grpc_server_handling_seconds_bucket', **LABELS, le='0.0025') == 2


@pytest.mark.parametrize('main', [products_main, orders_main])
def test_by_default_each_service_serves_its_metrics_on_loopback_only(main):
    assert split_address(main.parser({}).parse_args([]).metrics_address)[0] == '127.0.0.1'


def test_the_two_services_default_to_different_metrics_ports():
    ports = {split_address(main.parser({}).parse_args([]).metrics_address)[1] for main in (products_main, orders_main)}
    assert len(ports) == 2


def test_an_empty_address_serves_no_metrics():
    endpoint = metrics.MetricsEndpoint.start('products', '')
    assert endpoint.port is None
    endpoint.worker_exited(12345)
    endpoint.stop()


def test_the_endpoint_refuses_to_start_once_prometheus_client_counts_in_one_process_only():
    """Here prometheus_client was imported without a multiprocess directory: workers' samples would be lost."""
    with pytest.raises(RuntimeError, match='imported before its multiprocess directory'):
        metrics.MetricsEndpoint.start('products', '127.0.0.1:0')
