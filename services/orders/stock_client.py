"""Orders' side of the Products service's StockService: deadlines, errors as domain errors, and the reservations
of orders placed at the same time sent together."""
import asyncio
import contextvars
import itertools
import time
from dataclasses import dataclass
from decimal import Decimal

import grpc
from ecommerce.products.v1 import stock_pb2, stock_pb2_grpc
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
    currency_code: str


class StockUnavailable(Unavailable):
    """Products did not give a definite answer: the stock may or may not have been taken."""
    reason = 'PRODUCTS_UNAVAILABLE'


# At most this many ReserveStocks calls of one Orders worker are under way at once: reservations asked for meanwhile
# wait for one to end and go together in the next. One call and one commit at Products then serve many orders.
RESERVE_CALLS_IN_FLIGHT = 1
# Reservations in one call at most, which bounds how long Products holds its write transaction for one call.
RESERVATIONS_PER_CALL = 32
# Products one GetStockLevels call asks about at most (the most it answers).
LEVELS_PER_CALL = 1000
# A call whose deadline has passed while it waited is still sent, to fail at once (its outcome stays unsure).
MIN_TIMEOUT_S = 0.001


class StockClient:
    """Reserve and release stock by reservation id over grpc.aio channels, used in turn; every call carries a
    deadline. Reservations asked for while others are under way are sent together (ReserveStocks)."""

    def __init__(self, channels, timeout, issuer=None, currency=''):
        self._stubs = itertools.cycle([stock_pb2_grpc.StockServiceStub(channel) for channel in channels])
        self._timeout = timeout
        self._issuer = issuer  # signs the `service` token each call carries; None: calls carry none
        self._currency = currency  # the shop's: products priced in another are refused
        self._reservations = CallBatcher(self._reserve_together, RESERVE_CALLS_IN_FLIGHT, RESERVATIONS_PER_CALL)

    async def reserve(self, reservation_id, lines, cart_id=0):
        """Take stock for (product_id, quantity) lines, all or none, as a hold for the cart `cart_id` if given; raise
        InsufficientStock, ProductNotFound or FailedPrecondition when nothing was taken, StockUnavailable when
        unsure."""
        entry = stock_pb2.StockReservation(
            reservation=stock_pb2.ReserveStockRequest(
                reservation_id=reservation_id, currency_code=self._currency, cart_id=cart_id,
                lines=[stock_pb2.StockLine(product_id=product_id, quantity=quantity)
                       for product_id, quantity in lines]),
            request_id=current_request_id(), actor=current_actor())
        # The deadline runs from now: a reservation waiting for the next call has that much less of it.
        outcome = await self._reservations.submit((entry, time.monotonic() + self._timeout))
        if isinstance(outcome, Exception):
            raise outcome
        if outcome.HasField('refused'):
            raise _refusal(outcome.refused.code, outcome.refused.message, _error_info_of(outcome.refused))
        return [ReservedLine(line.product_id, line.quantity, line.product_name, Decimal(line.unit_price),
                             line.currency_code) for line in outcome.reserved.lines]

    async def _reserve_together(self, entries):
        """One ReserveStocks call of (StockReservation, deadline) entries, by the earliest deadline: an outcome per
        entry, or, when the call itself failed, the error for each."""
        timeout = max(min(deadline for _, deadline in entries) - time.monotonic(), MIN_TIMEOUT_S)
        try:
            response = await next(self._stubs).ReserveStocks(
                stock_pb2.ReserveStocksRequest(reservations=[entry for entry, _ in entries]), timeout=timeout,
                metadata=self._metadata())
        except grpc.RpcError as error:
            return [_domain_error(error) for _ in entries]
        return list(response.outcomes)

    async def release(self, reservation_id, expired=False):
        """Give a reservation's stock back (idempotent; `expired`: a hold given back at its expiry); raise
        StockUnavailable when unsure."""
        request = stock_pb2.ReleaseStockRequest(reservation_id=reservation_id, expired=expired)
        return (await self._call('ReleaseStock', request)).released_now

    async def convert(self, reservation_id, order_id):
        """Make a hold the reservation of the order `order_id` (idempotent); raise StockUnavailable when unsure."""
        request = stock_pb2.ConvertHoldRequest(reservation_id=reservation_id, order_id=order_id)
        return (await self._call('ConvertHold', request)).converted_now

    async def levels(self, product_ids):
        """{product id: StockLevel} of the products among `product_ids` that exist, as they are now."""
        ids = list(dict.fromkeys(product_ids))
        found = {}
        for start in range(0, len(ids), LEVELS_PER_CALL):
            response = await self._call('GetStockLevels', stock_pb2.GetStockLevelsRequest(
                product_ids=ids[start:start + LEVELS_PER_CALL]))
            found.update({level.product_id: level for level in response.levels if level.found})
        return found

    async def _call(self, method, request):
        try:
            return await getattr(next(self._stubs), method)(request, timeout=self._timeout, metadata=self._metadata())
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
    return _refusal(error.code(), error.details(), _error_info(error))


def _refusal(code, message, info):
    """The domain error for a refusal by Products: a status code (grpc.StatusCode or its number), its message and
    its ErrorInfo (or None)."""
    code = code if isinstance(code, grpc.StatusCode) else _STATUS_CODES.get(code, grpc.StatusCode.UNKNOWN)
    if code not in _DEFINITE:
        return StockUnavailable(f'the products service did not answer ({code.name}); try again')
    metadata = info.metadata if info else {}
    if info and info.reason == InsufficientStock.reason:
        return InsufficientStock(int(metadata['product_id']), int(metadata['requested']), int(metadata['available']),
                                 metadata.get('product_name'))
    if info and info.reason == ProductNotFound.reason:
        return ProductNotFound(int(metadata['product_id']))
    return FailedPrecondition(f'the products service refused the stock change: {message}',
                              reason=info.reason if info else 'STOCK_REFUSED')


_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _error_info(error):
    status = rpc_status.from_call(error)
    return _error_info_of(status) if status else None


def _error_info_of(status):
    """The ErrorInfo among a google.rpc.Status's details, or None."""
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


class CallBatcher:
    """Items submitted while `in_flight` calls are under way wait, and go together in the next call (at most
    `per_call` of them): alone, an item is sent at once; under load, one call carries many.

    `send` is an async function of a list of items returning one result per item, in order. A call runs in the
    context of its first item's submitter: its request id, actor and trace."""

    def __init__(self, send, in_flight, per_call):
        self._send = send
        self._in_flight = in_flight
        self._per_call = per_call
        self._waiting = []  # (item, future, context)
        self._calls = set()  # the calls under way (a task must be referenced until it ends)

    async def submit(self, item):
        """The result of `item` in the call that carried it."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future, contextvars.copy_context()))
        if len(self._calls) < self._in_flight:
            self._start_call()
        return await future

    def _start_call(self):
        # An item whose submitter stopped waiting (cancelled) is not sent.
        waiting = [entry for entry in self._waiting if not entry[1].done()]
        batch, self._waiting = waiting[:self._per_call], waiting[self._per_call:]
        if not batch:
            return
        call = asyncio.create_task(self._call(batch), context=batch[0][2])
        self._calls.add(call)
        call.add_done_callback(self._ended)

    async def _call(self, batch):
        futures = [future for _, future, _ in batch]
        try:
            results = await self._send([item for item, _, _ in batch])
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except Exception as error:  # each submitter gets it, as if its own call had raised it
            for future in futures:
                if not future.done():
                    future.set_exception(error)
            return
        for future, result in zip(futures, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _ended(self, call):
        self._calls.discard(call)
        if self._waiting:
            self._start_call()
