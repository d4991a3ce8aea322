"""Writes the OpenAPI document of the REST API from the descriptor set: every google.api.http rule becomes an
operation, every message a schema in the proto3 JSON mapping that Envoy's transcoder prints, every comment a
description. Nothing here restates the protos; what it adds is how Envoy's transcoder maps them to HTTP."""
import json
import pathlib
import re
import textwrap
import tomllib

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from scripts.exposure import CREATED, NO_CONTENT, Binding
from services import auth
from services.settings import CommandLine

FieldType = descriptor_pb2.FieldDescriptorProto
# Field paths in a FileDescriptorProto (descriptor.proto's field numbers), for the comments in source_code_info.
MESSAGES, ENUMS, SERVICES = 4, 5, 6
NESTED_MESSAGES, NESTED_ENUMS, FIELDS, ENUM_VALUES, METHODS = 3, 4, 2, 2, 2
# How Envoy's transcoder answers each gRPC status over HTTP (its grpc status to HTTP mapping).
# The project's licence, as pyproject.toml states it (an SPDX identifier).
PYPROJECT = pathlib.Path(__file__).resolve().parent.parent / 'pyproject.toml'
LICENSE = tomllib.loads(PYPROJECT.read_text())['project']['license']
HTTP_STATUS = {'INVALID_ARGUMENT': 400, 'FAILED_PRECONDITION': 400, 'OUT_OF_RANGE': 400, 'UNAUTHENTICATED': 401,
               'PERMISSION_DENIED': 403, 'NOT_FOUND': 404, 'ALREADY_EXISTS': 409, 'ABORTED': 409,
               'RESOURCE_EXHAUSTED': 429, 'UNIMPLEMENTED': 501, 'UNAVAILABLE': 503,
               'DEADLINE_EXCEEDED': 504, 'INTERNAL': 500, 'UNKNOWN': 500, 'DATA_LOSS': 500}
GRPC_CODE = re.compile(r'\b(' + '|'.join(HTTP_STATUS) + r')\b')
# What Envoy itself answers, whatever the RPC's comment says: a query parameter, path value or body it cannot
# read (400); a service it cannot reach or that does not answer in time (503, 504); for a body, one over the
# size limit (413); for a write, the per-client write limit (429, envoy.yaml); for a path with a variable, a value
# that makes it match no route (404).
GATEWAY_ERRORS = {
    400: 'a query parameter, path value or body that the gateway cannot read as the request message',
    503: 'the service is down or unreachable',
    504: 'no answer within the gateway\'s timeout',
}
BODY_TOO_LARGE = 'the body is over the gateway\'s size limit'
WRITE_LIMITED = 'too many writes from this client address; try again after the retry-after header\'s seconds'
NO_SUCH_PATH = 'a path value that matches no route (a "/" in it, say)'
STATUS = '#/components/schemas/google.rpc.Status'
# Where the services check tokens (README "Security"): who may call each RPC is services/auth.py's ACCESS.
BEARER = {'bearer': []}
SECURITY_SCHEMES = {'bearer': {
    'type': 'http', 'scheme': 'bearer', 'bearerFormat': 'JWT',
    'description': 'A JWT in the Authorization header, where the services check tokens (not under `make run`): '
                   'aud, exp, roles (admin, customer) and a customer\'s email. An operation whose security lists '
                   '{} may be called without one.'}}
NO_VALID_TOKEN = 'UNAUTHENTICATED: no bearer token where the call needs one, or one that is not valid'
NOT_ALLOWED = "PERMISSION_DENIED: the token's role may not make this call, or a customer named another's email"
INT64 = {FieldType.TYPE_INT64, FieldType.TYPE_SINT64, FieldType.TYPE_SFIXED64}
UINT64 = {FieldType.TYPE_UINT64, FieldType.TYPE_FIXED64}
INT32 = {FieldType.TYPE_INT32, FieldType.TYPE_SINT32, FieldType.TYPE_SFIXED32}
UINT32 = {FieldType.TYPE_UINT32, FieldType.TYPE_FIXED32}
# The well-known types proto3's JSON mapping prints as something other than an object of their fields.
WELL_KNOWN = {
    '.google.protobuf.Timestamp': {'type': 'string', 'format': 'date-time'},
    '.google.protobuf.Duration': {'type': 'string', 'pattern': r'^-?[0-9]+(\.[0-9]+)?s$'},
    '.google.protobuf.FieldMask': {'type': 'string', 'description': 'Field paths separated by commas'},
    '.google.protobuf.Empty': {'type': 'object'},
    '.google.protobuf.Any': {'type': 'object', 'properties': {'@type': {'type': 'string'}}, 'required': ['@type'],
                             'description': 'A message of the type its @type names, its fields beside @type'},
    '.google.protobuf.Struct': {'type': 'object'},
    '.google.protobuf.Value': {},
}
# Requests accept an absent optional field; responses (always_print_primitive_fields) print every field that has
# no presence. The two directions get schemas of their own when they differ.
REQUEST, RESPONSE = 'request', 'response'


