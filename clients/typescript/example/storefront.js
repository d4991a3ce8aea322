// The storefront example's script: the generated client (../gen) over both browser protocols, and fetch for REST.
import {timestampDate} from '@bufbuild/protobuf/wkt';
import {createClient, Code, ConnectError} from '@connectrpc/connect';
import {createConnectTransport, createGrpcWebTransport} from '@connectrpc/connect-web';
import {ProductService} from '../gen/ecommerce/products/v1/products_pb.js';
import {OrderService, Order_Status} from '../gen/ecommerce/orders/v1/orders_pb.js';
import {CartService, Cart_State, CartLine_Availability} from '../gen/ecommerce/orders/v1/carts_pb.js';
import {BadRequestSchema} from '../gen/google/rpc/error_details_pb.js';

const gateway = new URLSearchParams(location.search).get('gateway') || 'http://127.0.0.1:8080';
// The same generated services over either browser protocol; Connect in its binary form, since the services read
// protobuf, not JSON (the gateway's README says why).
const transports = {
  'connect': createConnectTransport({baseUrl: gateway, useBinaryFormat: true}),
  'grpc-web': createGrpcWebTransport({baseUrl: gateway}),
};
const products = () => createClient(ProductService, transports[$('protocol').value]);
const orders = () => createClient(OrderService, transports[$('protocol').value]);
const carts = () => createClient(CartService, transports[$('protocol').value]);

const $ = (id) => document.getElementById(id);
$('gateway').value = gateway;

function token() {
  const value = $('token').value.trim();
  return value ? {authorization: value.startsWith('Bearer ') ? value : `Bearer ${value}`} : {};
}

function show(list, items) {
  $(list).replaceChildren(...items.map((product) => {
    const item = document.createElement('li');
    item.textContent = `${product.id} ${product.name} ${product.price} ${product.currencyCode}`;
    item.dataset.id = String(product.id);
    return item;
  }));
}

// Every failure in one line: the status code as gRPC names it and the service's message, or why the browser got no
// answer at all.
function described(error) {
  return error instanceof ConnectError
    ? `${Code[error.code].replace(/\B([A-Z])/g, '_$1').toUpperCase()}: ${error.rawMessage}` : String(error);
}

async function reported(action) {
  $('error').value = '';
  try {
    await action();
  } catch (error) {
    $('error').value = described(error);
  }
}

$('list').addEventListener('click', () => reported(async () => {
  show('products', (await products().listProducts({pageSize: 50})).products);
}));

$('search').addEventListener('click', () => reported(async () => {
  show('found', (await products().searchProducts({q: $('query').value})).products);
}));

// One order watched at a time: a new watch ends the last one.
let watching = new AbortController();

function watch(orderId) {
  watching.abort();
  watching = new AbortController();
  const {signal} = watching;
  (async () => {
    for await (const update of orders().watchOrder({id: orderId}, {headers: token(), signal})) {
      $('order-status').value = Order_Status[update.order.status];
    }
  })().catch((error) => { if (!signal.aborted) $('error').value = described(error); });
}

$('order').addEventListener('click', () => reported(async () => {
  $('placed').value = $('refused').value = '';
  const reply = await fetch(`${gateway}/api/orders`, {
    method: 'POST',
    headers: {'content-type': 'application/json', ...token()},
    body: JSON.stringify({customer_name: $('name').value, customer_email: $('email').value,
                          shipping_address: $('address').value,
                          items: [{product_id: $('product-id').value, quantity: Number($('quantity').value)}]}),
  });
  const body = await reply.json();
  if (reply.status !== 201) {
    // The google.rpc.Status JSON: its BadRequest names each field and why.
    const violations = (body.details || []).flatMap((detail) => detail.field_violations || []);
    $('refused').value = violations.map((v) => `${v.field}: ${v.description}`).join('; ') || body.message;
    return;
  }
  $('placed').value = `${reply.status} ${reply.headers.get('location')}`;
  watch(BigInt(body.id));
}));

// The cart: each change, then the cart as it reads now (current prices and stock while open, the hold once checking
// out, the order once completed).
let cartId = null;

function showCart(cart) {
  const held = cart.state === Cart_State.CHECKING_OUT && cart.holdExpiresAt
    ? `held until ${timestampDate(cart.holdExpiresAt).toTimeString().slice(0, 8)}` : '';
  $('cart').value = `${cart.id} (${cart.customerEmail})`;
  $('cart-state').value = [Cart_State[cart.state], held, cart.orderId ? `order ${cart.orderId}` : '']
    .filter(Boolean).join(', ');
  $('cart-lines').replaceChildren(...cart.lines.map((line) => {
    const item = document.createElement('li');
    const availability = CartLine_Availability[line.availability].toLowerCase().replaceAll('_', ' ');
    item.textContent = `${line.productName}: ${line.quantity} × ${line.unitPrice} ${line.currencyCode} = `
      + `${line.subtotal} ${line.currencyCode} (${availability})`;
    item.dataset.id = String(line.productId);
    return item;
  }));
  $('cart-total').value = `${cart.totalAmount} ${cart.currencyCode}`;
}

function changeCart(change) {
  return () => reported(async () => {
    if (cartId === null) throw new Error('no cart yet: New cart first');
    await change(carts(), {headers: token()});
    showCart(await carts().getCart({id: cartId}, {headers: token()}));
  });
}

$('new-cart').addEventListener('click', () => reported(async () => {
  const cart = await carts().createCart({customerEmail: $('email').value}, {headers: token()});
  cartId = cart.id;
  showCart(cart);
}));

$('add-to-cart').addEventListener('click', changeCart((client, options) => client.addCartItem(
  {cartId, productId: BigInt($('product-id').value), quantity: Number($('quantity').value)}, options)));

$('checkout').addEventListener('click', changeCart((client, options) => client.checkoutCart(
  {id: cartId, customerName: $('name').value, shippingAddress: $('address').value}, options)));

$('complete').addEventListener('click', changeCart(async (client, options) => {
  watch((await client.completeCheckout({id: cartId}, options)).id);
}));

$('abandon').addEventListener('click', changeCart((client, options) => client.abandonCheckout({id: cartId}, options)));

// Envoy's Connect bridge names each error detail's type as google.protobuf.Any does (type.googleapis.com/...), where
// the Connect protocol, and so findDetails, expects the bare message name.
function withBareDetailTypes(error) {
  error.details = error.details.map((detail) =>
    'type' in detail ? {...detail, type: detail.type.replace(/^type\.googleapis\.com\//, '')} : detail);
  return error;
}

// Over gRPC the same refusal arrives as a ConnectError whose details hold the BadRequest (from gRPC-Web's
// grpc-status-details-bin, or the Connect error's details).
async function refusedOverGrpc() {
  try {
    await orders().createOrder(
      {customerName: 'Ann', customerEmail: 'ann@example.com', shippingAddress: '1 Web Way', items: []},
      {headers: token()});
    return 'placed';
  } catch (error) {
    return withBareDetailTypes(ConnectError.from(error)).findDetails(BadRequestSchema)
      .flatMap((request) => request.fieldViolations.map((v) => `${v.field}: ${v.description}`)).join('; ');
  }
}
window.storefront = {refusedOverGrpc};
