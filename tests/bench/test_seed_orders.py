"""bench.seed.seed_orders and the Orders listings' targets: the seeded orders read back through the real Orders service
as bench.dataset made them, with their items, totals and histories, and the first and last pages the targets ask for
are the ones the service itself pages to."""
import collections
import contextlib
import itertools
import types
from decimal import Decimal

import grpc
import pytest
from ecommerce.defaults import SHOP_CURRENCY
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from bench import dataset
from bench.processes import start_service
from bench.seed import seed_orders, seed_products
from bench.targets import PAGE_SIZE, GrpcDirect
from services.orders import rules
from services.settings import MAX_PAGE_SIZE
from storage import orders as orders_storage
from tests.conftest import bound_storage

ORDERS, CUSTOMERS, PRODUCTS = 3000, 300, 50
Status = orders_pb2.Order.Status


@pytest.fixture(scope='module')
def shop(new_database, tmp_path_factory):
    """Products and Orders as the benchmark runs them (bench.processes), over databases seeded with PRODUCTS products
    and ORDERS orders of CUSTOMERS customers: stubs of both and the gRPC-direct target; both stopped at the end, pass
    or fail."""
    folder = tmp_path_factory.mktemp('seeded-shop')
    products_url, orders_url = new_database('products'), new_database('orders')
    seed_products(products_url, PRODUCTS)
    seed_orders(orders_url, ORDERS, CUSTOMERS, PRODUCTS)
    with contextlib.ExitStack() as stack:
        process, products = start_service('products', products_url, folder)
        stack.callback(process.stop)
        process, orders = start_service('orders', orders_url, folder, ['--products-address', products])
        stack.callback(process.stop)
        products_channel, orders_channel = (stack.enter_context(grpc.insecure_channel(address))
                                            for address in (products, orders))
        yield types.SimpleNamespace(
            orders=orders_pb2_grpc.OrderServiceStub(orders_channel),
            products=products_pb2_grpc.ProductServiceStub(products_channel),
            target=GrpcDirect(types.SimpleNamespace(pids={}, products=products, orders=orders)))


@pytest.fixture(scope='module')
def history():
    """What the dataset seeded: {order id: (SeededOrder, items, total)} and {order id: [SeededEvent, ...]}."""
    items = dataset.OrderItems(PRODUCTS)
    orders, events = {}, collections.defaultdict(list)
    for row in dataset.order_history(ORDERS, CUSTOMERS):
        if isinstance(row, dataset.SeededEvent):
            events[row.order_id].append(row)
        else:
            orders[row.id] = (row, *items.next_order())
    return types.SimpleNamespace(orders=orders, events=events, listings=dataset.order_listings(ORDERS, CUSTOMERS))


def answer(request, response_type):
    """The service's answer to a request a target built (a bench.loadgen.LoadRequest), read as `response_type`."""
    address, _, method = request.url.removeprefix('http://').partition('/')
    with grpc.insecure_channel(address) as channel:
        return response_type.FromString(channel.unary_unary(f'/{method}')(request.grpc_message, timeout=10))


def pages(call, request):
    """Every page of a listing as the service pages it: [(the page_token asked with, response)]."""
    found, token = [], ''
    while True:
        request.page_token = token
        response = call(request, timeout=10)
        found.append((token, response))
        token = response.next_page_token
        if not token:
            return found


def ids_of(rows):
    return [row.id for row in rows]


def test_the_dataset_states_the_workflow_of_the_rules():
    steps = {source: target for source, target, _hours in dataset.ORDER_STEPS}
    assert dataset.ORDER_STATUSES == rules.STATUSES
    assert steps == rules.NEXT_STATUS
    assert dataset.CANCELLABLE == rules.CANCELLABLE
    assert dataset.CANCELLED in rules.FINAL_STATUSES and dataset.FINAL_STEP_STATUS in rules.FINAL_STATUSES
    assert dataset.OLDEST_KEYS == MAX_PAGE_SIZE + 1


def test_the_history_is_the_same_for_the_same_seed_with_event_ids_in_time_order(history):
    assert list(dataset.order_history(200, 20)) == list(dataset.order_history(200, 20))
    assert list(dataset.order_history(200, 20, seed=1)) != list(dataset.order_history(200, 20))
    events = sorted((event for order_events in history.events.values() for event in order_events),
                    key=lambda event: event.id)
    assert [event.id for event in events] == list(range(1, len(events) + 1))
    assert [event.created_at for event in events] == sorted(event.created_at for event in events)
    placed = [order.created_at for order, _items, _total in history.orders.values()]
    assert placed == sorted(placed) and placed[-1] <= dataset.HISTORY_END


