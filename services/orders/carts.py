"""Carts and their checkouts: lines kept here, stock held at Products while the shopper pays, and each hold ending one
way only, as an order with the held units or with the units back in stock.

A checkout follows the placement's intent → remote call → outcome (services.orders.workflow): its row is written
first ('holding', the cart locked), the hold is taken at Products under the checkout's reservation id, then its
locked lines and 'held' are written. Completing, abandoning and expiring each begin with one conditional UPDATE of
the checkout row from a live state, so that exactly one of them wins; what Products must then be told (convert the
hold into the order's reservation, or release it) is idempotent there, and recover() repeats it until it is done.
"""
import datetime
import logging
import uuid
from decimal import Decimal
from typing import NamedTuple

from services import metrics
from services.errors import (
    FailedPrecondition,
    InsufficientStock,
    InvalidArgument,
    NotFound,
    ProductNotFound,
    Unavailable,
)
from services.orders import rules
from services.orders.workflow import RECOVERY_CALLS_AT_ONCE, each_at_most, record_order, to_the_end
from storage.database import Prepared, PreparedInsert, keyset_page, utcnow
from storage.orders import Cart, CartItem, Checkout, CheckoutLine, Order, database

log = logging.getLogger('services.orders')

# Availability of a cart's line (CartLine.Availability, in lower case).
IN_STOCK, INSUFFICIENT_STOCK, PRODUCT_NOT_FOUND, HELD, OTHER_CURRENCY = (
    'in_stock', 'insufficient_stock', 'product_not_found', 'held', 'other_currency')
# Outcomes of a checkout (Checkout.outcome).
COMPLETED, ABANDONED, EXPIRED, INTERRUPTED = 'completed', 'abandoned', 'expired', 'interrupted'
# Checkouts whose holds one pass of expire_due() ends at most; the next pass, a second later, takes the rest.
EXPIRIES_PER_PASS = 500
ZERO = Decimal('0.00')
# The statements of a checkout and its completion, rendered once (storage.database.Prepared): peewee takes longer to
# render one than SQLite to run it, and a checkout and its completion run some twenty.
_CART = Prepared(lambda cart_id: Cart.select().where(Cart.id == cart_id))
_OWNED_CART = Prepared(lambda cart_id, email: Cart.select().where((Cart.id == cart_id)
                                                                  & (Cart.customer_email == email)))
_ITEMS = Prepared(lambda cart_id: CartItem.select().where(CartItem.cart == cart_id).order_by(CartItem.id))
_CHECKOUT = Prepared(lambda checkout_id: Checkout.select().where(Checkout.id == checkout_id))
_LOCKED_LINES = Prepared(lambda checkout_id: CheckoutLine.select().where(CheckoutLine.checkout == checkout_id)
                         .order_by(CheckoutLine.id))
_NEW_CHECKOUT = PreparedInsert(Checkout)
_NEW_LINE = PreparedInsert(CheckoutLine)
_TO_CHECKOUT = Prepared(lambda now, checkout_id, cart_id: Cart
                        .update(state=Cart.CHECKING_OUT, updated_at=now, checkout_id=checkout_id)
                        .where((Cart.id == cart_id) & Cart.state.in_(Cart.EDITABLE)))
_HELD = Prepared(lambda total, now, checkout_id: Checkout
                 .update(stock_state=Checkout.HELD, total_amount=total, updated_at=now)
                 .where((Checkout.id == checkout_id) & (Checkout.stock_state == Checkout.HOLDING)))
_CONVERTING = Prepared(lambda now, checkout_id, until: Checkout
                       .update(stock_state=Checkout.CONVERTING, outcome=COMPLETED, updated_at=now)
                       .where((Checkout.id == checkout_id) & (Checkout.stock_state == Checkout.HELD)
                              & (Checkout.expires_at > until)))
_ORDER_OF = Prepared(lambda order_id, checkout_id: Checkout.update(order_id=order_id).where(Checkout.id == checkout_id))
_COMPLETED = Prepared(lambda now, cart_id: Cart.update(state=Cart.COMPLETED, updated_at=now).where(Cart.id == cart_id))
_SETTLE = Prepared(lambda to_state, now, checkout_id, from_state: Checkout
                   .update(stock_state=to_state, updated_at=now)
                   .where((Checkout.id == checkout_id) & (Checkout.stock_state == from_state)))


