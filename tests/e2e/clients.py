"""What the end-to-end tests talk through: plain HTTP/1.1 for REST (http.client) and the real grpcurl binary."""
import http.client
import json
import queue
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GRPCURL = Path(sys.executable).parent / 'grpcurl'
DESCRIPTOR = ROOT / 'build' / 'api_descriptor.pb'


@dataclass
class Reply:
    status: int
    headers: dict  # lower-case names
    text: str
    body: object  # the parsed JSON, or None when the body is not JSON

    def __repr__(self):  # what pytest shows when an assertion on a reply fails
        return f'Reply({self.status}, {self.text[:500]!r})'


class RestClient:
    """JSON over HTTP/1.1 to Envoy; the path goes out exactly as given (a raw '@' or '+' stays raw). With
    `ssl_context` (an ssl.SSLContext) over TLS: HTTPS. With `source`, connections come from that local address (any
    of 127.0.0.0/8 reaches 127.0.0.1): another client to Envoy."""

    def __init__(self, address, timeout=15, ssl_context=None, source=None):
        self.address = address
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.source = (source, 0) if source else None

    def call(self, method, path, body=None, *, raw=None, headers=None):
        """Send `body` as JSON (or `raw` bytes as they are) and return the Reply, whatever its status."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent_headers = {'content-type': 'application/json', **(headers or {})}
        connection = (http.client.HTTPSConnection(self.address, timeout=self.timeout, context=self.ssl_context,
                                                  source_address=self.source)
                      if self.ssl_context else
                      http.client.HTTPConnection(self.address, timeout=self.timeout, source_address=self.source))
        try:
            connection.request(method, path, body=data, headers=sent_headers)
            response = connection.getresponse()
            payload = response.read()
            received = {name.lower(): value for name, value in response.getheaders()}
        finally:
            connection.close()
        text = payload.decode(errors='replace')
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = None
        return Reply(response.status, received, text, parsed)

    def get(self, path):
        return self.call('GET', path)

    def post(self, path, body=None, **kwargs):
        return self.call('POST', path, body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.call('PUT', path, body, **kwargs)

    def patch(self, path, body=None, **kwargs):
        return self.call('PATCH', path, body, **kwargs)

    def delete(self, path):
        return self.call('DELETE', path)


def grpcurl_command(address, *args, data=None, protoset=False):
    """The real grpcurl (plaintext) against `address`; -protoset uses the build's descriptor set instead of
    server reflection."""
    command = [str(GRPCURL), '-plaintext', '-max-time', '20']
    if protoset:
        command += ['-protoset', str(DESCRIPTOR)]
    if data is not None:
        command += ['-d', json.dumps(data)]
    return [*command, address, *args]


def grpcurl(address, *args, data=None, protoset=False):
    """Run grpcurl_command; returns the CompletedProcess (text stdout and stderr)."""
    return subprocess.run(grpcurl_command(address, *args, data=data, protoset=protoset), capture_output=True,
                          text=True, timeout=30)


class GrpcurlStream:
    """grpcurl reading a server stream in the background: next_message() returns each JSON message it prints, as it
    prints it (snake_case keys, as grpcurl_json)."""

    def __init__(self, command):
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def next_message(self, timeout=10):
        """grpcurl prints each message as indented JSON, ending with a line holding only '}'."""
        lines = []
        while True:
            line = self._lines.get(timeout=timeout)
            assert line is not None, f'grpcurl ended: {self.process.stderr.read()}'
            lines.append(line)
            if line.rstrip() == '}':
                return snake_keys(json.loads(''.join(lines)))

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def grpcurl_stream(address, method, data, protoset=False):
    return GrpcurlStream(grpcurl_command(address, method, data=data, protoset=protoset))


def grpcurl_json(address, method, data, protoset=False):
    """Call `method` through grpcurl and return its JSON answer with snake_case keys; fail on an error.

    grpcurl prints lowerCamelCase names when the descriptor has json_name set (-protoset) and the
    proto names through reflection; the keys are normalised so that tests do not depend on it.
    """
    result = grpcurl(address, method, data=data, protoset=protoset)
    assert result.returncode == 0, f'grpcurl {method} failed ({result.returncode}):\n{result.stderr}'
    return snake_keys(json.loads(result.stdout))


def snake_keys(value):
    if isinstance(value, dict):
        return {re.sub(r'(?<=[a-z0-9])([A-Z])', r'_\1', key).lower(): snake_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [snake_keys(item) for item in value]
    return value
