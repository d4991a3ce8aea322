"""The Kubernetes manifests (deploy/kubernetes/): valid for the Kubernetes API, and in step with the code they run,
so that a port, a service name, a variable or Envoy's configuration changed in the code fails here, not in a
cluster."""
import pathlib
import re
import subprocess
import urllib.parse

import kubernetes_validate
import pytest
import yaml

from bench.processes import DESCRIPTOR, envoy_binary
from scripts import kubernetes_envoy_config
from scripts.gateway import render_config
from services import settings
from services.orders import __main__ as orders_main
from services.orders.servicer import OrderServicer
from services.products import __main__ as products_main
from services.products.servicer import ProductServicer
from services.settings import split_address
from tests.conftest import DATABASE_INDEPENDENT

# Files checked against the code, no database at all: the SQLite pass only.
pytestmark = DATABASE_INDEPENDENT

MANIFESTS = pathlib.Path(__file__).resolve().parents[2] / 'deploy' / 'kubernetes'
# The oldest Kubernetes the manifests are for (the preStop `sleep` action is on by default from 1.30), and the
# newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ['1.30.0', kubernetes_validate.latest_version()]
# Each Deployment running a service: how it reads its settings, the name its health service reports, its
# default address.
SERVICES = {
    'products': (products_main, ProductServicer.SERVICE_NAME, settings.PRODUCTS_ADDRESS,
                 settings.PRODUCTS_METRICS_ADDRESS),
    'orders': (orders_main, OrderServicer.SERVICE_NAME, settings.ORDERS_ADDRESS, settings.ORDERS_METRICS_ADDRESS),
}


def kustomization():
    return yaml.safe_load((MANIFESTS / 'kustomization.yaml').read_text())


def documents():
    """Every object `kubectl apply -k` creates, in the order kustomization.yaml lists their files."""
    return [document for name in kustomization()['resources']
            for document in yaml.safe_load_all((MANIFESTS / name).read_text())]


def resource(kind, name):
    (found,) = [document for document in documents()
                if document['kind'] == kind and document['metadata']['name'] == name]
    return found


def only_container(name, kind='Deployment'):
    (container,) = resource(kind, name)['spec']['template']['spec']['containers']
    return container


def environment(container):
    """The variables the container starts with: its ConfigMaps', then its own (Secret values looked up)."""
    variables = {}
    for source in container.get('envFrom', []):
        variables.update(resource('ConfigMap', source['configMapRef']['name'])['data'])
    for variable in container.get('env', []):
        if 'value' in variable:
            variables[variable['name']] = variable['value']
        else:
            reference = variable['valueFrom']['secretKeyRef']
            variables[variable['name']] = resource('Secret', reference['name'])['stringData'][reference['key']]
    return variables


class RecordingEnviron(dict):
    """An environment that remembers which variables the code asked for."""

    def __init__(self, variables):
        super().__init__(variables)
        self.read = set()

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)


def service_settings(name):
    """The settings the service's own parser makes of the manifest's environment and command line, and the
    variables the manifest sets that the service never reads."""
    module = SERVICES[name][0]
    container = only_container(name)
    environ = RecordingEnviron(environment(container))
    args = module.parser(environ).parse_args(container['command'][3:] + container.get('args', []))
    return args, set(environ) - environ.read


def container_port(container, port):
    """The number a Service's targetPort (a name or a number) reaches in the container."""
    (number,) = [each['containerPort'] for each in container['ports'] if port in (each['name'], each['containerPort'])]
    return number


def headless_service_port(address, deployment_name):
    """The container port that host:port, a headless Service's name and port, reaches in the Deployment's pods;
    the Service must select those pods."""
    host, port = split_address(address)
    service = resource('Service', host)
    assert service['spec']['clusterIP'] == 'None', f'{host}: Envoy and gRPC clients balance only over a headless one'
    labels = resource('Deployment', deployment_name)['spec']['template']['metadata']['labels']
    assert service['spec']['selector'].items() <= labels.items()
    (target,) = [each['targetPort'] for each in service['spec']['ports'] if each['port'] == port]
    return container_port(only_container(deployment_name), target)


