"""The services' gRPC API as the CLI uses it: channels with deadlines, paged listings, and what a failed call
means to an operator (one line and an exit status)."""
import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ecommerce.defaults import MAX_PAGE_SIZE
from ecommerce.orders.v1 import carts_pb2_grpc, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2_grpc

# Exit statuses (README "Command line").
REFUSED = 1  # the service refused the request, or the CSV file is wrong: fix the input
USAGE = 2  # a bad command line: Click's own status for it
UNREACHABLE = 3  # the service could not be reached, did not answer in time, or failed on its side: try again later

# Codes that mean the request itself was wrong; every other code is the service's or the network's trouble.
CLIENT_MISTAKES = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
})


class CommandFailed(Exception):
    """Ends a command: each of `lines` is printed on stderr and the process exits with `exit_status`.

    From a refused call, `violations` holds the BadRequest's (field, description) pairs and `metadata` the
    ErrorInfo's.
    """

    def __init__(self, lines, exit_status, violations=(), metadata=None):
        super().__init__('; '.join(lines))
        self.lines = list(lines)
        self.exit_status = exit_status
        self.violations = list(violations)
        self.metadata = metadata or {}


def _rich_status(error):
    """The google.rpc.Status our services attach to an error, or None (a transport failure, another server)."""
    try:
        return rpc_status.from_call(error)
    except ValueError:  # details left over from a status that gRPC itself replaced (metadata too large)
        return None


def _details(status):
    """(BadRequest field violations as (field, description) pairs, ErrorInfo metadata) of a status."""
    violations, metadata = [], {}
    for packed in status.details if status else ():
        bad_request, info = error_details_pb2.BadRequest(), error_details_pb2.ErrorInfo()
        if packed.Unpack(bad_request):
            violations += [(violation.field, violation.description) for violation in bad_request.field_violations]
        elif packed.Unpack(info):
            metadata = dict(info.metadata)
    return violations, metadata


class Service:
    """One service's stub: every call carries the deadline, and a failure becomes a CommandFailed."""

    def __init__(self, name, address, stub_class, timeout, where_set, token='', channel=None):
        self.name = name
        self.address = address
        self.timeout = timeout
        self._where_set = where_set  # the flag and variable that choose the address, for the unreachable message
        self._token = token
        self._metadata = (('authorization', f'Bearer {token}'),) if token else None
        self._channel = channel or grpc.insecure_channel(address)
        self._stub = stub_class(self._channel)

    def beside(self, stub_class):
        """Another gRPC service of the same server (CartService beside OrderService), called over this one's channel
        with the same deadline and token; closing this one closes both."""
        return Service(self.name, self.address, stub_class, self.timeout, self._where_set, self._token, self._channel)

    def __getattr__(self, method):
        rpc = getattr(self._stub, method)

        def call(request, timeout=None):
            try:
                return rpc(request, timeout=timeout or self.timeout, metadata=self._metadata)
            except grpc.RpcError as error:
                raise self.failure(error, timeout or self.timeout) from None
        return call

    def failure(self, error, timeout):
        """The CommandFailed for a failed call: one line naming the field, or the address that did not answer."""
        code = error.code()
        status = _rich_status(error)
        if code == grpc.StatusCode.UNAVAILABLE and status is None:
            return CommandFailed([f'cannot reach the {self.name} service at {self.address} ({error.details()}); '
                                  f'is it running? ({self._where_set})'], UNREACHABLE)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return CommandFailed([f'the {self.name} service at {self.address} did not answer within {timeout:g} s'],
                                 UNREACHABLE)
        violations, metadata = _details(status)
        text = ': '.join(violations[0]) if len(violations) == 1 else error.details()
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            text += ' (the token comes from --token or ECOMMERCE_TOKEN)'
        return CommandFailed([f'{text} ({code.name})'], REFUSED if code in CLIENT_MISTAKES else UNREACHABLE,
                             violations, metadata)

    def close(self):
        self._channel.close()


class Connection:
    """Both services, as the global options name them (Orders serves CartService too)."""

    def __init__(self, products_address, orders_address, timeout, token=''):
        self.products = Service('Products', products_address, products_pb2_grpc.ProductServiceStub, timeout,
                                '--products-address or PRODUCTS_ADDRESS', token)
        self.orders = Service('Orders', orders_address, orders_pb2_grpc.OrderServiceStub, timeout,
                              '--orders-address or ORDERS_ADDRESS', token)
        self.carts = self.orders.beside(carts_pb2_grpc.CartServiceStub)

    def close(self):
        self.products.close()
        self.orders.close()


def pages(call, request):
    """Every page of a listing (`call` with `request`, its page_size set), following its page tokens."""
    while True:
        page = call(request)
        yield page
        if not page.next_page_token:
            return
        request.page_token = page.next_page_token


def first_items(call, request, field, limit=None):
    """The listing's first `limit` items (None: all of them) in one response of its type: `field` holds the items,
    total_size counts the whole listing, and next_page_token is empty only if every item was read. Pages are as
    large as the API allows."""
    items = []
    request.page_size = min(limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    for page in pages(call, request):
        items += getattr(page, field)
        if limit is not None and len(items) >= limit:
            break
        request.page_size = min(limit - len(items), MAX_PAGE_SIZE) if limit else MAX_PAGE_SIZE
    del getattr(page, field)[:]
    getattr(page, field).extend(items[:limit])
    return page
