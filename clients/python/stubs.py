"""Generates the client's stubs (messages, their .pyi types, gRPC stubs) from the protos; make runs it into the
checkout, the wheel's build hook into a folder of its own."""
import argparse
import importlib.resources
import pathlib

from google.api import annotations_pb2
from grpc_tools import protoc

CLIENT = pathlib.Path(__file__).resolve().parent
PROTOS = CLIENT.parent.parent / 'protos'
# What protoc writes for each .proto: the messages, their types, the gRPC stubs.
OUTPUTS = ('_pb2.py', '_pb2.pyi', '_pb2_grpc.py')


def generate(out, protos=PROTOS):
    """Writes ecommerce/<service>/v1/*_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every .proto under `protos` into
    `out`; returns the files written, relative to `out`."""
    out = pathlib.Path(out)
    sources = sorted(path.relative_to(protos).as_posix() for path in protos.rglob('*.proto'))
    # google/protobuf's well-known types come with grpc_tools, google/api's annotations with googleapis-common-protos.
    includes = [protos, importlib.resources.files('grpc_tools') / '_proto',
                pathlib.Path(annotations_pb2.__file__).parents[2]]
    out.mkdir(parents=True, exist_ok=True)
    status = protoc.main(['protoc', *(f'-I{include}' for include in includes), f'--python_out={out}',
                          f'--pyi_out={out}', f'--grpc_python_out={out}', *sources])
    if status:
        raise RuntimeError(f'protoc failed ({status}) on {", ".join(sources)}')
    return [pathlib.Path(source.removesuffix('.proto') + suffix) for source in sources for suffix in OUTPUTS]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default=CLIENT / 'src', help='where the ecommerce/ folders go (default %(default)s)')
    generate(parser.parse_args().out)


if __name__ == '__main__':
    main()
