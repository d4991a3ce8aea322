"""Renders Envoy's configuration from the template envoy/envoy.yaml and the addresses of the gateway and services."""
import ipaddress
import json
import os
import pathlib
import re
import string
import textwrap
from dataclasses import dataclass

import yaml

from scripts.exposure import read_api
from services.reflection import GATEWAY_REFLECTION
from services.settings import (
    GATEWAY_ADDRESS,
    GATEWAY_ADMIN_ADDRESS,
    GATEWAY_MAX_CONNECTIONS,
    IDLE_CONNECTION_SECONDS,
    IMPORT_TIMEOUT_SECONDS,
    MAX_HEADER_BYTES,
    MAX_MESSAGE_BYTES,
    ORDERS_ADDRESS,
    PRODUCTS_ADDRESS,
    REQUEST_HEADERS_TIMEOUT_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    WRITE_BURST,
    WRITES_PER_SECOND,
    CommandLine,
    split_address,
)

TEMPLATE = pathlib.Path(__file__).resolve().parent.parent / 'envoy' / 'envoy.yaml'
# The admin console's files, which Envoy serves itself: envoy.yaml names each as $admin_<name>, dots as underscores.
ADMIN_CONSOLE = TEMPLATE.parent / 'admin'
# The API reference at /api/docs/: our page and Swagger UI's files, which make installs from npm (no CDN), by path
# under the folder and with their content types.
API_DOCS = TEMPLATE.parent / 'api-docs'
API_DOCS_FILES = {'': ('index.html', 'text/html; charset=utf-8'),
                  'api-docs.js': ('api-docs.js', 'text/javascript; charset=utf-8'),
                  'swagger-ui-bundle.js': ('node_modules/swagger-ui-dist/swagger-ui-bundle.js',
                                           'text/javascript; charset=utf-8'),
                  'swagger-ui.css': ('node_modules/swagger-ui-dist/swagger-ui.css', 'text/css; charset=utf-8')}
# The REST API's OpenAPI document, which Envoy serves too: `make` writes it beside the descriptor set.
OPENAPI_DOCUMENT = 'openapi.json'
# A template line holding only one of these placeholders (and a comment) is left out when it is off, so that the
# configuration without TLS (or tracing) is the same as before they existed.
OPTIONAL_LINE = re.compile(r'^ *\$(listener_tls|upstream_tls|tracing|otlp_collector)\b.*\n', re.MULTILINE)
# A template line holding only one of these placeholders becomes a block of lines at its indentation: the routes of
# the public RPCs (YAML list items) and the Lua request checks.
BLOCK_LINE = re.compile(r'^( *)\$(rpc_routes|api_docs_routes|request_checks|request_checks_and_rest_answers)\b.*\n',
                        re.MULTILINE)
ROUTE_CLASSES = TEMPLATE.with_name('route_classes.yaml')
REQUEST_CHECKS = TEMPLATE.with_name('request_checks.lua')
REST_ANSWERS = TEMPLATE.with_name('rest_answers.lua')
TLS_SOCKET = 'envoy.transport_sockets.tls'
TLS_TYPES = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.'
OTLP_CLUSTER = 'otlp_collector'