def probes(container):
    return [container[kind] for kind in ('startupProbe', 'readinessProbe', 'livenessProbe') if kind in container]


@pytest.mark.parametrize('version', KUBERNETES_VERSIONS)
def test_every_object_is_valid_for_the_kubernetes_api(version):
    for document in documents():
        # strict: a misspelt or misplaced field is an error, not ignored.
        kubernetes_validate.validate(document, version, strict=True)


def test_kustomization_applies_every_manifest():
    listed = set(kustomization()['resources'])
    assert listed == {path.name for path in MANIFESTS.glob('*.yaml')} - {'kustomization.yaml'}


def test_every_container_runs_the_image_users_set_or_a_pinned_one():
    set_by_users = {image['name'] for image in kustomization()['images']}
    for document in documents():
        for container in document.get('spec', {}).get('template', {}).get('spec', {}).get('containers', []):
            assert container['image'] in set_by_users or re.fullmatch(r'[\w./-]+:\d[\w.-]*', container['image'])


def test_every_container_has_resource_requests_and_limits():
    for document in documents():
        for container in document.get('spec', {}).get('template', {}).get('spec', {}).get('containers', []):
            for bound in ('requests', 'limits'):
                assert {'cpu', 'memory'} <= container['resources'][bound].keys(), (container['name'], bound)


@pytest.mark.parametrize('name', SERVICES)
def test_the_container_runs_the_service(name):
    assert only_container(name)['command'][:3] == ['python', '-m', SERVICES[name][0].__name__.removesuffix('.__main__')]


@pytest.mark.parametrize('name', SERVICES)
def test_the_service_reads_every_variable_the_manifest_sets(name):
    _, unread = service_settings(name)
    assert not unread


@pytest.mark.parametrize('name', SERVICES)
def test_the_service_checks_tokens_with_keys_from_the_auth_secret(name):
    """Each file the service reads its keys from is one the Secret `auth` puts in the container."""
    args, _ = service_settings(name)
    container = only_container(name)
    volumes = {volume['name']: volume for volume in resource('Deployment', name)['spec']['template']['spec']['volumes']}
    mounted = {}
    for mount in container['volumeMounts']:
        secret = volumes[mount['name']]['secret']
        for item in secret['items']:
            mounted[f'{mount["mountPath"]}/{item["path"]}'] = (secret['secretName'], item['key'])
    key_files = [args.auth_jwks] + ([args.service_key] if name == 'orders' else [])
    assert args.auth_jwks and not args.auth_secret, 'a cluster must not run with authentication off'
    assert [mounted.get(path, (None,))[0] for path in key_files] == ['auth'] * len(key_files)


@pytest.mark.parametrize('name', SERVICES)
def test_the_service_listens_where_the_container_port_probes_and_services_point(name):
    args, _ = service_settings(name)
    container = only_container(name)
    host, port = split_address(args.address)
    assert host == '0.0.0.0', 'on loopback neither the probes nor the other pods would reach it'
    assert port == split_address(SERVICES[name][2])[1] == container_port(container, 'grpc')
    assert all(probe['grpc']['port'] == port for probe in probes(container))
    assert headless_service_port(f'{name}-pods:{port}', name) == port
    service = resource('Service', name)
    assert service['spec']['type'] == 'ClusterIP'
    assert [container_port(container, each['targetPort']) for each in service['spec']['ports']] == [port]


@pytest.mark.parametrize('name', SERVICES)
def test_prometheus_finds_the_metrics_where_the_service_serves_them(name):
    args, _ = service_settings(name)
    host, port = split_address(args.metrics_address)
    assert host == '0.0.0.0', 'on loopback Prometheus would not reach it'
    assert port == split_address(SERVICES[name][3])[1] == container_port(only_container(name), 'metrics')
    annotations = resource('Deployment', name)['spec']['template']['metadata']['annotations']
    assert annotations == {'prometheus.io/scrape': 'true', 'prometheus.io/port': str(port),
                           'prometheus.io/path': '/metrics'}


