"""StockService over gRPC: the Orders service's reservations, protobuf in and out; the rules and storage do the work."""
from ecommerce.products.v1 import stock_pb2, stock_pb2_grpc

from services.auth import may_name_actor
from services.errors import DomainError
from services.money import format_money
from services.products import catalog, rules
from services.server import status_message


class StockServicer(stock_pb2_grpc.StockServiceServicer):
    SERVICE_NAME = stock_pb2.DESCRIPTOR.services_by_name['StockService'].full_name

    # Every call is a plain function, which the interceptor runs as a database step (services.server.DatabaseSteps).
    def ReserveStock(self, request, context):
        return reserved_message(request.reservation_id,
                                catalog.reserve_stock(request.reservation_id, reservation_lines(request)))

    def ReserveStocks(self, request, context):
        entries = request.reservations
        rules.reservation_batch(len(entries))
        outcomes, valid = [None] * len(entries), []
        named = may_name_actor()
        for index, entry in enumerate(entries):
            try:
                lines = reservation_lines(entry.reservation)
            except DomainError as refusal:
                outcomes[index] = refusal
                continue
            valid.append((index, catalog.Reservation(entry.reservation.reservation_id, lines, entry.request_id,
                                                     entry.actor if named else '')))
        for (index, _), outcome in zip(valid, catalog.reserve_stocks([reservation for _, reservation in valid]),
                                       strict=True):
            outcomes[index] = outcome
        return stock_pb2.ReserveStocksResponse(outcomes=[
            stock_pb2.ReservationOutcome(refused=status_message(outcome)) if isinstance(outcome, DomainError)
            else stock_pb2.ReservationOutcome(reserved=reserved_message(entry.reservation.reservation_id, outcome))
            for entry, outcome in zip(entries, outcomes, strict=True)])

    def ReleaseStock(self, request, context):
        released_now = catalog.release_stock(rules.reservation_key(request.reservation_id))
        return stock_pb2.ReleaseStockResponse(reservation_id=request.reservation_id, released_now=released_now)


def reservation_lines(request):
    """The validated (product_id, quantity) lines of a ReserveStockRequest."""
    return rules.stock_lines(request.reservation_id, [(line.product_id, line.quantity) for line in request.lines])


def reserved_message(reservation_id, reserved):
    return stock_pb2.ReserveStockResponse(reservation_id=reservation_id, lines=[
        stock_pb2.ReservedLine(product_id=line.product_id, quantity=line.quantity,
                               product_name=line.product_name, unit_price=format_money(line.unit_price))
        for line in reserved])