@dataclass(frozen=True)
class GatewayTls:
    """Certificate files (PEM) for Envoy: its listener's certificate and key (TLS for clients), and the CA that the
    services' certificates must chain to, with Envoy's client certificate and key for services that require one
    (mTLS). Each part is on when its files are given."""
    listener_cert: str | None = None
    listener_key: str | None = None
    upstream_ca: str | None = None
    upstream_cert: str | None = None
    upstream_key: str | None = None

    def listener_socket(self):
        """The listener's `transport_socket` line, or '' for plaintext."""
        if not (self.listener_cert or self.listener_key):
            return ''
        if not (self.listener_cert and self.listener_key):
            raise ValueError('TLS on the listener needs both --tls-cert and --tls-key')
        # ALPN lets gRPC clients (which require h2) and HTTP/1.1 clients share the listener, as in plaintext.
        return transport_socket('DownstreamTlsContext', {
            'alpn_protocols': ['h2', 'http/1.1'],
            'tls_certificates': [certificate(self.listener_cert, self.listener_key)]})

    def upstream_socket(self):
        """The clusters' `transport_socket` line, or '' for plaintext. Envoy's active health checks go through it
        too, so a service requiring client certificates sees Envoy's on its probes as well."""
        if not (self.upstream_ca or self.upstream_cert or self.upstream_key):
            return ''
        if not self.upstream_ca:  # without it Envoy would accept any certificate at all
            raise ValueError('TLS to the services needs --upstream-tls-ca to verify their certificates')
        if bool(self.upstream_cert) != bool(self.upstream_key):
            raise ValueError('a client certificate needs its key: give both --upstream-tls-cert and --upstream-tls-key')
        context = {'alpn_protocols': ['h2'],
                   'validation_context': {'trusted_ca': {'filename': absolute(self.upstream_ca)}}}
        if self.upstream_cert:
            context['tls_certificates'] = [certificate(self.upstream_cert, self.upstream_key)]
        return transport_socket('UpstreamTlsContext', context)


def tracing(otlp_address):
    """The connection manager's `tracing` line and the collector's cluster line, ('', '') without an address: Envoy
    makes a span of every request, continues the client's W3C trace (traceparent) or starts one, passes it on to
    the service, and exports its spans over OTLP/gRPC to the collector at `otlp_address` (host:port)."""
    if not otlp_address:
        return '', ''
    provider = {'name': 'envoy.tracers.opentelemetry', 'typed_config': {
        '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
        'grpc_service': {'envoy_grpc': {'cluster_name': OTLP_CLUSTER}, 'timeout': '1s'},
        'service_name': 'envoy'}}
    collector = {'name': OTLP_CLUSTER, 'type': 'STRICT_DNS', 'dns_lookup_family': 'V4_PREFERRED',
                 'connect_timeout': '1s',
                 'typed_extension_protocol_options': {'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
                     '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
                     'explicit_http_config': {'http2_protocol_options': {}}}},
                 'load_assignment': {'cluster_name': OTLP_CLUSTER, 'endpoints': [
                     {'lb_endpoints': json.loads(endpoints(otlp_address))}]}}
    # Envoy's span records the request's URL: its path is cut after /api/orders/customer/, so that neither the email
    # there nor a query string (?customer_email=, ?page_token=) reaches the traces. The span's grpc.path names the
    # call in full.
    settings = {'provider': provider, 'max_path_tag_length': len('/api/orders/customer/')}
    return 'tracing: ' + json.dumps(settings), '- ' + json.dumps(collector)


def route_classes(values):
    """envoy/route_classes.yaml with the template's `values` in: each class's route fields, by class name."""
    return yaml.safe_load(string.Template(ROUTE_CLASSES.read_text()).substitute(values))


def rpc_routes(api, values):
    """One route per public RPC, on its gRPC path: the fields of its class in envoy/route_classes.yaml, to its
    service's cluster; for the Lua filter, in its metadata, how a successful REST call answers (201, 204), and the
    script that gives that answer (REST_ANSWERS_SCRIPT), on those routes only."""
    classes = route_classes(values)
    routes = []
    for rpc in api.public():
        settings = classes[rpc.route_class]
        route = {'match': {'path': rpc.path}, **settings, 'route': {'cluster': rpc.cluster, **settings['route']}}
        if rpc.rest_answer:
            # The class's own dicts are shared by every route of the class: left as they are.
            shared = route.get('metadata', {}).get('filter_metadata', {})
            route['metadata'] = {'filter_metadata': {**shared, LUA_FILTER: rpc.rest_answer}}
            route['typed_per_filter_config'] = {**route.get('typed_per_filter_config', {}), **REST_ANSWERS_ROUTE}
        routes.append(route)
    return routes


UNTRANSCODED = {'envoy.filters.http.grpc_json_transcoder': {
    '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig', 'disabled': True}}