class LineView(NamedTuple):
    product_id: int
    product_name: str
    quantity: int
    unit_price: Decimal | None  # None when the product no longer exists
    currency_code: str
    availability: str
    available_quantity: int

    @property
    def subtotal(self):
        return None if self.unit_price is None else self.unit_price * self.quantity


class CartView(NamedTuple):
    """A cart as the API shows it: its lines priced, now or as its checkout locked them."""
    cart: Cart
    lines: list  # of LineView
    total: Decimal
    currency_code: str
    checkout: Checkout | None


class CartPage(NamedTuple):
    carts: list  # of CartView
    last_id: int | None
    total_size: int


class CartDesk:
    """The cart operations. `stock` is a StockClient, `steps` a services.server.DatabaseSteps, `orders` the
    OrderDesk (whose get() reads a completed cart's order); holds last `hold_seconds`; amounts are in `currency`."""

    def __init__(self, stock, steps, orders, hold_seconds, currency):
        self._stock = stock
        self._steps = steps
        self._orders = orders
        self._hold = datetime.timedelta(seconds=hold_seconds)
        self._currency = currency
        self._counted = metrics.orders()

    def create(self, email):
        now = utcnow()
        with database.atomic():
            cart = Cart.create(customer_email=email, state=Cart.OPEN, created_at=now, updated_at=now)
        return CartView(cart, [], ZERO, self._currency, None)

    async def view(self, cart_id, owner=None, levels=None):
        """The cart priced: an editable one at Products' current prices and stock (StockUnavailable without them),
        asking Products only about products not in `levels` ({product id: StockLevel}) if given."""
        [view] = await self._priced(await self._steps.run(_read_cart, cart_id, owner), levels)
        return view

    async def list(self, page, email='', state=''):
        """A page of carts, newest first, of one customer and/or one state."""
        query = Cart.select()
        if email:
            query = query.where(Cart.customer_email == email)
        if state:
            query = query.where(Cart.state == state)
        carts, last_id, total = await self._steps.run(_page, query, page)
        return CartPage(await self._priced(await self._steps.run(_read_carts, carts)), last_id, total)

    async def _priced(self, read, levels=None):
        """CartViews of (cart, items, checkout, checkout lines) tuples, asking Products once for the current prices of
        every product in the editable carts among them (those not in `levels` already)."""
        levels = dict(levels or {})
        current = [item.product_id for cart, items, _, locked in read if _priced_now(cart, locked) for item in items
                   if item.product_id not in levels]
        levels.update(await self._stock.levels(current) if current else {})
        return [self._current(cart, items, levels, checkout) if _priced_now(cart, locked)
                else _locked_view(cart, checkout, locked) for cart, items, checkout, locked in read]

    def _current(self, cart, items, levels, checkout):
        lines = [self._line_now(item, levels.get(item.product_id)) for item in items]
        total = sum((line.subtotal for line in lines if line.currency_code == self._currency and line.unit_price),
                    ZERO)
        return CartView(cart, lines, total, self._currency, checkout)

    def _line_now(self, item, level):
        if level is None:
            return LineView(item.product_id, '', item.quantity, None, '', PRODUCT_NOT_FOUND, 0)
        availability = (OTHER_CURRENCY if level.currency_code != self._currency else
                        IN_STOCK if level.stock_quantity >= item.quantity else INSUFFICIENT_STOCK)
        return LineView(item.product_id, level.product_name, item.quantity, Decimal(level.unit_price),
                        level.currency_code, availability, level.stock_quantity)

    async def add_item(self, cart_id, product_id, quantity, owner=None):
        """Add `quantity` units of a product to the cart (to its line, if it has one); one call to Products, which
        says whether the product exists and prices the cart's lines."""
        _, items, _, _ = (await self._steps.run(_read_cart, cart_id, owner))[0]
        levels = await self._stock.levels([product_id, *(item.product_id for item in items)])
        if product_id not in levels:
            raise InvalidArgument('product_id', f'product {product_id} does not exist', reason='PRODUCT_NOT_FOUND',
                                  product_id=product_id)
        await self._steps.run(_change_lines, cart_id, owner, lambda: _add(cart_id, product_id, quantity))
        return await self.view(cart_id, owner, levels)

    async def set_quantity(self, cart_id, product_id, quantity, owner=None):
        def change():
            if not CartItem.update(quantity=quantity).where(_line(cart_id, product_id)).execute():
                raise _no_line(cart_id, product_id)
        await self._steps.run(_change_lines, cart_id, owner, change)
        return await self.view(cart_id, owner)

    async def remove_item(self, cart_id, product_id, owner=None):
        def change():
            if not CartItem.delete().where(_line(cart_id, product_id)).execute():
                raise _no_line(cart_id, product_id)
        await self._steps.run(_change_lines, cart_id, owner, change)

    async def checkout(self, cart_id, customer_name, shipping_address, owner=None):
        """Hold the stock of every line for the hold's time and lock the prices; all lines or none."""
        return await to_the_end(self._checkout(cart_id, customer_name, shipping_address, owner))

    async def _checkout(self, cart_id, customer_name, shipping_address, owner):
        cart, checkout, items, before = await self._steps.run(
            self._start_checkout, cart_id, owner, customer_name, shipping_address)
        lines = [(item.product_id, item.quantity) for item in items]
        try:
            reserved = await self._stock.reserve(checkout.reservation_id, lines, cart_id)
        except (ProductNotFound, FailedPrecondition) as refusal:  # a definite refusal: nothing was taken
            await self._steps.run(_undo_start, checkout, before)
            raise await self._explained(refusal, lines) from None
        except Exception:  # no definite answer: the stock may have been taken
            await self._end(checkout, INTERRUPTED, Cart.OPEN)
            raise
        held = await self._steps.run(_hold_taken, checkout, reserved)
        if held is None:  # ended meanwhile (abandoned, expired), by a call that releases it: show the cart as it is
            return await self.view(cart_id, owner)
        self._counted.checkouts['held'].inc()
        return _locked_view(cart, checkout, held)

    def _start_checkout(self, cart_id, owner, customer_name, shipping_address):
        """Lock the cart and write its new checkout, 'holding'; (the cart as it is now, the checkout, the cart's items,
        its state and checkout id before), or FailedPrecondition for a cart with no line or not editable now."""
        now = utcnow()
        with database.atomic():
            cart = _owned_cart(cart_id, owner)
            before = (cart.state, cart.checkout_id)
            items = _ITEMS.rows(cart_id)
            fields = dict(cart_id=cart_id, reservation_id=uuid.uuid4().hex, customer_name=customer_name,
                          shipping_address=shipping_address, stock_state=Checkout.HOLDING, outcome=None,
                          expires_at=now + self._hold, total_amount=ZERO, currency_code=self._currency, order_id=None,
                          created_at=now, updated_at=now)
            checkout = Checkout(id=_NEW_CHECKOUT(**fields), **fields)
            if not _TO_CHECKOUT.count(now, checkout.id, cart_id):  # not editable any more: the checkout rolls back
                raise _not_editable(cart)
            if not items:
                raise FailedPrecondition(f'cart {cart_id} is empty: add a product before checking out',
                                         reason='CART_EMPTY', cart_id=cart_id)
        cart.state, cart.checkout_id, cart.updated_at = Cart.CHECKING_OUT, checkout.id, now
        return cart, checkout, items, before

    async def _explained(self, refusal, lines):
        """The checkout's refusal as the shopper needs it: every line short of stock with what is available (Products
        names the first it found), or which product in the cart is gone."""
        if isinstance(refusal, ProductNotFound):
            return FailedPrecondition(f'product {refusal.product_id} in the cart no longer exists: remove it, then '
                                      'check out again', reason=refusal.reason, product_id=refusal.product_id)
        if not isinstance(refusal, InsufficientStock):
            return refusal
        try:
            levels = await self._stock.levels([product_id for product_id, _ in lines])
        except Unavailable:
            return refusal
        short = [(product_id, quantity, levels[product_id]) for product_id, quantity in lines
                 if product_id in levels and levels[product_id].stock_quantity < quantity] or \
            [(refusal.product_id, refusal.requested, None)]
        described = '; '.join(f'product {product_id}' + (f' ({level.product_name}): {quantity} in the cart, '
                                                          f'{level.stock_quantity} available' if level else '')
                              for product_id, quantity, level in short)
        return FailedPrecondition(
            f'not enough stock for {len(short)} line{"s" if len(short) > 1 else ""} of the cart: {described}; '
            'nothing is held', reason=refusal.reason, product_ids=','.join(str(line[0]) for line in short),
            requested=','.join(str(line[1]) for line in short),
            available=','.join(str(line[2].stock_quantity if line[2] else refusal.available) for line in short))

    async def complete(self, cart_id, owner=None):
        """The order the checkout's hold becomes (the same one on every retry); FailedPrecondition once expired."""
        return await to_the_end(self._complete(cart_id, owner))

    async def _complete(self, cart_id, owner):
        record, checkout, placed_now = await self._steps.run(self._place, cart_id, owner)
        if placed_now:
            self._counted.created.inc()
            self._counted.checkouts[COMPLETED].inc()
            await self._convert(checkout)
        return record

    def _place(self, cart_id, owner):
        """Place the order of a held checkout in one transaction that wins the checkout from its expiry: (the order,
        the checkout, whether this call placed it)."""
        while True:
            cart = _owned_cart(cart_id, owner)
            checkout = _checkout_of(cart)
            if cart.state == Cart.COMPLETED:
                return self._orders.get(checkout.order_id), checkout, False
            if cart.state != Cart.CHECKING_OUT:
                raise _not_checking_out(cart, checkout)
            if checkout.stock_state == Checkout.HOLDING:
                raise Unavailable(f'the checkout of cart {cart_id} is still taking its stock; try again shortly')
            now = utcnow()
            if checkout.expires_at <= now:
                raise _expired(checkout)
            lines = _LOCKED_LINES.rows(checkout.id)
            with database.atomic():
                # First the update that wins the checkout: the order's reservation id is unique, so a second
                # completion inserting it before learning it lost would fail.
                if not _CONVERTING.count(now, checkout.id, now):
                    continue  # expired, abandoned or completed by another call meanwhile: judge again
                record = record_order(
                    dict(reservation_id=checkout.reservation_id, request_id=None, request_digest=None,
                         customer_name=checkout.customer_name, customer_email=cart.customer_email,
                         shipping_address=checkout.shipping_address, total_amount=checkout.total_amount,
                         status='pending', stock_state=Order.RESERVED, currency_code=checkout.currency_code),
                    [rules.PricedItem(line.product_id, line.product_name, line.price, line.quantity, line.subtotal)
                     for line in lines], now)
                _ORDER_OF.count(record.order.id, checkout.id)
                _COMPLETED.count(now, cart_id)
            checkout.order_id = record.order.id
            return record, checkout, True

    async def abandon(self, cart_id, owner=None):
        """End the cart's checkout and give its stock back now."""
        cart = await self._steps.run(_owned_cart, cart_id, owner)
        checkout = await self._steps.run(_checkout_of, cart)
        if cart.state != Cart.CHECKING_OUT or not await self._end(checkout, ABANDONED, Cart.ABANDONED):
            raise _not_checking_out(await self._steps.run(_owned_cart, cart_id, owner), checkout)
        return await self.view(cart_id, owner)

    async def _end(self, checkout, outcome, cart_state, due=None):
        """End a live hold (`outcome`: abandoned, expired, interrupted), the cart going to `cart_state`, and give its
        stock back; False if it had ended already (completed, or ended otherwise). With `due`, only if it expires by
        then."""
        if not await self._steps.run(_mark_ending, checkout.id, checkout.cart_id, outcome, cart_state, due):
            return False
        self._counted.checkouts[outcome].inc()
        checkout.outcome = outcome
        await self._release(checkout)
        return True

    async def _release(self, checkout):
        """Give an ending hold's stock back and record it; True if done, False to leave it to recovery."""
        return await self._tell_products(
            checkout, self._stock.release(checkout.reservation_id, expired=checkout.outcome == EXPIRED),
            Checkout.RELEASING, Checkout.RELEASED, 'hold release deferred to recovery')

    async def _convert(self, checkout):
        """Tell Products that a hold became its order's reservation; True if done, False to leave it to recovery."""
        return await self._tell_products(
            checkout, self._stock.convert(checkout.reservation_id, checkout.order_id), Checkout.CONVERTING,
            Checkout.CONVERTED, 'hold conversion deferred to recovery')

    async def _tell_products(self, checkout, call, from_state, to_state, deferred):
        """Await `call`, which tells Products how a hold ended, then move the checkout from `from_state` to `to_state`;
        True if done, False (logged as `deferred`) when Products could not be reached or refused for now, which
        recovery's next pass tries again."""
        try:
            await call
        except (Unavailable, FailedPrecondition) as error:
            log.warning(deferred, extra={'fields': {'checkout_id': checkout.id, 'reason': error.reason}})
            return False
        await self._steps.run(_settle, checkout.id, from_state, to_state)
        return True

    async def expire_due(self):
        """End every hold whose time has come and give its stock back; returns how many."""
        due = await self._steps.run(_due, utcnow())

        async def expire(checkout):
            return await self._end(checkout, EXPIRED, Cart.EXPIRED, due=utcnow())
        expired = await each_at_most(RECOVERY_CALLS_AT_ONCE, expire, due)
        if expired:
            log.info('holds expired', extra={'fields': {'expired': expired}})
        return expired

    async def recover(self, stale_after):
        """Finish what a crash or an outage left: checkouts cut off while taking their stock (older than
        `stale_after`) are undone, ended holds get their stock back, completed ones are converted. Returns how many
        checkouts it settled."""
        stale, releasing, converting = await self._steps.run(_unfinished, utcnow() - stale_after)

        async def undo(checkout):
            return await self._end(checkout, INTERRUPTED, Cart.OPEN)
        settled = (await each_at_most(RECOVERY_CALLS_AT_ONCE, undo, stale)
                   + await each_at_most(RECOVERY_CALLS_AT_ONCE, self._release, releasing)
                   + await each_at_most(RECOVERY_CALLS_AT_ONCE, self._convert, converting))
        if settled:
            log.info('recovered checkouts', extra={'fields': {'settled': settled}})
        return settled


