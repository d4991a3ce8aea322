"""Each RPC's exposure, read from the descriptor set: whether its service is public or internal, how the gateway
routes it (its route class, from its name and kind), and its REST bindings. The gateway's renderer builds Envoy's
routes and request checks from this, and a test checks it against the REST verbs, the access table and the rate
limit; a new RPC needs no edit here."""
import re
from dataclasses import dataclass

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from services.reflection import is_internal

# Route classes (envoy/route_classes.yaml holds what each means to Envoy), after AIP-131/132/136 standard verbs.
READ, WATCH, IMPORT, WRITE = 'read', 'watch', 'import', 'write'
READ_PREFIXES = ('Get', 'List', 'Search')
WATCH_PREFIX = 'Watch'
# How a REST call succeeds, in HTTP's own terms (AIP-133, AIP-135): a standard Create by POST answers 201 Created with
# a Location naming the new resource (the path it was posted to, then its id); a standard Delete by DELETE answers 204
# No Content; anything else 200 OK with the response message. Native gRPC is unaffected.
OK, CREATED, NO_CONTENT = 200, 201, 204


@dataclass(frozen=True)
class Binding:
    """One REST form of an RPC: the HTTP verb, the path template and the body field ('*', a field, or '')."""
    verb: str
    template: str
    body: str

    def success(self, rpc_name):
        """The HTTP status a successful REST call of `rpc_name` through this binding answers."""
        if rpc_name.startswith('Create') and self.verb == 'post':
            return CREATED
        if rpc_name.startswith('Delete') and self.verb == 'delete':
            return NO_CONTENT
        return OK

    @property
    def location_prefix(self):
        """What a 201's Location starts with, the new resource's id after it: the collection the POST went to."""
        return self.template.rstrip('/') + '/'

    @property
    def variables(self):
        """The request fields the path binds, as dotted paths (`product.id`)."""
        return tuple(variable.split('=')[0] for variable in re.findall(r'{([^}]+)}', self.template))


@dataclass(frozen=True)
class Rpc:
    """One method of a service in the descriptor set."""
    service: str  # full name: ecommerce.products.v1.ProductService
    name: str
    client_streaming: bool
    server_streaming: bool
    internal: bool
    bindings: tuple
    input_type: str  # full name of the request message, without the leading dot

    @property
    def path(self):
        """The gRPC path Envoy routes on, for native gRPC and (after the transcoder) REST alike."""
        return f'/{self.service}/{self.name}'

    @property
    def cluster(self):
        """The gateway cluster of the service's process: the package's second part (ecommerce.<cluster>.v1)."""
        return self.service.split('.')[1]

    @property
    def rest_answer(self):
        """How the gateway answers a successful REST call (envoy/rest_answers.lua): {'status': '201', 'location':
        '/api/products/'}, {'status': '204'}, or None for 200 as the transcoder answers."""
        for binding in self.bindings:
            status = binding.success(self.name)
            if status == CREATED:
                return {'status': str(status), 'location': binding.location_prefix}
            if status == NO_CONTENT:
                return {'status': str(status)}
        return None

    @property
    def route_class(self):
        """read, watch, import or write, from the method's name and kind: a client stream is an import, a server
        stream a watch, a unary Get/List/Search a read, anything else a write (limited, never retried)."""
        if self.client_streaming:
            return IMPORT
        if self.server_streaming:
            return WATCH
        return READ if self.name.startswith(READ_PREFIXES) else WRITE


class Api:
    """The services, methods and request messages of a descriptor set (a FileDescriptorSet)."""

    def __init__(self, descriptor_set):
        self.messages = {}
        self.rpcs = []
        for file in descriptor_set.file:
            self._collect_messages(file.package, file.message_type)
            for service in file.service:
                self.rpcs += [rpc(f'{file.package}.{service.name}', service, method) for method in service.method]

    def _collect_messages(self, prefix, messages):
        for message in messages:
            self.messages[f'{prefix}.{message.name}'] = message
            self._collect_messages(f'{prefix}.{message.name}', message.nested_type)

    def ours(self, package_prefix='ecommerce.'):
        """Our RPCs: the descriptor set also holds the well-known and Google types it imports."""
        return [rpc for rpc in self.rpcs if rpc.service.startswith(package_prefix)]

    def public(self):
        return [rpc for rpc in self.ours() if not rpc.internal]

    def public_services(self):
        return sorted({rpc.service for rpc in self.public()})

    def field(self, message_name, dotted):
        """The FieldDescriptorProtos a dotted path (`product.id`) names, from `message_name` down."""
        fields = []
        for name in dotted.split('.'):
            field = next(field for field in self.messages[message_name].field if field.name == name)
            fields.append(field)
            message_name = field.type_name.lstrip('.')
        return fields

    def query_names(self, rpc, dotted):
        """Every spelling of a dotted field path in a query string that the transcoder reads as that field: each
        part by its proto name or its JSON name (`order_id`, `orderId`)."""
        spellings = ['']
        for field in self.field(rpc.input_type, dotted):
            parts = {field.name, field.json_name or field.name}
            spellings = [f'{prefix}.{part}' if prefix else part for prefix in spellings for part in sorted(parts)]
        return spellings


def rpc(service_name, service, method):
    rule = method.options.Extensions[annotations_pb2.http]
    bindings = tuple(Binding(http.WhichOneof('pattern'), getattr(http, http.WhichOneof('pattern')), http.body)
                     for http in (rule, *rule.additional_bindings) if http.WhichOneof('pattern'))
    return Rpc(service_name, method.name, method.client_streaming, method.server_streaming,
               is_internal(service.options), bindings, method.input_type.lstrip('.'))


def read_api(path):
    with open(path, 'rb') as descriptor:
        return Api(descriptor_pb2.FileDescriptorSet.FromString(descriptor.read()))