def test_every_status_is_seeded_in_a_plausible_share_and_customer_1_places_the_most(history):
    shares = collections.Counter(order.status for order, _items, _total in history.orders.values())
    assert set(shares) == set(rules.STATUSES)
    assert shares['delivered'] > ORDERS / 2
    assert all(ORDERS / 100 < shares[status] < ORDERS / 5 for status in rules.STATUSES if status != 'delivered')
    by_customer = collections.Counter(order.customer for order, _items, _total in history.orders.values())
    assert by_customer.most_common(1)[0][0] == dataset.BUSIEST_CUSTOMER
    assert by_customer[dataset.BUSIEST_CUSTOMER] > 2 * PAGE_SIZE
    assert 0 < by_customer[dataset.typical_customer(CUSTOMERS)] <= PAGE_SIZE


def test_seeded_orders_read_back_with_their_status_items_and_total(shop, history):
    catalogue = {product_id: shop.products.GetProduct(products_pb2.GetProductRequest(id=product_id), timeout=10)
                 for product_id in range(1, PRODUCTS + 1)}
    for order_id in [*range(1, ORDERS + 1, 97), ORDERS]:
        seeded, items, total = history.orders[order_id]
        order = shop.orders.GetOrder(orders_pb2.GetOrderRequest(id=order_id), timeout=10)
        assert (order.status, order.total_amount, order.currency_code) == (
            Status.Value(seeded.status.upper()), total, SHOP_CURRENCY)
        assert (order.customer_email, order.customer_name, order.shipping_address) == (
            dataset.customer_email(seeded.customer), dataset.customer_name(seeded.customer),
            dataset.shipping_address(seeded.customer))
        assert (order.created_at.ToDatetime(), order.updated_at.ToDatetime()) == (seeded.created_at,
                                                                                  seeded.updated_at)
        assert [(item.product_id, item.product_name, item.price, item.quantity, item.subtotal)
                for item in order.items] == items
        assert 1 <= len(items) <= 5 and len({item.product_id for item in order.items}) == len(items)
        assert all(Decimal(item.subtotal) == Decimal(item.price) * item.quantity for item in order.items)
        assert Decimal(order.total_amount) == sum(Decimal(item.subtotal) for item in order.items)
        for item in order.items:  # the snapshot of the product as the catalogue has it
            assert (item.product_name, item.price) == (catalogue[item.product_id].name,
                                                       catalogue[item.product_id].price)


def test_each_status_lists_as_seeded_and_its_last_page_is_the_one_the_service_pages_to(shop, history):
    for status in rules.STATUSES:
        listing = history.listings.by_status[status]
        expected = sorted(order.id for order, _items, _total in history.orders.values() if order.status == status)
        assert listing.total == len(expected) > PAGE_SIZE
        walked = pages(shop.orders.ListOrders, orders_pb2.ListOrdersRequest(status=Status.Value(status.upper()),
                                                                           page_size=PAGE_SIZE))
        first = answer(shop.target.list_orders(status), orders_pb2.ListOrdersResponse)
        assert ids_of(first.orders) == ids_of(walked[0][1].orders) == expected[::-1][:PAGE_SIZE]
        assert first.total_size == listing.total and first.next_page_token
        last = answer(shop.target.list_orders(status, listing.last_page_after(PAGE_SIZE)),
                      orders_pb2.ListOrdersResponse)
        assert last.orders and not last.next_page_token
        assert ids_of(last.orders) == ids_of(walked[-1][1].orders) == expected[:len(last.orders)][::-1]
        assert shop.target.list_orders(status, listing.last_page_after(PAGE_SIZE)).grpc_message == \
            orders_pb2.ListOrdersRequest(status=Status.Value(status.upper()), page_size=PAGE_SIZE,
                                         page_token=walked[-1][0]).SerializeToString()
        assert {order.status for order in [*first.orders, *last.orders]} == {Status.Value(status.upper())}


