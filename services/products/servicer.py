"""ProductService over gRPC: protobuf in and out; the rules and storage do the work."""
import logging

from ecommerce.products.v1 import products_pb2, products_pb2_grpc
from google.protobuf import empty_pb2

from services.identifiers import positive_id
from services.money import format_money, same_currency
from services.pagination import next_page_token, page_request
from services.products import catalog, rules

Category = products_pb2.Product.Category
LISTING = 'products'
log = logging.getLogger('services.products')


def category_name(value):
    """'electronics' for ELECTRONICS; an unknown number stays a number, which validation rejects."""
    try:
        return Category.Name(value).lower()
    except ValueError:
        return str(value)


def present_fields(product):
    """The editable fields set in a Product message, as raw values for the rules."""
    values = {field: getattr(product, field) for field in rules.EDITABLE_FIELDS if product.HasField(field)}
    if 'category' in values:
        values['category'] = category_name(values['category'])
    return values


def carried_stock(stored, product_id):
    """A stored stock as the API carries it: 0 to MAX_STOCK. A row outside (written by an older release, whose
    releases did not keep the limit, or by hand) reads as the nearest bound, with a warning naming the figure stored,
    rather than failing every read of its product; the row keeps that figure until an admin sets the stock."""
    carried = min(max(stored, 0), rules.MAX_STOCK)
    if carried != stored:
        log.warning('stock outside the range the API carries', extra={'fields': {
            'product_id': product_id, 'stored': stored, 'reported': carried}})
    return carried


def priced(fields, product, shop, field='product'):
    """`fields` of a product (cleaned) with the currency of their price: the shop's, which the client may name in
    `product` (a Product message; `field` names it in errors) but not contradict. A change without a price keeps
    the product's."""
    same_currency(product.currency_code if product.HasField('currency_code') else '', f'{field}.currency_code', shop)
    return {**fields, 'currency_code': shop} if 'price' in fields else fields


def product_message(product):
    message = products_pb2.Product(
        id=product.id, name=product.name, description=product.description, price=format_money(product.price),
        currency_code=product.currency_code, stock_quantity=carried_stock(product.stock_quantity, product.id),
        category=Category.Value(product.category.upper()))
    message.created_at.FromDatetime(product.created_at)
    message.updated_at.FromDatetime(product.updated_at)
    return message


def movement_message(movement):
    # A movement of a row outside the API's range shows its ends as they are read (carried_stock), and the
    # difference between them as its delta.
    before = carried_stock(movement.stock_after - movement.delta, movement.product_id)
    after = carried_stock(movement.stock_after, movement.product_id)
    message = products_pb2.StockMovement(
        id=movement.id, product_id=movement.product_id, delta=after - before, stock_before=before, stock_after=after,
        reason=products_pb2.StockMovement.Reason.Value(movement.reason.upper()),
        reservation_id=movement.reservation_id or '', request_id=movement.request_id, actor=movement.actor or '',
        cart_id=movement.cart_id or 0, order_id=movement.order_id or 0)
    message.time.FromDatetime(movement.created_at)
    return message


def product_id(value, field='id'):
    return positive_id(value, field, 'product')


class ProductServicer(products_pb2_grpc.ProductServiceServicer):
    SERVICE_NAME = products_pb2.DESCRIPTOR.services_by_name['ProductService'].full_name

    def __init__(self, steps, currency):
        self._steps = steps
        self._currency = currency  # the shop's: new prices are in it

    # Every call but ImportProducts is a database step (services.server.DatabaseSteps); an import reads its stream
    # first, then inserts in a step of its own.
    async def ImportProducts(self, request_iterator, context):
        sent, validate_only = [], None
        async for request in request_iterator:
            validate_only = request.validate_only if validate_only is None else validate_only
            sent += request.products
            rules.import_size(len(sent))
        cleaned = rules.imported_products([present_fields(product) for product in sent])
        products = [priced(fields, product, self._currency, f'products[{row}]')
                    for row, (fields, product) in enumerate(zip(cleaned, sent, strict=True))]
        if validate_only:
            return products_pb2.ImportProductsResponse()
        first_id, last_id = await self._steps.run_long(catalog.import_products, products)
        return products_pb2.ImportProductsResponse(imported_count=len(products), first_id=first_id, last_id=last_id)

    def CreateProduct(self, request, context):
        fields = rules.new_product_fields(present_fields(request.product))
        return product_message(catalog.create_product(priced(fields, request.product, self._currency)))

    def GetProduct(self, request, context):
        return product_message(catalog.get_product(product_id(request.id)))

    def UpdateProduct(self, request, context):
        changes = priced(rules.changes_for_update(list(request.update_mask.paths), present_fields(request.product)),
                         request.product, self._currency)
        return product_message(catalog.update_product(product_id(request.product.id, 'product.id'), changes))

    def DeleteProduct(self, request, context):
        catalog.delete_product(product_id(request.id))
        return empty_pb2.Empty()

    def ListProducts(self, request, context):
        page = catalog.list_products(page_request(request.page_size, request.page_token, LISTING))
        return products_pb2.ListProductsResponse(**_page_fields(page, LISTING))

    def SearchProducts(self, request, context):
        search = rules.search_filter(request.q, category_name(request.category) if request.category else '',
                                     request.min_price, request.max_price,
                                     request.stock_below if request.HasField('stock_below') else None)
        page = catalog.list_products(page_request(request.page_size, request.page_token, search.listing()), search)
        return products_pb2.SearchProductsResponse(**_page_fields(page, search.listing()))

    def ListStockMovements(self, request, context):
        the_product = product_id(request.product_id, 'product_id')
        listing = f'movements|{the_product}'
        page = catalog.stock_movements(the_product, page_request(request.page_size, request.page_token, listing))
        return products_pb2.ListStockMovementsResponse(
            movements=[movement_message(movement) for movement in page.movements], total_size=page.total_size,
            next_page_token=next_page_token(page.last_id, listing))


def _page_fields(page, listing):
    return {
        'products': [product_message(product) for product in page.products],
        'next_page_token': next_page_token(page.last_id, listing),
        'total_size': page.total_size,
    }