class Descriptors:
    """The messages, enums, services and comments of a descriptor set, by full name."""

    def __init__(self, descriptor_set):
        self.messages, self.enums, self.services, self.comments = {}, {}, [], {}
        for file in descriptor_set.file:
            prefix = f'.{file.package}' if file.package else ''
            self._collect(prefix, file.message_type, file.enum_type, (file.name,))
            for index, service in enumerate(file.service):
                self.services.append((f'{prefix}.{service.name}', service, (file.name, SERVICES, index)))
            for location in file.source_code_info.location:
                if location.leading_comments:
                    self.comments[(file.name, *location.path)] = location.leading_comments

    def _collect(self, prefix, messages, enums, path):
        message_path = (MESSAGES,) if len(path) == 1 else (NESTED_MESSAGES,)
        enum_path = (ENUMS,) if len(path) == 1 else (NESTED_ENUMS,)
        for index, enum in enumerate(enums):
            self.enums[f'{prefix}.{enum.name}'] = (enum, (*path, *enum_path, index))
        for index, message in enumerate(messages):
            name, message_location = f'{prefix}.{message.name}', (*path, *message_path, index)
            self.messages[name] = (message, message_location)
            self._collect(name, message.nested_type, message.enum_type, message_location)

    def comment(self, path):
        """The leading comment at a location, as plain text, or None."""
        text = self.comments.get(tuple(path))
        return textwrap.dedent(text).strip() if text else None


def component_name(full_name, direction=RESPONSE):
    """`ecommerce.products.v1.Product`: the message's full name, and `...ProductInput` for its request form."""
    return full_name.lstrip('.') + ('Input' if direction == REQUEST else '')


def is_repeated(field):
    return field.label == FieldType.LABEL_REPEATED


def has_presence(field):
    """Whether proto3 JSON leaves the field out when it is unset (a message, `optional`, a oneof member); a
    repeated field is printed empty."""
    return not is_repeated(field) and (field.type == FieldType.TYPE_MESSAGE or field.HasField('oneof_index'))