def _priced_now(cart, locked_lines):
    """Whether a cart shows current prices: while editable, and while its checkout has not locked them yet."""
    return cart.state in Cart.EDITABLE or not locked_lines


def _locked_view(cart, checkout, lines):
    views = [LineView(line.product_id, line.product_name, line.quantity, line.price, checkout.currency_code, HELD, 0)
             for line in lines]
    return CartView(cart, views, checkout.total_amount, checkout.currency_code, checkout)


def _owned_cart(cart_id, owner):
    """The cart row, or NotFound (also, to a customer (`owner`), for another customer's cart)."""
    found = _CART.rows(cart_id) if owner is None else _OWNED_CART.rows(cart_id, owner)
    cart = found[0] if found else None
    if cart is None:
        raise NotFound(f'cart {cart_id} not found', reason='CART_NOT_FOUND', cart_id=cart_id)
    return cart


def _read_cart(cart_id, owner):
    """[(cart, items, checkout, locked lines)] of one cart (_read_carts), or NotFound (_owned_cart)."""
    return _read_carts([_owned_cart(cart_id, owner)])


def _checkout_of(cart):
    found = _CHECKOUT.rows(cart.checkout_id) if cart.checkout_id else []
    return found[0] if found else None


def _read_carts(carts):
    """(cart, its items, its latest checkout, that checkout's locked lines) for each cart, in a few queries."""
    carts = list(carts)
    ids = [cart.id for cart in carts]
    items = {cart_id: [] for cart_id in ids}
    for item in CartItem.select().where(CartItem.cart.in_(ids)).order_by(CartItem.id):
        items[item.cart_id].append(item)
    checkouts = {checkout.id: checkout for checkout in
                 Checkout.select().where(Checkout.id.in_([cart.checkout_id for cart in carts if cart.checkout_id]))}
    lines = {checkout_id: [] for checkout_id in checkouts}
    for line in CheckoutLine.select().where(CheckoutLine.checkout.in_(list(checkouts))).order_by(CheckoutLine.id):
        lines[line.checkout_id].append(line)
    return [(cart, items[cart.id], checkouts.get(cart.checkout_id), lines.get(cart.checkout_id, []))
            for cart in carts]


