"""Renders Envoy's configuration from the template envoy/envoy.yaml and the addresses of the gateway and services."""
import argparse
import json
import pathlib
import string

from services.settings import (
    GATEWAY_ADDRESS,
    GATEWAY_ADMIN_ADDRESS,
    MAX_MESSAGE_BYTES,
    ORDERS_ADDRESS,
    PRODUCTS_ADDRESS,
)

TEMPLATE = pathlib.Path(__file__).resolve().parent.parent / 'envoy' / 'envoy.yaml'
# The admin console's files, which Envoy serves itself: envoy.yaml names each as $admin_<name>, dots as underscores.
ADMIN_CONSOLE = TEMPLATE.parent / 'admin'


def split_address(address):
    """('host', port) from 'host:port' or '[v6]:port'; ValueError without a port."""
    host, _, port = address.rpartition(':')
    if not host or not port.isdigit():
        raise ValueError(f'expected host:port, got {address!r}')
    return host.strip('[]'), int(port)


def replicas(addresses):
    """['host:port', ...] from a list of addresses or one comma-separated string of them."""
    if isinstance(addresses, str):
        addresses = addresses.split(',')
    listed = [address.strip() for address in addresses if address.strip()]
    if not listed:
        raise ValueError('expected at least one host:port')
    return listed


def endpoints(addresses):
    """A cluster's lb_endpoints: one per replica, in YAML's JSON-like flow style."""
    return json.dumps([{'endpoint': {'address': {'socket_address': dict(zip(('address', 'port_value'),
                                                                             split_address(address), strict=True))}}}
                       for address in replicas(addresses)])


def quoted_path(path):
    """An absolute path as a JSON string, which YAML reads as a quoted string: a path with ': ' stays one value."""
    return json.dumps(str(pathlib.Path(path).resolve()))


def render_config(descriptor, listen, admin, products, orders, admin_files=ADMIN_CONSOLE):
    """Envoy's YAML for these host:port addresses and this descriptor set (made absolute); `products` and
    `orders` may each name several replicas, which Envoy balances across and health-checks. `admin_files` is where
    Envoy finds the admin console's files: this checkout's, or their path in a container image."""
    # Strings go in as JSON strings, which YAML reads as quoted strings: '::1' stays one value.
    values = {'descriptor': quoted_path(descriptor),
              'max_request_bytes': MAX_MESSAGE_BYTES,
              'products_endpoints': endpoints(products), 'orders_endpoints': endpoints(orders),
              **{'admin_' + file.name.replace('.', '_'): quoted_path(pathlib.Path(admin_files) / file.name)
                 for file in ADMIN_CONSOLE.iterdir()}}
    for name, address in (('listen', listen), ('admin', admin)):
        host, values[f'{name}_port'] = split_address(address)
        values[f'{name}_host'] = json.dumps(host)
    return string.Template(TEMPLATE.read_text()).substitute(values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--descriptor', required=True, help='descriptor set built with --include_imports')
    parser.add_argument('--out', required=True, type=pathlib.Path, help='where to write the configuration')
    parser.add_argument('--listen', default=GATEWAY_ADDRESS, help='REST and gRPC listener (default %(default)s)')
    parser.add_argument('--admin', default=GATEWAY_ADMIN_ADDRESS, help='admin interface (default %(default)s)')
    parser.add_argument('--products', default=PRODUCTS_ADDRESS,
                        help='Products service, or its replicas separated by commas (default %(default)s)')
    parser.add_argument('--orders', default=ORDERS_ADDRESS,
                        help='Orders service, or its replicas separated by commas (default %(default)s)')
    parser.add_argument('--admin-files', default=ADMIN_CONSOLE, type=pathlib.Path,
                        help="where Envoy reads the admin console's files, e.g. their path in a container image "
                             '(default %(default)s)')
    args = parser.parse_args(argv)
    try:
        config = render_config(args.descriptor, args.listen, args.admin, args.products, args.orders, args.admin_files)
    except ValueError as error:
        parser.error(str(error))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(config)


if __name__ == '__main__':
    main()
