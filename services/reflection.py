"""Server reflection: on a service's own port, about that server's services; through the gateway, about the
gateway's, every public service of the API (both servers'), and never an internal one."""
import importlib
import pathlib

import grpc
from google.api import visibility_pb2
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

# The metadata Envoy puts on the reflection calls it passes on, replacing any the client sent (envoy/envoy.yaml,
# rendered by scripts.gateway): such a call asks about the gateway, which serves the public services of both servers,
# not about this server alone. A client of this port that sends it learns no more than the gateway tells anyone.
GATEWAY_REFLECTION = ('x-ecommerce-reflection', 'gateway')


def api_files():
    """The FileDescriptors of every generated module of our API (ecommerce/<package>/v<n>/*_pb2.py), imported, so
    that the default descriptor pool can describe all of them: the gateway's reflection needs both servers'."""
    import ecommerce  # the generated package (make), found on the path rather than listed here
    modules = sorted({'.'.join(('ecommerce', *path.relative_to(folder).with_suffix('').parts))
                      for folder in map(pathlib.Path, ecommerce.__path__) for path in folder.rglob('*_pb2.py')})
    return [importlib.import_module(module).DESCRIPTOR for module in modules]


def is_internal(options):
    """Whether a service's options (ServiceOptions: a ServiceDescriptor's GetOptions(), or a descriptor set's
    ServiceDescriptorProto.options) say `option (google.api.api_visibility).restriction = "INTERNAL"`: a service
    that our other services call, never through the gateway."""
    labels = options.Extensions[visibility_pb2.api_visibility].restriction
    return 'INTERNAL' in {label.strip() for label in labels.split(',')}


def public_services(files):
    """The services of `files` (FileDescriptors) that the gateway serves, every one not internal, by full name."""
    return sorted((service for file in files for service in file.services_by_name.values()
                   if not is_internal(service.GetOptions())), key=lambda service: service.full_name)


def needed_files(services):
    """The names of the files that describe `services` (ServiceDescriptors): theirs and every file they import."""
    needed, pending = set(), [service.file for service in services]
    while pending:
        file = pending.pop()
        if file.name not in needed:
            needed.add(file.name)
            pending.extend(file.dependencies)
    return needed


class ReflectionServicer(reflection_pb2_grpc.ServerReflectionServicer):
    """Server reflection about this server's own services (`own_services`, full names), or, for a call that Envoy
    marks as coming through the gateway (GATEWAY_REFLECTION), about the gateway's: every public service of `files`
    (api_files()), health and reflection, with every file they need, and not the files that only internal services
    need (a lookup there is NOT_FOUND, as for a name that does not exist)."""

    def __init__(self, own_services, files):
        public = public_services(files)
        self._own = reflection.aio.ReflectionServicer(own_services)
        self._gateway = reflection.aio.ReflectionServicer(
            [*(service.full_name for service in public), health.SERVICE_NAME, reflection.SERVICE_NAME])
        self._hidden = {file.name for file in files} - needed_files(public)

    async def ServerReflectionInfo(self, requests, context):
        through_gateway = GATEWAY_REFLECTION in (context.invocation_metadata() or ())
        answering = self._gateway if through_gateway else self._own
        async for response in answering.ServerReflectionInfo(requests, context):
            yield _not_found(response) if through_gateway and self._describes_hidden(response) else response

    def _describes_hidden(self, response):
        # A file's answer carries the file and all it imports; no needed file imports a hidden one.
        return any(descriptor_pb2.FileDescriptorProto.FromString(file).name in self._hidden
                   for file in response.file_descriptor_response.file_descriptor_proto)


def _not_found(response):
    return reflection_pb2.ServerReflectionResponse(original_request=response.original_request, error_response=(
        reflection_pb2.ErrorResponse(error_code=grpc.StatusCode.NOT_FOUND.value[0], error_message='not found')))
