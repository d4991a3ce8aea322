"""Renders Envoy's configuration from the template envoy/envoy.yaml and the addresses of the gateway and services."""
import argparse
import ipaddress
import json
import pathlib
import string

from services.settings import (GATEWAY_ADDRESS, GATEWAY_ADMIN_ADDRESS, IMPORT_TIMEOUT_SECONDS, MAX_MESSAGE_BYTES,
                               ORDERS_ADDRESS, PRODUCTS_ADDRESS, REQUEST_TIMEOUT_SECONDS, WRITE_BURST,
                               WRITES_PER_SECOND)

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
                                                                             split_address(address)))}}}
                       for address in replicas(addresses)])


def quoted_path(path):
    """An absolute path as a JSON string, which YAML reads as a quoted string: a path with ': ' stays one value."""
    return json.dumps(str(pathlib.Path(path).resolve()))


def is_loopback(host):
    """Whether `host` (a name or an address) names this machine only."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # another host name
        return False


def positive(name, value):
    if value < 1:
        raise ValueError(f'{name} must be at least 1, not {value}')
    return value


def render_config(descriptor, listen, admin, products, orders, *, writes_per_second=WRITES_PER_SECOND,
                  write_burst=WRITE_BURST, public_admin=False):
    """Envoy's YAML for these host:port addresses and this descriptor set (made absolute); `products` and
    `orders` may each name several replicas, which Envoy balances across and health-checks.

    The admin interface can stop Envoy and change its settings, and asks for no password: ValueError for an
    `admin` address other machines can reach, unless `public_admin`."""
    admin_host, _ = split_address(admin)
    if not public_admin and not is_loopback(admin_host):
        raise ValueError(f'the admin interface must listen on a loopback address (127.0.0.1, ::1, localhost), '
                         f'not {admin_host!r}: anyone who reaches it can stop Envoy (--public-admin to allow it)')
    # Strings go in as JSON strings, which YAML reads as quoted strings: '::1' stays one value.
    values = {'descriptor': quoted_path(descriptor),
              'max_request_bytes': MAX_MESSAGE_BYTES,
              'writes_per_second': positive('writes per second', writes_per_second),
              'write_burst': positive('write burst', write_burst),
              'request_timeout_seconds': REQUEST_TIMEOUT_SECONDS, 'import_timeout_seconds': IMPORT_TIMEOUT_SECONDS,
              'products_endpoints': endpoints(products), 'orders_endpoints': endpoints(orders),
              **{'admin_' + file.name.replace('.', '_'): quoted_path(file) for file in ADMIN_CONSOLE.iterdir()}}
    for name, address in (('listen', listen), ('admin', admin)):
        host, values[f'{name}_port'] = split_address(address)
        values[f'{name}_host'] = json.dumps(host)
    return string.Template(TEMPLATE.read_text()).substitute(values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--descriptor', required=True, help='descriptor set built with --include_imports')
    parser.add_argument('--out', required=True, type=pathlib.Path, help='where to write the configuration')
    parser.add_argument('--listen', default=GATEWAY_ADDRESS, help='REST and gRPC listener (default %(default)s)')
    parser.add_argument('--admin', default=GATEWAY_ADMIN_ADDRESS,
                        help='admin interface, on a loopback address (default %(default)s)')
    parser.add_argument('--public-admin', action='store_true',
                        help='allow an --admin address that other machines can reach (it has no password)')
    parser.add_argument('--writes-per-second', type=int, default=WRITES_PER_SECOND,
                        help='writes each client address may send per second, on average (default %(default)s)')
    parser.add_argument('--write-burst', type=int, default=WRITE_BURST,
                        help='writes each client address may send at once (default %(default)s)')
    parser.add_argument('--products', default=PRODUCTS_ADDRESS,
                        help='Products service, or its replicas separated by commas (default %(default)s)')
    parser.add_argument('--orders', default=ORDERS_ADDRESS,
                        help='Orders service, or its replicas separated by commas (default %(default)s)')
    args = parser.parse_args(argv)
    try:
        config = render_config(args.descriptor, args.listen, args.admin, args.products, args.orders,
                               writes_per_second=args.writes_per_second, write_burst=args.write_burst,
                               public_admin=args.public_admin)
    except ValueError as error:
        parser.error(str(error))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(config)


if __name__ == '__main__':
    main()
