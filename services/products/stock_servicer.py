"""StockService over gRPC: the Orders service's reservations, protobuf in and out; the rules and storage do the work."""
from ecommerce.products.v1 import stock_pb2, stock_pb2_grpc

from services.auth import may_name_actor
from services.errors import DomainError
from services.money import format_money
from services.products import catalog, rules
from services.products.servicer import carried_stock
from services.server import status_message


class StockServicer(stock_pb2_grpc.StockServiceServicer):
    SERVICE_NAME = stock_pb2.DESCRIPTOR.services_by_name['StockService'].full_name

    # Every call is a plain function, which the interceptor runs as a database step (services.server.DatabaseSteps).
    def ReserveStock(self, request, context):
        asked = reservation_of(request)
        return reserved_message(request.reservation_id, catalog.reserve_stock(
            asked.reservation_id, asked.lines, asked.currency_code, asked.cart_id))

    def ReserveStocks(self, request, context):
        entries = request.reservations
        rules.reservation_batch(len(entries))
        outcomes, valid = [None] * len(entries), []
        named = may_name_actor()
        for index, entry in enumerate(entries):
            try:
                valid.append((index, reservation_of(entry.reservation, entry.request_id,
                                                    entry.actor if named else '')))
            except DomainError as refusal:
                outcomes[index] = refusal
        for (index, _), outcome in zip(valid, catalog.reserve_stocks([reservation for _, reservation in valid]),
                                       strict=True):
            outcomes[index] = outcome
        return stock_pb2.ReserveStocksResponse(outcomes=[
            stock_pb2.ReservationOutcome(refused=status_message(outcome)) if isinstance(outcome, DomainError)
            else stock_pb2.ReservationOutcome(reserved=reserved_message(entry.reservation.reservation_id, outcome))
            for entry, outcome in zip(entries, outcomes, strict=True)])

    def ReleaseStock(self, request, context):
        released_now = catalog.release_stock(rules.reservation_key(request.reservation_id), request.expired)
        return stock_pb2.ReleaseStockResponse(reservation_id=request.reservation_id, released_now=released_now)

    def ConvertHold(self, request, context):
        converted_now = catalog.convert_hold(rules.reservation_key(request.reservation_id),
                                             rules.order_id(request.order_id))
        return stock_pb2.ConvertHoldResponse(reservation_id=request.reservation_id, converted_now=converted_now)

    def GetStockLevels(self, request, context):
        product_ids = rules.stock_level_ids(request.product_ids)
        return stock_pb2.GetStockLevelsResponse(levels=[
            level_message(product_id, level)
            for product_id, level in zip(product_ids, catalog.stock_levels(product_ids), strict=True)])


def reservation_of(request, request_id='', actor=''):
    """The validated catalog.Reservation of a ReserveStockRequest, made for `request_id` and `actor`."""
    lines = rules.stock_lines(request.reservation_id, [(line.product_id, line.quantity) for line in request.lines])
    return catalog.Reservation(request.reservation_id, lines, request_id, actor, request.currency_code,
                               rules.cart_id(request.cart_id))


def reserved_message(reservation_id, reserved):
    return stock_pb2.ReserveStockResponse(reservation_id=reservation_id, lines=[
        stock_pb2.ReservedLine(product_id=line.product_id, quantity=line.quantity,
                               product_name=line.product_name, unit_price=format_money(line.unit_price),
                               currency_code=line.currency_code)
        for line in reserved])


def level_message(product_id, level):
    if not level.found:
        return stock_pb2.StockLevel(product_id=product_id, found=False)
    return stock_pb2.StockLevel(product_id=product_id, found=True, product_name=level.name,
                                unit_price=format_money(level.price), currency_code=level.currency_code,
                                stock_quantity=carried_stock(level.stock_quantity, product_id))
