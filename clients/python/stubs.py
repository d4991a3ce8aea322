"""Generates the client's stubs (messages and gRPC stubs, each with its .pyi types) from the protos; make runs it
into the checkout, the wheel's build hook into a folder of its own."""
import argparse
import importlib.resources
import os
import pathlib
import shutil
import sys

from google.api import annotations_pb2
from grpc_tools import protoc

CLIENT = pathlib.Path(__file__).resolve().parent
PROTOS = CLIENT.parent.parent / 'protos'
# What protoc writes for each .proto: the messages, their types (grpcio-tools' own), the gRPC stubs, their types
# (mypy-protobuf's plugin: grpcio-tools writes none for stubs; sync and asyncio channels alike).
OUTPUTS = ('_pb2.py', '_pb2.pyi', '_pb2_grpc.py', '_pb2_grpc.pyi')


def generate(out, protos=PROTOS):
    """Writes ecommerce/<service>/v1/*_pb2.py, *_pb2_grpc.py and their .pyi files for every .proto under `protos` into
    `out`; returns the files written, relative to `out`."""
    out = pathlib.Path(out)
    sources = sorted(path.relative_to(protos).as_posix() for path in protos.rglob('*.proto'))
    # google/protobuf's well-known types come with grpc_tools, google/api's annotations with googleapis-common-protos.
    includes = [protos, importlib.resources.files('grpc_tools') / '_proto',
                pathlib.Path(annotations_pb2.__file__).parents[2]]
    # The plugin is a console script beside this Python (a virtual environment, pip's build environment) or on PATH.
    plugin = shutil.which('protoc-gen-mypy_grpc', path=os.pathsep.join([str(pathlib.Path(sys.executable).parent),
                                                                          os.environ.get('PATH', '')]))
    if not plugin:
        raise RuntimeError('protoc-gen-mypy_grpc not found: pip install mypy-protobuf')
    out.mkdir(parents=True, exist_ok=True)
    status = protoc.main(['protoc', *(f'-I{include}' for include in includes), f'--python_out={out}',
                          f'--pyi_out={out}', f'--grpc_python_out={out}', f'--plugin=protoc-gen-mypy_grpc={plugin}',
                          f'--mypy_grpc_out={out}', *sources])
    if status:
        raise RuntimeError(f'protoc failed ({status}) on {", ".join(sources)}')
    return [pathlib.Path(source.removesuffix('.proto') + suffix) for source in sources for suffix in OUTPUTS]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default=CLIENT / 'src', help='where the ecommerce/ folders go (default %(default)s)')
    generate(parser.parse_args().out)


if __name__ == '__main__':
    main()
