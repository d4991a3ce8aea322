"""Orders' side of the stock RPCs on the Products service: deadlines, and errors as domain errors."""
import itertools
from dataclasses import dataclass
from decimal import Decimal

import grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.auth import AUTHORIZATION_HEADER
from services.errors import FailedPrecondition, InsufficientStock, ProductNotFound, Unavailable
from services.request_context import ACTOR_HEADER, REQUEST_ID_HEADER, current_actor, current_request_id


@dataclass(frozen=True)
class ReservedLine:
    product_id: int
    quantity: int
    product_name: str
    unit_price: Decimal


class StockUnavailable(Unavailable):
    """Products did not give a definite answer: the stock may or may not have been taken."""
    reason = 'PRODUCTS_UNAVAILABLE'


class StockClient:
    """Reserve and release stock by reservation id over grpc.aio channels, used in turn; every call carries a
    deadline."""

    def __init__(self, channels, timeout, issuer=None):
        self._stubs = itertools.cycle([products_pb2_grpc.ProductServiceStub(channel) for channel in channels])
        self._timeout = timeout
        self._issuer = issuer  # signs the `service` token each call carries; None: calls carry none

    async def reserve(self, reservation_id, lines):
        """Take stock for (product_id, quantity) lines, all or none; raise InsufficientStock,
        ProductNotFound or FailedPrecondition when nothing was taken, StockUnavailable when unsure."""
        request = products_pb2.ReserveStockRequest(reservation_id=reservation_id, lines=[
            products_pb2.StockLine(product_id=product_id, quantity=quantity) for product_id, quantity in lines])
        try:
            response = await next(self._stubs).ReserveStock(request, timeout=self._timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise _domain_error(error) from None
        return [ReservedLine(line.product_id, line.quantity, line.product_name, Decimal(line.unit_price))
                for line in response.lines]

    async def release(self, reservation_id):
        """Give a reservation's stock back (idempotent); raise StockUnavailable when unsure."""
        request = products_pb2.ReleaseStockRequest(reservation_id=reservation_id)
        try:
            return (await next(self._stubs).ReleaseStock(request, timeout=self._timeout,
                                                  metadata=self._metadata())).released_now
        except grpc.RpcError as error:
            raise _domain_error(error) from None

    def _metadata(self):
        """The call's request id and actor, passed on so that Products records its stock movements under them too,
        and the service token."""
        metadata = []
        if request_id := current_request_id():
            metadata.append((REQUEST_ID_HEADER, request_id))
        if actor := current_actor():
            metadata.append((ACTOR_HEADER, actor))
        if self._issuer:
            metadata.append((AUTHORIZATION_HEADER, f'Bearer {self._issuer.service_token()}'))
        return tuple(metadata) or None


# Answers that mean Products decided and took nothing; any other may hide a committed change.
_DEFINITE = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
             grpc.StatusCode.FAILED_PRECONDITION)


def _domain_error(error):
    if error.code() not in _DEFINITE:
        return StockUnavailable(f'the products service did not answer ({error.code().name}); try again')
    info = _error_info(error)
    metadata = info.metadata if info else {}
    if info and info.reason == InsufficientStock.reason:
        return InsufficientStock(int(metadata['product_id']), int(metadata['requested']), int(metadata['available']),
                                 metadata.get('product_name'))
    if info and info.reason == ProductNotFound.reason:
        return ProductNotFound(int(metadata['product_id']))
    return FailedPrecondition(f'the products service refused the stock change: {error.details()}',
                              reason=info.reason if info else 'STOCK_REFUSED')


def _error_info(error):
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None