def _page(query, page):
    carts, last_id = keyset_page(query, Cart.id, page.size, page.after, descending=True)
    return carts, last_id, query.count()


def _lock_lines(cart, now):
    """Reopen an editable cart for a change of its lines, in one conditional UPDATE that a checkout starting at the
    same time (_TO_CHECKOUT) cannot also win; False if the cart is not editable any more."""
    return (Cart.update(state=Cart.OPEN, updated_at=now)
            .where((Cart.id == cart.id) & Cart.state.in_(Cart.EDITABLE)).execute())


def _change_lines(cart_id, owner, change):
    """Run change() on an editable cart's lines, which reopens it, in one transaction."""
    with database.atomic():
        cart = _owned_cart(cart_id, owner)
        if not _lock_lines(cart, utcnow()):
            raise _not_editable(_owned_cart(cart_id, owner))
        change()


def _add(cart_id, product_id, quantity):
    line = CartItem.get_or_none(_line(cart_id, product_id))
    if line is not None:
        rules.line_quantity(line.quantity + quantity)
        CartItem.update(quantity=CartItem.quantity + quantity).where(CartItem.id == line.id).execute()
        return
    rules.line_count(CartItem.select().where(CartItem.cart == cart_id).count() + 1)
    CartItem.create(cart=cart_id, product_id=product_id, quantity=quantity)