@pytest.mark.parametrize('name', SERVICES)
def test_the_probes_ask_the_grpc_health_service_about_the_service(name):
    container = only_container(name)
    assert {'readinessProbe', 'livenessProbe'} <= container.keys()
    assert [probe['grpc'].get('service') for probe in probes(container)] == [SERVICES[name][1]] * len(probes(container))


@pytest.mark.parametrize('name', SERVICES)
def test_kubernetes_waits_for_the_preStop_sleep_and_the_servers_grace(name):
    args, _ = service_settings(name)
    pod = resource('Deployment', name)['spec']['template']['spec']
    drain = only_container(name)['lifecycle']['preStop']['sleep']['seconds']
    assert pod['terminationGracePeriodSeconds'] > drain + args.grace


@pytest.mark.parametrize('name', SERVICES)
def test_the_service_uses_the_postgresql_database_the_manifests_create(name):
    args, _ = service_settings(name)
    url = urllib.parse.urlsplit(args.database_url)
    postgres = only_container('postgres', kind='StatefulSet')
    server = environment(postgres)
    assert (url.scheme, url.username, url.password) == ('postgresql', server['POSTGRES_USER'],
                                                        server['POSTGRES_PASSWORD'])
    assert resource('Service', url.hostname)['spec']['selector'] == resource(
        'StatefulSet', 'postgres')['spec']['template']['metadata']['labels']
    assert url.port == container_port(postgres, 'postgres')
    created = re.findall(r'CREATE DATABASE (\w+);', resource('ConfigMap', 'postgres-init')['data']['databases.sql'])
    assert url.path.lstrip('/') in created


def test_orders_spreads_its_calls_over_every_products_pod():
    args, _ = service_settings('orders')
    target = args.products_address.removeprefix('dns:///')
    assert target != args.products_address, 'dns:/// lets gRPC see every address the name resolves to'
    assert headless_service_port(target, 'products') == split_address(settings.PRODUCTS_ADDRESS)[1]


def test_envoys_configuration_is_what_services_gateway_renders():
    # Fails after a change to envoy/envoy.yaml until `python -m scripts.kubernetes_envoy_config` is run.
    assert (MANIFESTS / 'gateway-config.yaml').read_text() == kubernetes_envoy_config.configmap()


def test_envoy_reaches_every_pod_of_each_service_and_is_reached_on_its_listener():
    for address, name in ((kubernetes_envoy_config.PRODUCTS, 'products'), (kubernetes_envoy_config.ORDERS, 'orders')):
        assert headless_service_port(address, name) == split_address(SERVICES[name][2])[1]
    envoy = only_container('gateway')
    (mount,) = envoy['volumeMounts']
    (volume,) = resource('Deployment', 'gateway')['spec']['template']['spec']['volumes']
    assert volume == {'name': mount['name'], 'configMap': {'name': 'gateway-config'}}
    assert envoy['command'][:3] == ['envoy', '-c', f'{mount["mountPath"]}/envoy.yaml']
    listener_port = split_address(kubernetes_envoy_config.LISTEN)[1]
    assert container_port(envoy, 'http') == listener_port
    (port,) = resource('Service', 'gateway')['spec']['ports']
    assert container_port(envoy, port['targetPort']) == listener_port


def test_envoy_accepts_the_configuration(tmp_path):
    """As in the ConfigMap, with this checkout's descriptor set and console files where the image has its own."""
    config = tmp_path / 'envoy.yaml'
    config.write_text(render_config(DESCRIPTOR, kubernetes_envoy_config.LISTEN, kubernetes_envoy_config.ADMIN,
                                    kubernetes_envoy_config.PRODUCTS, kubernetes_envoy_config.ORDERS))
    checked = subprocess.run([envoy_binary(), '--mode', 'validate', '-c', config], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
