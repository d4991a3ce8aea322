"""The names the services store or compute for a contract's enum (a cart's state, a line's availability, a stock
movement's reason, an order's status) are the enum's own, in lower case: the servicers map one to the other by
name, so a value added on one side only would fail a call at run time; here it fails at once."""
import pytest
from ecommerce.orders.v1 import carts_pb2, orders_pb2
from ecommerce.products.v1 import products_pb2

from services.orders import carts
from services.orders import rules as order_rules
from storage.orders import Cart
from storage.products import StockMovement


def enum_names(proto_enum):
    return {value.name.lower() for value in proto_enum.DESCRIPTOR.values if value.number != 0}


@pytest.mark.parametrize('ours, proto_enum', [
    (Cart.STATES, carts_pb2.Cart.State),
    ((carts.IN_STOCK, carts.INSUFFICIENT_STOCK, carts.PRODUCT_NOT_FOUND, carts.HELD, carts.OTHER_CURRENCY),
     carts_pb2.CartLine.Availability),
    ((StockMovement.RESERVED, StockMovement.RELEASED, StockMovement.ADJUSTED, StockMovement.HELD,
      StockMovement.EXPIRED, StockMovement.ORDERED), products_pb2.StockMovement.Reason),
    (order_rules.STATUSES, orders_pb2.Order.Status),
], ids=['cart state', 'line availability', 'movement reason', 'order status'])
def test_each_name_we_store_is_the_contracts(ours, proto_enum):
    assert set(ours) == enum_names(proto_enum)
