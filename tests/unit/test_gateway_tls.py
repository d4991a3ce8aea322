"""Envoy's configuration with and without TLS: off unless its files are given, and refused when half given."""
import pytest

from scripts.gateway import GatewayTls, render_config

ADDRESSES = ('build/api_descriptor.pb', '127.0.0.1:8080', '127.0.0.1:9901', '127.0.0.1:50051', '127.0.0.1:50052')


def test_without_certificates_envoy_speaks_plaintext():
    assert 'transport_socket' not in render_config(*ADDRESSES)


def test_each_side_turns_on_by_itself():
    listener_only = render_config(*ADDRESSES, GatewayTls('gateway.pem', 'gateway-key.pem'))
    upstream_only = render_config(*ADDRESSES, GatewayTls(upstream_ca='ca.pem'))
    assert listener_only.count('DownstreamTlsContext') == 1 and 'UpstreamTlsContext' not in listener_only
    # Both clusters, products and orders.
    assert upstream_only.count('UpstreamTlsContext') == 2 and 'DownstreamTlsContext' not in upstream_only


@pytest.mark.parametrize('tls, expected', [
    (GatewayTls(listener_cert='gateway.pem'), 'needs both --tls-cert and --tls-key'),
    (GatewayTls(upstream_cert='envoy.pem', upstream_key='envoy-key.pem'), 'needs --upstream-tls-ca'),
    (GatewayTls(upstream_ca='ca.pem', upstream_cert='envoy.pem'), 'give both --upstream-tls-cert and'),
])
def test_half_given_tls_is_refused(tls, expected):
    with pytest.raises(ValueError, match=expected):
        render_config(*ADDRESSES, tls)