def api_docs_routes(folder):
    """The API reference's routes: each file of API_DOCS_FILES answered from `folder` (its path where Envoy runs),
    /api/docs sent on to /api/docs/; with no folder (Swagger UI not installed: no npm where it was built), a 404
    saying so."""
    if folder is None:
        return [{'match': {'prefix': '/api/docs'}, 'typed_per_filter_config': UNTRANSCODED, 'direct_response': {
            'status': 404, 'body': {'inline_string': 'the API reference is not installed here: make installs it '
                                                     'where npm is; the document itself is /api/openapi.json'}}}]
    routes = [{'match': {'path': '/api/docs'}, 'redirect': {'path_redirect': '/api/docs/'},
               'typed_per_filter_config': UNTRANSCODED}]
    for path, (file, content_type) in API_DOCS_FILES.items():
        routes.append({'match': {'path': f'/api/docs/{path}'}, 'typed_per_filter_config': UNTRANSCODED,
                       'direct_response': {'status': 200, 'body': {'filename': str(pathlib.Path(folder) / file)}},
                       'response_headers_to_add': [
                           {'header': {'key': key, 'value': value}, 'append_action': 'OVERWRITE_IF_EXISTS_OR_ADD'}
                           for key, value in (('content-type', content_type), ('cache-control', 'no-cache'),
                                              ('x-content-type-options', 'nosniff'))]})
    return routes


def installed_api_docs(folder=API_DOCS):
    """`folder` when every file of the reference is there (make has installed Swagger UI), else None."""
    return folder if all((folder / file).is_file() for file, _ in API_DOCS_FILES.values()) else None


# The Lua filter reads its route's metadata under its own name (envoy.yaml's http_filters).
LUA_FILTER = 'envoy.filters.http.lua'
# The name of the Lua filter's second script (envoy.yaml's source_codes): the request checks and the REST answers
# (envoy/rest_answers.lua), run instead of the checks alone on the routes of the calls whose answers it changes.
# Envoy picks a route's script on the way in and again on the way back, each time by the route then chosen: a REST
# call's, on the way back, is its RPC's (the transcoder has turned the request into its gRPC call).
REST_ANSWERS_SCRIPT = 'rest_answers'
REST_ANSWERS_ROUTE = {LUA_FILTER: {'@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute',
                                   'name': REST_ANSWERS_SCRIPT}}


def query_rules(api):
    """For envoy/request_checks.lua: each REST binding's method, its path as a Lua pattern, and the query parameters
    it refuses (every spelling of a field the path or the body binds; any at all for `body: "*"`), the most literal
    paths first, as the transcoder matches them (/api/orders/watch before /api/orders/{id})."""
    rules = []
    for rpc in api.public():
        for binding in rpc.bindings:
            body_fields = binding.body not in ('', '*') and api.query_names(rpc, binding.body)
            rules.append({'method': binding.verb.upper(), 'path': lua_pattern(binding.template),
                          'body_only': binding.body == '*',
                          'path_fields': {name: True for variable in binding.variables
                                          for name in api.query_names(rpc, variable)},
                          'body_fields': {name: True for name in body_fields or ()},
                          'specificity': [segment.startswith('{') for segment in binding.template.split('/')]})
    rules.sort(key=lambda rule: rule.pop('specificity'))
    return rules


def lua_pattern(template):
    """A path template (`/api/products/{id}`) as an anchored Lua pattern; a trailing slash matches too."""
    parts = re.split(r'({[^}]+})', template)
    return '^' + ''.join('[^/]+' if part.startswith('{') else re.sub(r'([^A-Za-z0-9/])', r'%\1', part)
                         for part in parts) + '/?$'


