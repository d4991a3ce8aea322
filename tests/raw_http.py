"""Requests that ordinary clients refuse to send: raw HTTP/1.1 over a socket, and native gRPC calls over HTTP/2 with
any metadata (nghttp, which prints every header and trailer it receives)."""
import http.client
import json
import re
import socket
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from urllib.parse import unquote

from scripts.debian import ensure_command
from services.settings import split_address
from tests.e2e.clients import Reply


def http1_request(method, path, headers=(), body=b''):
    """The bytes of an HTTP/1.1 request, header names and values sent exactly as given (`x^y` included); the
    connection is closed after the answer."""
    lines = [f'{method} {path} HTTP/1.1', 'host: gateway', *(f'{name}: {value}' for name, value in headers),
             f'content-length: {len(body)}', 'connection: close']
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + body


def http1_exchange(address, request, timeout=5, source=None):
    """Send `request` (bytes) on a fresh connection, from `source` (an address of 127.0.0.0/8) if given, and return
    the answer as a Reply (the JSON body parsed when it is JSON)."""
    with socket.create_connection(split_address(address), timeout=timeout,
                                  source_address=(source, 0) if source else None) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        text = response.read().decode(errors='replace')
        headers = {name.lower(): value for name, value in response.getheaders()}
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    return Reply(response.status, headers, text, body)


@dataclass
class GrpcAnswer:
    """How a native gRPC call over HTTP/2 ended: the HTTP status, grpc-status and grpc-message from the trailers (or
    the headers of a trailers-only answer), each None or '' when absent, and the error code of a RST_STREAM the
    server sent, if any."""
    http_status: int | None
    grpc_status: int | None
    grpc_message: str
    reset: str | None


def grpc_frame(message):
    """A gRPC message on the wire: uncompressed flag, big-endian length, the protobuf."""
    payload = message.SerializeToString()
    return b'\x00' + struct.pack('>I', len(payload)) + payload


def grpc_call(address, method, message, metadata=(), timeout=10):
    """A unary native gRPC call (POST /package.Service/Method over cleartext HTTP/2) with `metadata` ((name, value)
    pairs) sent as given, through nghttp (Debian's nghttp2-client, as h2load). Not curl: a gateway that refuses a
    call on its headers answers before the request's body has come, and resets the stream after its answer, as
    HTTP/2 allows; curl 7.88 then failed about half such calls (exit 92) without showing the answer."""
    with tempfile.NamedTemporaryFile(suffix='.grpc') as body:
        body.write(grpc_frame(message))
        body.flush()
        command = [ensure_command('nghttp', 'nghttp2-client'), '--verbose', '--null-out', f'--timeout={timeout}',
                   '--header', 'content-type: application/grpc', '--header', 'te: trailers',
                   *(argument for name, value in metadata for argument in ('--header', f'{name}: {value}')),
                   f'--data={body.name}', f'http://{address}/{method}']
        done = subprocess.run(command, capture_output=True, text=True, errors='replace', timeout=timeout + 5)
    return parse_nghttp_frames(done.stdout)


def parse_nghttp_frames(trace):
    """The answer in nghttp --verbose output: each received header and trailer is a line
    `[  0.001] recv (stream_id=13) name: value`; a reset is `recv RST_STREAM frame` and its (error_code=NAME)."""
    fields = dict(re.findall(r'recv \(stream_id=\d+\) (:?[^:\s]+): ?(.*)', trace))
    reset = re.search(r'recv RST_STREAM frame.*\n\s*\(error_code=(\w+)', trace)
    status, grpc_status = fields.get(':status'), fields.get('grpc-status')
    # grpc-message is percent-encoded on the wire (the gRPC HTTP/2 protocol).
    return GrpcAnswer(int(status) if status else None, int(grpc_status) if grpc_status else None,
                      unquote(fields.get('grpc-message', '')), reset[1] if reset else None)


def read_until_closed(sock, wait=True):
    """What the peer sent until it closed the connection (an EOF or a reset), or None while it is still open: waiting
    up to the socket's timeout (TimeoutError past it) or, with wait=False, reading only what has arrived (the socket
    then non-blocking)."""
    received = b''
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        except BlockingIOError:
            if wait:
                raise
            return None
        if not chunk:
            return received
        received += chunk