def _line(cart_id, product_id):
    return (CartItem.cart == cart_id) & (CartItem.product_id == product_id)


def _no_line(cart_id, product_id):
    return NotFound(f'cart {cart_id} has no line for product {product_id}', reason='CART_LINE_NOT_FOUND',
                    cart_id=cart_id, product_id=product_id)


def _not_editable(cart):
    """The refusal to change, or check out, a cart that is not editable."""
    if cart.state == Cart.COMPLETED:
        return FailedPrecondition(f'cart {cart.id} was completed and cannot change; start a new cart',
                                  reason='CART_LOCKED', cart_id=cart.id, state=cart.state)
    return FailedPrecondition(f'cart {cart.id} is being checked out: complete or abandon the checkout before '
                              'changing it', reason='CART_LOCKED', cart_id=cart.id, state=cart.state)


def _not_checking_out(cart, checkout):
    if cart.state == Cart.EXPIRED and checkout is not None:
        return _expired(checkout)
    return FailedPrecondition(f'cart {cart.id} has no checkout under way (it is {cart.state.replace("_", " ")})',
                              reason='CART_NOT_CHECKING_OUT', cart_id=cart.id, state=cart.state)


def _expired(checkout):
    return FailedPrecondition(f'checkout expired at {checkout.expires_at:%Y-%m-%d %H:%M:%S} UTC: its stock was given '
                              'back; check the cart out again', reason='CHECKOUT_EXPIRED', cart_id=checkout.cart_id)