def lua_value(value):
    """A Lua literal of a str, bool, list or dict (ASCII strings only: JSON's escapes are Lua's too)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, dict):
        return '{' + ', '.join(f'[{lua_value(key)}] = {lua_value(item)}' for key, item in value.items()) + '}'
    return '{' + ', '.join(lua_value(item) for item in value) + '}'


def request_checks(api, allowed_origins=(), rest_answers=False):
    """The Lua filter's source: envoy/request_checks.lua with the query rules of this descriptor set and the origins
    whose pages may call the API before it; with `rest_answers`, envoy/rest_answers.lua after it."""
    rules = ',\n'.join('  ' + lua_value(rule) for rule in query_rules(api))
    return (f'local QUERY_RULES = {{\n{rules}\n}}\n'
            f'local ALLOWED_ORIGINS = {lua_value({origin: True for origin in allowed_origins})}\n\n'
            + REQUEST_CHECKS.read_text() + ('\n' + REST_ANSWERS.read_text() if rest_answers else ''))


ORIGIN = re.compile(r'https?://[^\s/:?#@]+(:[0-9]{1,5})?')


def checked_origins(origins):
    """The origins whose browser pages may call the API, as a browser sends them (`Origin`): scheme://host[:port],
    lower case, no path and no slash at the end; ValueError naming one that is not."""
    origins = [origin.strip() for origin in ([origins] if isinstance(origins, str) else origins)]
    for origin in origins:
        if not ORIGIN.fullmatch(origin) or origin != origin.lower():
            raise ValueError(f'CORS origin {origin!r}: expected scheme://host or scheme://host:port in lower case, '
                             f'such as http://localhost:3000, with no path and no slash at the end')
    return origins


# How envoy.yaml's gateway_health listener hands a health Check's service name from its Lua filter to its routes and
# to gateway_health_status's health_check filters.
HEALTH_SERVICE_HEADER = 'x-health-service'


def gateway_grpc(api):
    """envoy.yaml's values for gRPC health and reflection through the gateway, from the public services of `api`
    (a scripts.exposure.Api): the names gateway_health knows, a health_check filter per name for
    gateway_health_status, and the header that marks reflection calls as the gateway's
    (services.reflection.ReflectionServicer)."""
    clusters = {rpc.service: rpc.cluster for rpc in api.public()}
    checks = [health_check('', {}), *(health_check(name, {cluster: {'value': 1}})
                                      for name, cluster in sorted(clusters.items()))]
    return {'health_service_header': HEALTH_SERVICE_HEADER,
            'health_known_services': json.dumps('|'.join(map(re.escape, ['', *sorted(clusters)]))),
            'health_checks': ', '.join(map(json.dumps, checks)),
            'reflection_header': json.dumps(dict(zip(('key', 'value'), GATEWAY_REFLECTION, strict=True)))}


def health_check(service, min_healthy):
    """A health_check filter that answers a Check for `service` itself: 200, or 503 while Envoy fails health
    checks or a cluster of `min_healthy` (cluster → percentage) has fewer healthy endpoints than that."""
    return {'name': 'envoy.filters.http.health_check', 'typed_config': {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck',
        'pass_through_mode': False,
        'headers': [{'name': HEALTH_SERVICE_HEADER, 'string_match': {'exact': service}}],
        'cluster_min_healthy_percentages': min_healthy}}


def certificate(cert, key):
    return {'certificate_chain': {'filename': absolute(cert)}, 'private_key': {'filename': absolute(key)}}


def transport_socket(context_type, common_tls_context):
    """A `transport_socket: {...}` in YAML's JSON-like flow style."""
    return 'transport_socket: ' + json.dumps({'name': TLS_SOCKET, 'typed_config': {
        '@type': TLS_TYPES + context_type, 'common_tls_context': common_tls_context}})




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


def absolute(path):
    return str(pathlib.Path(path).resolve())


def quoted_path(path):
    """An absolute path as a JSON string, which YAML reads as a quoted string: a path with ': ' stays one value."""
    return json.dumps(absolute(path))


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


