"""A storm of shoppers for the reliability tests: client threads placing orders of 1-3 lines and cancelling some of
their own, or checking carts out and completing, abandoning or leaving them, through a shop (native gRPC, or REST
through Envoy), recording every answer, when it came, and what was acknowledged."""
import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass

import grpc
from ecommerce.orders.v1 import carts_pb2, carts_pb2_grpc, orders_pb2, orders_pb2_grpc
from google.protobuf import json_format

from scripts.openapi import HTTP_STATUS
from tests.stock_checks import Status, order_request

STATUS_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


class Refused(Exception):
    """A call answered with anything but success: `code` names its gRPC status, or what else came instead."""

    def __init__(self, code, details):
        super().__init__(f'{code}: {details}')
        self.code = code
        self.details = details


class GrpcShop:
    """Orders and carts over native gRPC (to the service, or through Envoy), each call with a deadline of
    `deadline` s."""

    def __init__(self, channel, deadline):
        self._stub = orders_pb2_grpc.OrderServiceStub(channel)
        self._carts = carts_pb2_grpc.CartServiceStub(channel)
        self.deadline = deadline

    def _call(self, method, request, stub=None):
        try:
            return getattr(stub or self._stub, method)(request, timeout=self.deadline)
        except grpc.RpcError as error:
            raise Refused(error.code().name, error.details()) from None

    def fill_cart(self, items):
        """A new cart holding (product id, quantity) `items`; its id."""
        cart = self._call('CreateCart', carts_pb2.CreateCartRequest(customer_email='buyer@example.com'), self._carts)
        for product_id, quantity in items:
            self._call('AddCartItem', carts_pb2.AddCartItemRequest(cart_id=cart.id, product_id=product_id,
                                                                   quantity=quantity), self._carts)
        return cart.id

    def check_out(self, cart_id):
        """The cart's state name once its stock is held."""
        request = carts_pb2.CheckoutCartRequest(id=cart_id, customer_name='Buyer', shipping_address='1 Test Street')
        return carts_pb2.Cart.State.Name(self._call('CheckoutCart', request, self._carts).state)

    def complete(self, cart_id):
        """(order id, its (product id, quantity) lines)."""
        order = self._call('CompleteCheckout', carts_pb2.CompleteCheckoutRequest(id=cart_id), self._carts)
        return order.id, [(item.product_id, item.quantity) for item in order.items]

    def abandon(self, cart_id):
        return carts_pb2.Cart.State.Name(
            self._call('AbandonCheckout', carts_pb2.AbandonCheckoutRequest(id=cart_id), self._carts).state)

    def place(self, items):
        """(order id, its (product id, quantity) lines)."""
        order = self._call('CreateOrder', order_request(items))
        return order.id, [(item.product_id, item.quantity) for item in order.items]

    def cancel(self, order_id):
        """The order's status name afterwards."""
        return Status.Name(self._call('CancelOrder', orders_pb2.CancelOrderRequest(id=order_id)).status)

    def set_cancelled(self, order_id):
        request = orders_pb2.UpdateOrderStatusRequest(id=order_id, status=Status.CANCELLED)
        return Status.Name(self._call('UpdateOrderStatus', request).status)


class RestShop:
    """Orders as JSON through Envoy (a tests.e2e.clients.RestClient). Its deadline is Envoy's route timeout; an
    error answer must carry the HTTP status Envoy's transcoder gives its gRPC code, or it counts as another answer."""

    def __init__(self, client, deadline):
        self._client = client
        self.deadline = deadline

    def _call(self, method, path, body, success=200):
        try:
            reply = self._client.call(method, path, body)
        except (OSError, http.client.HTTPException) as error:
            raise Refused('NO_ANSWER', repr(error)) from None
        if reply.status == success:
            return reply.body
        code = STATUS_NAMES.get(reply.body.get('code')) if isinstance(reply.body, dict) else None
        if code is None or HTTP_STATUS.get(code) != reply.status:
            raise Refused(f'HTTP_{reply.status}', reply.text[:300])
        raise Refused(code, reply.body.get('message'))

    def place(self, items):
        request = json_format.MessageToDict(order_request(items), preserving_proto_field_name=True)
        order = self._call('POST', '/api/orders', request, success=201)
        return int(order['id']), [(int(item['product_id']), item['quantity']) for item in order['items']]

    def cancel(self, order_id):
        return self._call('POST', f'/api/orders/{order_id}/cancel', {})['status']

    def set_cancelled(self, order_id):
        return self._call('PATCH', f'/api/orders/{order_id}/status', {'status': 'CANCELLED'})['status']