def _undo_start(checkout, before):
    """Drop a checkout that Products refused outright (nothing was taken), and give the cart back its state."""
    state, checkout_id = before
    with database.atomic():
        if Checkout.delete().where((Checkout.id == checkout.id)
                                   & (Checkout.stock_state == Checkout.HOLDING)).execute():
            (Cart.update(state=state, checkout_id=checkout_id)
             .where((Cart.id == checkout.cart_id) & (Cart.checkout_id == checkout.id)).execute())


def _hold_taken(checkout, reserved):
    """Record the held lines at their prices and the hold as held (in `checkout` too); return the lines, or None if
    the hold ended meanwhile."""
    items, total = rules.priced_items(reserved)
    lines = [CheckoutLine(checkout=checkout.id, product_id=item.product_id, product_name=item.product_name,
                          price=item.price, quantity=item.quantity, subtotal=item.subtotal) for item in items]
    with database.atomic():
        if not _HELD.count(total, utcnow(), checkout.id):
            return None
        for line in lines:
            line.id = _NEW_LINE(**line.__data__)
    checkout.stock_state, checkout.total_amount = Checkout.HELD, total
    return lines


def _mark_ending(checkout_id, cart_id, outcome, cart_state, due):
    """The one conditional UPDATE that ends a live hold; the cart goes to `cart_state` in the same transaction."""
    now = utcnow()
    condition = (Checkout.id == checkout_id) & Checkout.stock_state.in_(Checkout.LIVE)
    if due is not None:
        condition &= Checkout.expires_at <= due
    with database.atomic():
        ended = (Checkout.update(stock_state=Checkout.RELEASING, outcome=outcome, updated_at=now)
                 .where(condition).execute())
        if ended:
            (Cart.update(state=cart_state, updated_at=now)
             .where((Cart.id == cart_id) & (Cart.checkout_id == checkout_id)).execute())
    return bool(ended)


def _settle(checkout_id, from_state, to_state):
    _SETTLE.count(to_state, utcnow(), checkout_id, from_state)


def _due(now):
    return list(Checkout.select().where(Checkout.stock_state.in_(Checkout.LIVE) & (Checkout.expires_at <= now))
                .order_by(Checkout.expires_at).limit(EXPIRIES_PER_PASS))


def _unfinished(cutoff):
    """(checkouts cut off while taking their stock, before `cutoff`; ended ones whose stock is not back yet;
    completed ones Products has not been told of), each read whole before any write (see workflow._unfinished)."""
    return (list(Checkout.select().where((Checkout.stock_state == Checkout.HOLDING) & (Checkout.created_at < cutoff))),
            list(Checkout.select().where(Checkout.stock_state == Checkout.RELEASING)),
            list(Checkout.select().where(Checkout.stock_state == Checkout.CONVERTING)))