def render_config(descriptor, listen, admin, products, orders, tls=GatewayTls(), admin_files=ADMIN_CONSOLE, *,
                  writes_per_second=WRITES_PER_SECOND, write_burst=WRITE_BURST, public_admin=False, otlp_address=None,
                  cors_origins=(), api_docs=API_DOCS, api=None):
    """Envoy's YAML for these host:port addresses and this descriptor set (made absolute); `products` and
    `orders` may each name several replicas, which Envoy balances across and health-checks. `tls` (GatewayTls)
    turns on TLS on the listener and towards the services; ValueError for flags that do not go together.
    `admin_files` is where Envoy finds the admin console's files: this checkout's, or their path in a container
    image. The OpenAPI document it serves is the one beside the descriptor set. With `otlp_address` (host:port of an
    OTLP/gRPC collector), Envoy traces every request (tracing()). Browser pages of the `cors_origins`
    (scheme://host[:port] each) may call the API; those of other origins may not (checked_origins()). The API
    reference at /api/docs/ is answered from `api_docs` (a folder; None, or one where make has not installed Swagger
    UI, for a 404 saying so). The routes and request checks are those of `api` (a scripts.exposure.Api), by default
    the descriptor set's: give it where `descriptor` is a path on another machine (a container image's).

    The admin interface can stop Envoy and change its settings, and asks for no password: ValueError for an
    `admin` address other machines can reach, unless `public_admin`."""
    admin_host, _ = split_address(admin)
    if not public_admin and not is_loopback(admin_host):
        raise ValueError(f'the admin interface must listen on a loopback address (127.0.0.1, ::1, localhost), '
                         f'not {admin_host!r}: anyone who reaches it can stop Envoy (--public-admin to allow it)')
    origins = checked_origins(cors_origins)
    # Strings go in as JSON strings, which YAML reads as quoted strings: '::1' stays one value.
    values = {'descriptor': quoted_path(descriptor),
              'max_request_bytes': MAX_MESSAGE_BYTES,
              'writes_per_second': positive('writes per second', writes_per_second),
              'write_burst': positive('write burst', write_burst),
              'request_timeout_seconds': REQUEST_TIMEOUT_SECONDS, 'import_timeout_seconds': IMPORT_TIMEOUT_SECONDS,
              'request_headers_timeout_seconds': REQUEST_HEADERS_TIMEOUT_SECONDS,
              'idle_connection_seconds': IDLE_CONNECTION_SECONDS, 'max_connections': GATEWAY_MAX_CONNECTIONS,
              'max_header_kb': MAX_HEADER_BYTES // 1024,
              'products_endpoints': endpoints(products), 'orders_endpoints': endpoints(orders),
              'listener_tls': tls.listener_socket(), 'upstream_tls': tls.upstream_socket(),
              **dict(zip(('tracing', 'otlp_collector'), tracing(otlp_address), strict=True)),
              'cors_origins': json.dumps([{'exact': origin} for origin in origins]),
              'openapi_document': quoted_path(pathlib.Path(descriptor).with_name(OPENAPI_DOCUMENT)),
              **{'admin_' + file.name.replace('.', '_'): quoted_path(pathlib.Path(admin_files) / file.name)
                 for file in ADMIN_CONSOLE.iterdir()}}
    for name, address in (('listen', listen), ('admin', admin)):
        host, values[f'{name}_port'] = split_address(address)
        values[f'{name}_host'] = json.dumps(host)
    api = api or read_api(descriptor)
    values['transcoded_services'] = json.dumps(api.public_services())
    values.update(gateway_grpc(api))
    blocks = {'rpc_routes': '\n'.join('- ' + json.dumps(route) for route in rpc_routes(api, values)),
              'api_docs_routes': '\n'.join('- ' + json.dumps(route)
                                            for route in api_docs_routes(api_docs and installed_api_docs(api_docs))),
              'request_checks': request_checks(api, origins),
              'request_checks_and_rest_answers': request_checks(api, origins, rest_answers=True)}
    template = OPTIONAL_LINE.sub(lambda line: line[0] if values[line[1]] else '', TEMPLATE.read_text())
    # The blocks go in after the substitution: `$` in them (Lua's patterns) is not a placeholder.
    config = string.Template(template).substitute(values, **{name: f'${name}' for name in blocks})
    return BLOCK_LINE.sub(lambda line: textwrap.indent(blocks[line[2]], line[1]) + '\n', config)