class OpenApiBuilder:
    """Builds the document; `schemas` collects the components that the operations refer to."""

    def __init__(self, descriptors):
        self.descriptors = descriptors
        self.schemas = {}

    def described(self, schema, path):
        comment = self.descriptors.comment(path)
        return {**schema, 'description': comment} if comment else schema

    # --- schemas ---------------------------------------------------------------------------------------------

    def scalar_schema(self, field, direction):
        """The JSON a singular field takes: proto3's JSON mapping (64-bit integers as decimal strings)."""
        if field.type == FieldType.TYPE_MESSAGE:
            return self.message_ref(field.type_name, direction)
        if field.type == FieldType.TYPE_ENUM:
            return self.enum_ref(field.type_name, direction)
        if field.type in INT64:
            return {'type': 'string', 'format': 'int64', 'pattern': r'^-?[0-9]+$'}
        if field.type in UINT64:
            return {'type': 'string', 'format': 'uint64', 'pattern': r'^[0-9]+$'}
        if field.type in INT32:
            return {'type': 'integer', 'format': 'int32', 'minimum': -2 ** 31, 'maximum': 2 ** 31 - 1}
        if field.type in UINT32:
            return {'type': 'integer', 'minimum': 0, 'maximum': 2 ** 32 - 1}
        if field.type in (FieldType.TYPE_DOUBLE, FieldType.TYPE_FLOAT):
            return {'type': 'number'}
        if field.type == FieldType.TYPE_BOOL:
            return {'type': 'boolean'}
        if field.type == FieldType.TYPE_BYTES:
            return {'type': 'string', 'format': 'byte'}
        return {'type': 'string'}

    def field_schema(self, field, direction):
        map_entry = self.map_entry(field)
        if map_entry:
            return {'type': 'object', 'additionalProperties': self.scalar_schema(map_entry.field[1], direction)}
        schema = self.scalar_schema(field, direction)
        return {'type': 'array', 'items': schema} if is_repeated(field) else schema

    def map_entry(self, field):
        """The synthetic *Entry message of a map field, or None."""
        if field.type != FieldType.TYPE_MESSAGE or not is_repeated(field) or field.type_name in WELL_KNOWN:
            return None
        message, _ = self.descriptors.messages[field.type_name]
        return message if message.options.map_entry else None

    def enum_ref(self, type_name, direction):
        """Responses print an enum by its name; requests may also give its number, or the name in any case
        (case_insensitive_enum_parsing)."""
        name = component_name(type_name, direction)
        if name not in self.schemas:
            enum, path = self.descriptors.enums[type_name]
            names = {'type': 'string', 'enum': [value.name for value in enum.value]}
            if direction == REQUEST:
                any_case = '|'.join(''.join(f'[{c.upper()}{c.lower()}]' if c.isalpha() else c for c in value.name)
                                    for value in enum.value)
                names = {'anyOf': [names, {'type': 'string', 'pattern': f'^({any_case})$'},
                                   {'type': 'integer', 'enum': [value.number for value in enum.value]}]}
            self.schemas[name] = {**names, **self.enum_description(enum, path)}
        return {'$ref': f'#/components/schemas/{name}'}

    def enum_description(self, enum, path):
        """The enum's comment, then each commented value's: `- RESERVED: Taken for an order ...`."""
        lines = [self.descriptors.comment(path)]
        for index, value in enumerate(enum.value):
            comment = self.descriptors.comment((*path, ENUM_VALUES, index))
            if comment:
                lines.append(f'- {value.name}: ' + comment.replace('\n', ' '))
        text = '\n'.join(line for line in lines if line)
        return {'description': text} if text else {}

    def message_ref(self, type_name, direction):
        """A reference to the message's schema (built on first use), or the well-known type's JSON form inline."""
        if type_name in WELL_KNOWN:
            return dict(WELL_KNOWN[type_name])
        name = component_name(type_name, direction)
        if name not in self.schemas:
            self.schemas[name] = {}  # a message that holds itself refers to this entry while it is built
            self.schemas[name] = self.message_schema(type_name, direction)
        return {'$ref': f'#/components/schemas/{name}'}

    def message_schema(self, type_name, direction, leave_out=()):
        """The message as a JSON object keyed by proto field names (preserve_proto_field_names); in responses
        every field without presence is there (always_print_primitive_fields)."""
        message, path = self.descriptors.messages[type_name]
        properties, required = {}, []
        for index, field in enumerate(message.field):
            if field.name in leave_out:
                continue
            properties[field.name] = self.described(self.field_schema(field, direction), (*path, FIELDS, index))
            if direction == RESPONSE and not has_presence(field):
                required.append(field.name)
        schema = {'type': 'object', 'properties': properties}
        if required:
            schema['required'] = required
        return self.described(schema, path)

    # --- operations ------------------------------------------------------------------------------------------

    def field_path(self, type_name, dotted):
        """The fields that a dotted path (`product.id`) names, from the request message down."""
        fields = []
        for name in dotted.split('.'):
            message, _ = self.descriptors.messages[type_name]
            field = next(field for field in message.field if field.name == name)
            fields.append(field)
            type_name = field.type_name
        return fields

    def query_parameters(self, type_name, bound, prefix='', seen=()):
        """Every request field that neither the path nor the body takes, as Envoy reads it from the query string:
        nested fields by dotted names, repeated fields as the parameter repeated. A message that holds itself is
        listed once on each path (Envoy would read `parent.parent.parent...` without end)."""
        message, path = self.descriptors.messages[type_name]
        parameters, seen = [], (*seen, type_name)
        for index, field in enumerate(message.field):
            name = prefix + field.name
            if name in bound or self.map_entry(field):
                continue
            if field.type == FieldType.TYPE_MESSAGE and field.type_name not in WELL_KNOWN:
                if not is_repeated(field) and field.type_name not in seen:
                    parameters += self.query_parameters(field.type_name, bound, f'{name}.', seen)
                continue
            parameter = {'name': name, 'in': 'query', 'required': False,
                         'schema': self.field_schema(field, REQUEST)}
            if is_repeated(field):
                parameter.update(style='form', explode=True)
            parameters.append(self.described(parameter, (*path, FIELDS, index)))
        return parameters

    def operation(self, method, method_path, service_name, service_tag, binding, suffix):
        """One operation: a path template with a method, from one binding of the RPC's http rule."""
        access = auth.access_for(f'/{service_name.lstrip(".")}/{method.name}')
        verb = binding.WhichOneof('pattern')
        template = getattr(binding, verb)
        variables = [variable.split('=')[0] for variable in re.findall(r'{([^}]+)}', template)]
        path = re.sub(r'{([^}=]+)=[^}]*}', r'{\1}', template)
        request_type = method.input_type
        parameters = []
        for variable in variables:
            field = self.field_path(request_type, variable)[-1]
            parameters.append({'name': variable, 'in': 'path', 'required': True,
                               'schema': self.scalar_schema(field, REQUEST)})
        bound = set(variables) | ({binding.body} if binding.body not in ('', '*') else set())
        if binding.body != '*':
            parameters += self.query_parameters(request_type, bound)
        comment = self.descriptors.comment(method_path) or ''
        operation = {'operationId': method.name + suffix, 'tags': [service_tag],
                     'security': [{}, BEARER] if auth.ANONYMOUS in access.roles else [BEARER],
                     'summary': comment.split('. ')[0].split('\n\n')[0].replace('\n', ' ').rstrip('.'),
                     'description': comment, 'parameters': parameters}
        if binding.body:
            operation['requestBody'] = {'required': False, 'content': {'application/json': {
                'schema': self.body_schema(request_type, binding.body, variables)}}}
        rest = Binding(verb, template, binding.body)
        operation['responses'] = self.responses(method, comment, verb, bool(binding.body), bool(variables), access,
                                                rest.success(method.name), rest.location_prefix)
        return path, verb, operation

    def body_schema(self, request_type, body, variables):
        """`body: "*"`: the request message less what the path binds; `body: "field"`: that field's message."""
        if body == '*':
            return self.message_schema(request_type, REQUEST, leave_out=set(variables))
        return self.field_schema(self.field_path(request_type, body)[-1], REQUEST)

    def responses(self, method, comment, verb, has_body, has_path_variables, access, status, location_prefix):
        """The answer (`status`: 200, 201 with a Location starting with `location_prefix`, or 204), and the
        google.rpc.Status of each HTTP status the call can answer: the codes the RPC's comment names, those the gateway
        answers on its own, and the refusals of tokens (`access`, who may call)."""
        result = self.message_ref(method.output_type, RESPONSE)
        success = {'description': 'OK', 'content': {'application/json': {'schema': result}}}
        if status == CREATED:
            success['description'] = 'Created: the new resource, at the path its Location header names'
            success['headers'] = {'Location': {
                'description': f"The new resource's path: {location_prefix} and its id", 'required': True,
                'schema': {'type': 'string', 'format': 'uri-reference'}}}
        elif status == NO_CONTENT:
            success = {'description': 'No Content: done, with nothing to answer'}
        if method.server_streaming:
            # Envoy's transcoder labels the stream application/json (stream_newline_delimited, envoy.yaml); OpenAPI
            # 3.1 has no way to say "a sequence of these", so the schema is that of each line.
            success['description'] = ('A stream: one JSON object per line, each sent as it comes, as long as the '
                                      'call lasts. An error before the first line is answered with its HTTP '
                                      'status; a later one ends the stream.')
        errors = {status: [reason] for status, reason in GATEWAY_ERRORS.items()}
        for code in sorted(set(GRPC_CODE.findall(comment)), reverse=True):
            errors.setdefault(HTTP_STATUS[code], []).insert(0, f'{code} (see the description)')
        if has_body:
            errors.setdefault(413, []).append(BODY_TOO_LARGE)
        if verb != 'get':
            errors.setdefault(429, []).append(WRITE_LIMITED)
        if has_path_variables:
            errors.setdefault(404, []).append(NO_SUCH_PATH)
        errors.setdefault(401, []).append(NO_VALID_TOKEN)  # even a public call refuses a token that is not valid
        if access.roles != auth.EVERYONE.roles:
            errors.setdefault(403, []).append(NOT_ALLOWED)
        error = {'application/json': {'schema': {'$ref': STATUS}}}
        return {str(status): success, **{str(code): {'description': '; '.join(reasons), 'content': error}
                                         for code, reasons in sorted(errors.items())}}

    def document(self, title):
        paths, tags = {}, []
        for service_name, service, service_path in self.descriptors.services:
            mapped = [(index, method) for index, method in enumerate(service.method)
                      if method.options.HasExtension(annotations_pb2.http)]
            if not mapped:
                continue
            tags.append(self.described({'name': service.name}, service_path))
            for index, method in mapped:
                if method.client_streaming:
                    raise ValueError(f'{service_name}.{method.name}: a client stream has no REST form here')
                rule = method.options.Extensions[annotations_pb2.http]
                bindings = [rule, *rule.additional_bindings]
                for number, binding in enumerate(bindings):
                    suffix = '' if number == 0 else f'_{binding.WhichOneof("pattern")}'
                    path, verb, operation = self.operation(method, (*service_path, METHODS, index), service_name,
                                                           service.name, binding, suffix)
                    path = same_named(path, operation, paths)
                    paths.setdefault(path, {})[verb] = operation
        self.message_ref('.google.rpc.Status', RESPONSE)
        return {'openapi': '3.1.0',
                'info': {'title': title, 'version': api_version(self.descriptors),
                         'description': 'The REST form of the gRPC API, as Envoy\'s gRPC-JSON transcoder serves it: '
                                        'JSON with the proto field names, every field printed, 64-bit integers '
                                        'as strings, enums by name (any case accepted). Generated from the '
                                        'protos by scripts/openapi.py.',
                         'license': {'name': LICENSE, 'identifier': LICENSE}},
                # The gateway that serves the document: "try it" in the reference at /api/docs calls the same origin.
                'servers': [{'url': '/', 'description': 'the gateway serving this document'}],
                'tags': tags, 'paths': dict(sorted(paths.items())),
                'components': {'schemas': dict(sorted(self.schemas.items())), 'securitySchemes': SECURITY_SCHEMES}}


