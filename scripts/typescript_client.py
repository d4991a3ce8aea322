"""Generates the TypeScript client (clients/typescript/gen): protoc-gen-es, from npm, writes each message and service
of our protos, and of the Google files they import, as JavaScript with its .d.ts types; connect-web calls the services
over Connect or gRPC-Web. `make` runs it when npm is installed."""
import shutil

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from bench.processes import DESCRIPTOR, ROOT
from services.settings import CommandLine

CLIENT = ROOT / 'clients' / 'typescript'
PLUGIN = CLIENT / 'node_modules' / '.bin' / 'protoc-gen-es'
# The well-known types come with @bufbuild/protobuf itself (its wkt module).
BUNDLED = 'google/protobuf/'


def sources(descriptor_set):
    """Every file of the descriptor set but the well-known types: ours and the Google ones they import (google.api's
    annotations, google.rpc's status and error details, which a page reads a refusal's field violations with)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    return [file.name for file in files if not file.name.startswith(BUNDLED)]


def generate(out=CLIENT / 'gen', descriptor_set=DESCRIPTOR):
    if not PLUGIN.exists():
        raise SystemExit(f'{PLUGIN} is missing: npm ci --prefix {CLIENT.relative_to(ROOT)} installs it')
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    # protoc reads the files from the descriptor set itself, so no include path is needed.
    status = protoc.main(['protoc', f'--descriptor_set_in={descriptor_set}', f'--plugin=protoc-gen-es={PLUGIN}',
                          f'--es_out={out}', '--es_opt=target=js+dts,import_extension=js', *sources(descriptor_set)])
    if status:
        raise SystemExit(f'protoc-gen-es failed ({status})')


def main(argv=None):
    CommandLine(prog='python -m scripts.typescript_client', description=__doc__).parse_args(argv)
    generate()


if __name__ == '__main__':
    main()