def command_line(environ):
    """The command's flags; the addresses default to their variables in `environ`, as the services' flags do, so that
    one set of variables moves a service and Envoy's way to it (`make run`)."""
    parser = CommandLine(prog='python -m scripts.gateway', description=__doc__)
    parser.add_argument('--descriptor', required=True, help='descriptor set built with --include_imports')
    parser.add_argument('--out', required=True, type=pathlib.Path, help='where to write the configuration')
    parser.add_argument('--listen', default=environ.get('GATEWAY_ADDRESS', GATEWAY_ADDRESS),
                        help='REST and gRPC listener (env GATEWAY_ADDRESS, default %(default)s)')
    parser.add_argument('--admin', default=environ.get('GATEWAY_ADMIN_ADDRESS', GATEWAY_ADMIN_ADDRESS),
                        help='admin interface, on a loopback address (env GATEWAY_ADMIN_ADDRESS, default %(default)s)')
    parser.add_argument('--public-admin', action='store_true',
                        help='allow an --admin address that other machines can reach (it has no password)')
    parser.add_argument('--writes-per-second', type=int, default=WRITES_PER_SECOND,
                        help='writes each client address may send per second, on average (default %(default)s)')
    parser.add_argument('--write-burst', type=int, default=WRITE_BURST,
                        help='writes each client address may send at once (default %(default)s)')
    parser.add_argument('--products', default=environ.get('PRODUCTS_ADDRESS', PRODUCTS_ADDRESS),
                        help='Products service, or its replicas separated by commas '
                             '(env PRODUCTS_ADDRESS, default %(default)s)')
    parser.add_argument('--orders', default=environ.get('ORDERS_ADDRESS', ORDERS_ADDRESS),
                        help='Orders service, or its replicas separated by commas '
                             '(env ORDERS_ADDRESS, default %(default)s)')
    parser.add_argument('--tls-cert', help="serve TLS to clients with this certificate (PEM, its chain after it)")
    parser.add_argument('--tls-key', help="the listener certificate's private key (PEM)")
    parser.add_argument('--upstream-tls-ca', help="call the services over TLS, verifying their certificates with "
                                                  "this CA (PEM)")
    parser.add_argument('--upstream-tls-cert', help="Envoy's client certificate (PEM) for services that require "
                                                    "one (mutual TLS)")
    parser.add_argument('--upstream-tls-key', help="that client certificate's private key (PEM)")
    parser.add_argument('--admin-files', default=ADMIN_CONSOLE, type=pathlib.Path,
                        help="where Envoy reads the admin console's files, e.g. their path in a container image "
                             '(default %(default)s)')
    parser.add_argument('--cors-origins', default=environ.get('GATEWAY_CORS_ORIGINS', ''),
                        type=lambda text: [origin for origin in text.split(',') if origin.strip()],
                        help='origins whose browser pages may call the API, separated by commas, such as '
                             'http://localhost:3000 (env GATEWAY_CORS_ORIGINS; default: none)')
    parser.add_argument('--otlp-address', default=environ.get('GATEWAY_OTLP_ADDRESS'),
                        help='trace every request and export the spans over OTLP/gRPC to the collector at this '
                             'host:port (env GATEWAY_OTLP_ADDRESS; default: no tracing)')
    return parser


def write_configuration(parser, args):
    """Render the configuration for `args`, the flags `parser` (command_line) parsed, into args.out; flags that do
    not go together end the command as a bad command line does (parser.error)."""
    tls = GatewayTls(args.tls_cert, args.tls_key, args.upstream_tls_ca, args.upstream_tls_cert, args.upstream_tls_key)
    try:
        config = render_config(args.descriptor, args.listen, args.admin, args.products, args.orders, tls,
                               args.admin_files, writes_per_second=args.writes_per_second,
                               write_burst=args.write_burst, public_admin=args.public_admin,
                               otlp_address=args.otlp_address, cors_origins=args.cors_origins)
    except ValueError as error:
        parser.error(str(error))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(config)


def main(argv=None):
    parser = command_line(os.environ)
    write_configuration(parser, parser.parse_args(argv))


if __name__ == '__main__':
    main()
