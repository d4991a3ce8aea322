// The storefront example's script: the generated client (../gen) over both browser protocols, and fetch for REST.
import {createClient, ConnectError} from '@connectrpc/connect';
import {createConnectTransport, createGrpcWebTransport} from '@connectrpc/connect-web';
import {ProductService} from '../gen/ecommerce/products/v1/products_pb.js';
import {OrderService, Order_Status} from '../gen/ecommerce/orders/v1/orders_pb.js';
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

// Every failure in one line: the service's message, or why the browser got no answer at all.
async function reported(action) {
  $('error').value = '';
  try {
    await action();
  } catch (error) {
    $('error').value = error instanceof ConnectError ? `${error.code}: ${error.rawMessage}` : String(error);
  }
}

$('list').addEventListener('click', () => reported(async () => {
  show('products', (await products().listProducts({pageSize: 50})).products);
}));

$('search').addEventListener('click', () => reported(async () => {
  show('found', (await products().searchProducts({q: $('query').value})).products);
}));

async function watch(orderId) {
  for await (const update of orders().watchOrder({id: orderId}, {headers: token()})) {
    $('order-status').value = Order_Status[update.order.status];
  }
}

$('order').addEventListener('click', () => reported(async () => {
  $('placed').value = $('refused').value = '';
  const reply = await fetch(`${gateway}/api/orders`, {
    method: 'POST',
    headers: {'content-type': 'application/json', ...token()},
    body: JSON.stringify({customer_name: 'Ann', customer_email: 'ann@example.com', shipping_address: '1 Web Way',
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
  watch(BigInt(body.id)).catch((error) => { $('error').value = String(error); });
}));

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