@dataclass(frozen=True)
class Answer:
    call: str
    code: str  # 'OK', a gRPC status name, or what came instead (HTTP_500, NO_ANSWER)
    started: float  # time.monotonic()
    ended: float
    deadline: float  # s the caller gave it


class Storm:
    """What the clients sent and what was acknowledged; shared by the client threads. An answer whose code is not
    in `tolerated` (or OK) is unexpected, as is any failure in a thread."""

    def __init__(self, tolerated):
        self.tolerated = set(tolerated)
        self.lock = threading.Lock()
        self.over = threading.Event()
        self.placed = {}  # order id → [(product id, quantity)] of every acknowledged placement
        self.cancelled = set()  # order ids of every acknowledged cancellation
        self.answers = []  # Answer of every call, in the order they came
        self.unexpected = []  # (call, code, details) of any other answer, or what went wrong in a thread
        self.in_flight = 0

    @property
    def codes(self):
        with self.lock:
            return Counter(answer.code for answer in self.answers)

    def thread(self, target, *args):
        """A thread running target(*args) whose failure is recorded, not lost."""
        def run():
            try:
                target(*args)
            except BaseException as error:  # an assertion in a client, a restart that failed
                with self.lock:
                    self.unexpected.append((target.__name__, type(error).__name__, str(error)))
                self.over.set()
        return threading.Thread(target=run, name=target.__name__)

    def call(self, shop, name, *args):
        """shop.`name`(*args), or None after a tolerated refusal; records the answer."""
        with self.lock:
            self.in_flight += 1
        started = time.monotonic()
        try:
            result, code = getattr(shop, name)(*args), 'OK'
        except Refused as refused:
            result, code = None, refused.code
            if code not in self.tolerated:
                with self.lock:
                    self.unexpected.append((name, code, refused.details))
        finally:
            with self.lock:
                self.in_flight -= 1
        with self.lock:
            self.answers.append(Answer(name, code, started, time.monotonic(), shop.deadline))
        if code in ('UNAVAILABLE', 'CANCELLED'):
            time.sleep(0.05)  # the service is down: do not spin on a fast failure
        return result

    def between(self, start, end):
        """The answers to calls that started in [start, end)."""
        with self.lock:
            return [answer for answer in self.answers if start <= answer.started < end]


def customer(storm, shop, product_ids, rng):
    """Place orders of 1-3 lines and cancel some of one's own acknowledged orders (CancelOrder, or setting the status
    to CANCELLED), until the storm is over."""
    mine = []
    while not storm.over.is_set():
        if rng.random() < 0.6 or not mine:
            items = [(product_id, rng.randint(1, 3)) for product_id in rng.sample(product_ids, rng.randint(1, 3))]
            placed = storm.call(shop, 'place', items)
            if placed is not None:
                order_id, lines = placed
                assert lines == items, (order_id, lines, items)
                with storm.lock:
                    storm.placed[order_id] = items
                mine.append(order_id)
        else:
            order_id = mine.pop(rng.randrange(len(mine)))
            status = storm.call(shop, 'cancel' if rng.random() < 0.5 else 'set_cancelled', order_id)
            if status is None:
                mine.append(order_id)  # not acknowledged: try again later (FAILED_PRECONDITION if it went through)
            else:
                assert status == 'CANCELLED', (order_id, status)
                with storm.lock:
                    storm.cancelled.add(order_id)


def cart_shopper(storm, shop, product_ids, rng):
    """Fill carts of 1-3 lines and check them out, then complete the checkout, abandon it, or walk away and let its
    hold expire, until the storm is over. A completion acknowledged is recorded in storm.placed."""
    while not storm.over.is_set():
        items = [(product_id, rng.randint(1, 3)) for product_id in rng.sample(product_ids, rng.randint(1, 3))]
        cart_id = storm.call(shop, 'fill_cart', items)
        if cart_id is None or storm.call(shop, 'check_out', cart_id) is None:
            continue
        choice = rng.random()
        if choice < 0.4:
            placed = storm.call(shop, 'complete', cart_id)
            if placed is not None:
                order_id, lines = placed
                assert lines == items, (cart_id, order_id, lines, items)
                with storm.lock:
                    storm.placed[order_id] = items
        elif choice < 0.6:
            storm.call(shop, 'abandon', cart_id)
