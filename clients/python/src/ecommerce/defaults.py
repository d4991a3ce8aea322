"""Facts the services and their clients share: where a local system listens, the limits every call is held to, and
the release each command reports."""
from importlib import metadata

# Where `make run` serves each part, and so where a client looks unless told otherwise.
PRODUCTS_ADDRESS = '127.0.0.1:50051'
ORDERS_ADDRESS = '127.0.0.1:50052'
GATEWAY_ADDRESS = '127.0.0.1:8080'
# The largest request either server reads (gRPC answers RESOURCE_EXHAUSTED above it) and the largest REST body Envoy
# takes (413 above it). A JSON body is never smaller than its protobuf, so whatever Envoy passes on fits.
MAX_MESSAGE_BYTES = 1024 * 1024
# Listings (ListProducts, SearchProducts, ListOrders, ...): the most rows a page holds whatever page_size asks for (a
# larger page_size is lowered to this, AIP-158).
MAX_PAGE_SIZE = 100
# The shop's currency (ISO 4217) unless its services are told another (SHOP_CURRENCY): every amount the API returns
# states its own beside it (currency_code).
SHOP_CURRENCY = 'USD'


def release(distribution):
    """What `--version` prints: the distribution and the version its metadata carries (the VERSION file's, for the
    server and the client alike), e.g. `ecommerce-client 0.1.0`."""
    try:
        number = metadata.version(distribution)
    except metadata.PackageNotFoundError:  # a checkout run without `make` having installed it
        number = 'unknown: not installed'
    return f'{distribution} {number}'
