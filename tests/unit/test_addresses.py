"""One place for addresses: each variable is named in the --help of every command it moves, and scripts.gateway's
configuration follows the variables as the services do."""
import sys

import pytest
import yaml

from bench.processes import DESCRIPTOR
from scripts.gateway import command_line, write_configuration
from services.orders.__main__ import parser as orders_parser
from services.products.__main__ import parser as products_parser

# python -m NAME --help
COMMANDS = {'services.products': products_parser, 'services.orders': orders_parser, 'scripts.gateway': command_line}
MOVES = {'PRODUCTS_ADDRESS': ['services.products', 'services.orders', 'scripts.gateway'],
         'ORDERS_ADDRESS': ['services.orders', 'scripts.gateway'],
         'PRODUCTS_METRICS_ADDRESS': ['services.products'],
         'ORDERS_METRICS_ADDRESS': ['services.orders'],
         'GATEWAY_ADDRESS': ['scripts.gateway'],
         'GATEWAY_ADMIN_ADDRESS': ['scripts.gateway']}


@pytest.mark.parametrize(('variable', 'command'), [(variable, command) for variable, commands in MOVES.items()
                                                   for command in commands])
def test_each_address_variable_is_named_in_the_help_of_each_command_it_moves(variable, command):
    assert f'env {variable}' in ' '.join(COMMANDS[command]({}).format_help().split())  # however argparse wraps it


def test_the_gateway_command_calls_itself_as_it_is_typed():
    assert command_line({}).format_usage().startswith('usage: python -m scripts.gateway ')


def test_a_service_calls_itself_as_it_is_typed(monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['/work/services/products/__main__.py'])  # python -m services.products
    assert products_parser({}).format_usage().startswith('usage: python -m services.products ')


def test_envoys_configuration_follows_the_address_variables(tmp_path):
    environ = {'GATEWAY_ADDRESS': '127.0.0.2:18080', 'GATEWAY_ADMIN_ADDRESS': '127.0.0.3:19901',
               'PRODUCTS_ADDRESS': '127.0.0.4:15051', 'ORDERS_ADDRESS': '127.0.0.5:15052'}
    parser = command_line(environ)
    args = parser.parse_args(['--descriptor', str(DESCRIPTOR), '--out', str(tmp_path / 'envoy.yaml')])
    write_configuration(parser, args)
    config = yaml.safe_load(args.out.read_text())
    listeners = {listener['name']: listener for listener in config['static_resources']['listeners']}
    clusters = {cluster['name']: cluster for cluster in config['static_resources']['clusters']}

    def endpoint(cluster):
        [address] = [item['endpoint']['address']['socket_address']
                     for item in clusters[cluster]['load_assignment']['endpoints'][0]['lb_endpoints']]
        return f'{address["address"]}:{address["port_value"]}'

    gateway = listeners['gateway']['address']['socket_address']
    admin = config['admin']['address']['socket_address']
    assert f'{gateway["address"]}:{gateway["port_value"]}' == environ['GATEWAY_ADDRESS']
    assert f'{admin["address"]}:{admin["port_value"]}' == environ['GATEWAY_ADMIN_ADDRESS']
    assert endpoint('products') == environ['PRODUCTS_ADDRESS']
    assert endpoint('orders') == environ['ORDERS_ADDRESS']