def test_a_customers_orders_list_as_seeded_from_the_first_to_the_last_page(shop, history):
    busiest, typical = dataset.BUSIEST_CUSTOMER, dataset.typical_customer(CUSTOMERS)
    page_counts = {}
    for customer in (busiest, typical):
        email, listing = dataset.customer_email(customer), history.listings.by_customer[customer]
        expected = sorted(order.id for order, _items, _total in history.orders.values() if order.customer == customer)
        assert listing.total == len(expected)
        walked = pages(shop.orders.GetOrdersByCustomer,
                       orders_pb2.GetOrdersByCustomerRequest(email=email, page_size=PAGE_SIZE))
        first = answer(shop.target.orders_by_customer(email), orders_pb2.GetOrdersByCustomerResponse)
        assert ids_of(first.orders) == expected[::-1][:PAGE_SIZE] and first.total_size == listing.total
        last = answer(shop.target.orders_by_customer(email, listing.last_page_after(PAGE_SIZE)),
                      orders_pb2.GetOrdersByCustomerResponse)
        assert last.orders and not last.next_page_token
        assert ids_of(last.orders) == ids_of(walked[-1][1].orders) == expected[:len(last.orders)][::-1]
        assert {order.customer_email for order in [*first.orders, *last.orders]} == {email}
        page_counts[customer] = len(walked)
    assert page_counts[busiest] > 2 and page_counts[typical] == 1


def test_an_orders_events_are_the_steps_to_its_status(shop, history):
    for status in rules.STATUSES:
        page = shop.orders.ListOrders(orders_pb2.ListOrdersRequest(status=Status.Value(status.upper()),
                                                                   page_size=5), timeout=10)
        for order in page.orders:
            events = shop.orders.ListOrderEvents(orders_pb2.ListOrderEventsRequest(order_id=order.id),
                                                 timeout=10).events[::-1]  # oldest first
            steps = [(Status.Name(event.from_status).lower(), Status.Name(event.to_status).lower())
                     for event in events]
            assert steps[0] == ('status_unspecified', 'pending')
            assert all(previous[1] == step[0] for previous, step in itertools.pairwise(steps))
            assert steps[-1][1] == status
            assert (events[0].time.ToDatetime(), events[-1].time.ToDatetime()) == (
                order.created_at.ToDatetime(), order.updated_at.ToDatetime())
            assert [(event.id, event.request_id) for event in events] == [
                (seeded.id, f'{seeded.id:032x}') for seeded in history.events[order.id]]


def test_the_first_and_last_page_of_an_orders_history(shop, history):
    order_id, listing = history.listings.history_order, history.listings.history
    assert history.orders[order_id][0].status == dataset.FINAL_STEP_STATUS
    expected = [event.id for event in history.events[order_id]]
    assert list(listing.oldest) == expected and listing.total == len(dataset.ORDER_STEPS) + 1
    first = answer(shop.target.order_events(order_id, page_size=dataset.HISTORY_PAGE_SIZE),
                   orders_pb2.ListOrderEventsResponse)
    last = answer(shop.target.order_events(order_id, listing.last_page_after(dataset.HISTORY_PAGE_SIZE),
                                           dataset.HISTORY_PAGE_SIZE), orders_pb2.ListOrderEventsResponse)
    assert ids_of(first.events) == expected[::-1][:dataset.HISTORY_PAGE_SIZE] and first.next_page_token
    assert ids_of(last.events) == expected[:dataset.HISTORY_PAGE_SIZE][::-1] and not last.next_page_token


def test_after_the_seed_new_orders_and_events_take_the_next_ids_and_a_second_seed_is_refused(new_database):
    url = new_database('orders')
    seed_orders(url, 10, 10, PRODUCTS)
    events = sum(isinstance(row, dataset.SeededEvent) for row in dataset.order_history(10, 10))
    with pytest.raises(ValueError, match='empty'):
        seed_orders(url, 10, 10, PRODUCTS)
    with bound_storage(orders_storage, url):
        order = orders_storage.Order.create(
            reservation_id='after-the-seed', customer_name='Ada', customer_email='ada@example.com',
            shipping_address='1 Main Street', status='pending', stock_state='reserved', currency_code=SHOP_CURRENCY)
        event = orders_storage.OrderEvent.create(order_id=order.id, from_status='', to_status='pending',
                                                 request_id='')
    assert (order.id, event.id) == (11, events + 1)