def same_named(path, operation, paths):
    """The path, its variables renamed as in a path of the same shape already listed (OpenAPI allows one template
    per shape: `/api/products/{id}` for GetProduct, not `{product.id}` beside it for UpdateProduct); each renamed
    parameter's description names the request field it fills."""
    shape = re.sub(r'{[^}]+}', '{}', path)
    listed = next((other for other in paths if re.sub(r'{[^}]+}', '{}', other) == shape), path)
    renames = dict(zip(re.findall(r'{([^}]+)}', path), re.findall(r'{([^}]+)}', listed), strict=True))
    for parameter in operation['parameters']:
        if parameter['in'] == 'path' and renames[parameter['name']] != parameter['name']:
            parameter['description'] = f'The request\'s `{parameter["name"]}`.'
            parameter['name'] = renames[parameter['name']]
    return listed


def api_version(descriptors):
    """The services' package version (`v1`), from their full names."""
    versions = sorted({name.split('.')[-2] for name, _, _ in descriptors.services if '.' in name.strip('.')})
    return ', '.join(versions)


def build_document(descriptor_set, title='ecommerce-grpc REST API'):
    """The OpenAPI document (a dict) of every RPC in the descriptor set that has a google.api.http rule."""
    return OpenApiBuilder(Descriptors(descriptor_set)).document(title)


def read_descriptor_set(path):
    return descriptor_pb2.FileDescriptorSet.FromString(pathlib.Path(path).read_bytes())


def main(argv=None):
    parser = CommandLine(prog='python -m scripts.openapi', description=__doc__)
    parser.add_argument('--descriptor', required=True, help='descriptor set built with --include_imports and '
                                                            '--include_source_info')
    parser.add_argument('--out', required=True, type=pathlib.Path, help='where to write the document')
    args = parser.parse_args(argv)
    document = build_document(read_descriptor_set(args.descriptor))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + '\n')


if __name__ == '__main__':
    main()
