// The admin console's behaviour: four views (products, orders, carts, low stock) over the REST API on this origin.
// Everything shown comes from the API as it answered; rules (validation, the order workflow, checkouts) stay on the
// server, whose messages are shown next to the field they name. Prices and totals stay the decimal strings the API
// sends.
'use strict';

// --- what the page restates of the API --------------------------------------------------------------------------
// Stated here, in plain literals, so that the page needs no build step; tests/unit/test_restated_facts.py checks
// each one against the contract (protos/) or the rules (services/*/rules.py), so a change there fails a test until
// it is made here too.

// Rows a page asks for: at most the API's largest page (MAX_PAGE_SIZE), or the ranges shown would be wrong.
const PAGE_SIZE = 20;
// Product.Category and Order.Status in lower case, in the contract's order, without their UNSPECIFIED zero.
const CATEGORIES = ['electronics', 'clothing', 'books', 'home', 'sports', 'toys', 'other'];
const ORDER_STATUSES = ['pending', 'processing', 'shipped', 'delivered', 'cancelled'];
// The from_status of an order's first event, the one that placed it: Order.Status's zero.
const PLACED_FROM_STATUS = 'STATUS_UNSPECIFIED';
// The order workflow (services/orders/rules.py), for labelling the one step forward an order can take and offering
// a cancellation; the server decides what is allowed.
const NEXT_STATUS = {pending: 'processing', processing: 'shipped', shipped: 'delivered'};
const CANCELLABLE = ['pending', 'processing'];
// Cart.State in lower case, in the contract's order, without its UNSPECIFIED zero.
const CART_STATES = ['open', 'checking_out', 'completed', 'abandoned', 'expired'];
// The Product fields a client sets (services/products/rules.py), each a control of the product dialog.
const PRODUCT_FIELDS = ['name', 'description', 'price', 'stock_quantity', 'category'];

// --- the API ------------------------------------------------------------------------------------------------

class ApiError extends Error {
  /** A refusal from the API: the google.rpc.Status JSON it answered, or what went wrong on the way. */
  constructor(message, violations = []) {
    super(message);
    this.violations = violations; // [{field, description}] from google.rpc.BadRequest
  }
}

function violationsOf(status) {
  const details = status.details || [];
  const badRequest = details.find((detail) => String(detail['@type']).endsWith('google.rpc.BadRequest'));
  if (badRequest) return badRequest.field_violations || [];
  // Envoy's transcoder refuses a value it cannot parse ("product.stock_quantity: invalid value ...") before any
  // service sees it, without details; its message starts with the field's path.
  const parsed = details.length ? null : /^([a-z_.]+): (.*)$/s.exec(status.message || '');
  return parsed ? [{field: parsed[1].split('.').pop(), description: parsed[2]}] : [];
}

// The bearer token the operator gave (shops that check tokens need an admin's), kept for this tab only.
const TOKEN_KEY = 'shop-admin-token';

function authorization() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? {authorization: `Bearer ${token}`} : {};
}

async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: {...authorization(), ...(body === undefined ? {} : {'content-type': 'application/json'})},
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError('The gateway did not answer; check that the shop is running, then try again.');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (error) {
    // Not JSON: said below if it was an error.
  }
  if (!response.ok) {
    if (data && typeof data.message === 'string') throw new ApiError(data.message, violationsOf(data));
    throw new ApiError(`The gateway answered HTTP ${response.status}.`);
  }
  return data;
}

function query(parameters) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== '' && value !== undefined && value !== null) search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

// --- small DOM helpers ------------------------------------------------------------------------------------

function fromTemplate(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

function fill(element, cells) {
  for (const [name, value] of Object.entries(cells)) {
    element.querySelector(`[data-cell="${name}"]`).textContent = value;
  }
}

/** An amount with the currency the API states beside it: "19.99 USD"; nothing for no amount (the price of a cart's
 *  line whose product is gone). */
function money(amount, currencyCode) {
  return amount ? `${amount} ${currencyCode}` : '';
}

function lower(enumName) {
  return String(enumName || '').toLowerCase();
}

/** An enum value as words: CHECKING_OUT is "checking out". */
function words(enumName) {
  return lower(enumName).replaceAll('_', ' ');
}

/** A <time> in the reader's locale; timeStyle 'medium' adds the seconds, which a history needs. A narrow column
 *  may break it between the date and the time of day, not inside either. */
function shownTime(timestamp, timeStyle) {
  if (!timestamp) return '';
  const time = document.createElement('time');
  time.dateTime = timestamp;
  const date = new Date(timestamp);
  const parts = [`${date.toLocaleDateString(undefined, {dateStyle: 'medium'})},`,
    date.toLocaleTimeString(undefined, {timeStyle})].map((text) => {
    const part = document.createElement('span');
    part.className = 'unbroken';
    part.textContent = text;
    return part;
  });
  time.append(parts[0], ' ', parts[1]);
  return time;
}

function setTime(cell, timestamp, timeStyle = 'short') {
  cell.replaceChildren(shownTime(timestamp, timeStyle));
}

function fillCategories(select) {
  select.replaceChildren(new Option(select.dataset.categories, ''),
    ...CATEGORIES.map((category) => new Option(category, category)));
}

/** Server messages next to the fields they name; the rest, or a refusal without fields, under the form. */
function showErrors(form, error) {
  clearErrors(form);
  const general = [];
  let first = null;
  for (const violation of error.violations || []) {
    const input = form.elements.namedItem(violation.field);
    if (!input || !input.getAttribute('aria-describedby')) {
      general.push(`${violation.field}: ${violation.description}`);
      continue;
    }
    input.setAttribute('aria-invalid', 'true');
    const message = document.getElementById(input.getAttribute('aria-describedby').split(' ')[0]);
    message.textContent = violation.description;
    first = first || input;
  }
  if (!first || general.length) form.querySelector('.form-error').textContent = general.join(' ') || error.message;
  if (first) first.focus();
}

function clearErrors(form) {
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  for (const message of form.querySelectorAll('.field-error, .form-error')) message.textContent = '';
}

// --- paging -------------------------------------------------------------------------------------------------

/** One view's table, a page at a time with the API's page tokens: forward with next_page_token, back through
 *  the tokens of the pages already seen. `load(filters, token)` answers {items, next_page_token, total_size}. */
class PagedTable {
  constructor(section, {load, render, noun, onError}) {
    this.section = section;
    this.body = section.querySelector(':scope > table > tbody');
    this.status = section.querySelector('.view-status');
    const pager = fromTemplate('pager');
    pager.setAttribute('aria-label', `${section.querySelector('h2').textContent} pages`);
    section.append(pager);
    this.label = pager.querySelector('.page-label');
    this.previousButton = pager.querySelector('[data-page="previous"]');
    this.nextButton = pager.querySelector('[data-page="next"]');
    Object.assign(this, {load, render, noun, onError});
    this.filters = null;
    this.tokens = ['']; // the token of every page from the first to the one shown
    this.nextToken = '';
    this.shown = 0; // which request's answer the table shows: a late answer to an older one is dropped
    this.previousButton.addEventListener('click', () => { this.tokens.pop(); this.show(); });
    this.nextButton.addEventListener('click', () => { this.tokens.push(this.nextToken); this.show(); });
  }

  start(filters) {
    this.filters = filters;
    this.tokens = [''];
    return this.show();
  }

  async show(notice = '') {
    const request = ++this.shown;
    this.section.setAttribute('aria-busy', 'true');
    this.status.textContent = 'Loading…';
    try {
      const page = await this.load(this.filters, this.tokens[this.tokens.length - 1]);
      if (request !== this.shown) return;
      this.nextToken = page.next_page_token || '';
      this.body.replaceChildren(...page.items.map((item) => this.render(item)));
      this.count = page.items.length;
      this.total = page.total_size;
      this.label.textContent = `Page ${this.tokens.length}`;
      this.status.textContent = [notice, this.range()].filter(Boolean).join(' ');
    } catch (error) {
      if (request !== this.shown) return;
      this.body.replaceChildren();
      this.nextToken = '';
      this.status.textContent = '';
      this.onError(error);
    } finally {
      if (request === this.shown) {
        this.section.removeAttribute('aria-busy');
        this.previousButton.disabled = this.tokens.length === 1;
        this.nextButton.disabled = !this.nextToken;
      }
    }
  }

  range() {
    const first = (this.tokens.length - 1) * PAGE_SIZE + 1;
    return `${this.noun}: ${this.count ? `${first}–${first + this.count - 1} of ${this.total}` : 'none'}.`;
  }

  /** A row the view added by itself (an order placed while the page was shown) counts in the range. */
  added() {
    this.count += 1;
    this.total += 1;
    this.status.textContent = this.range();
  }
}

/** A filter form in front of a PagedTable: its fields become the listing's filters; errors show beside them. */
function filteredTable(section, options) {
  const form = section.querySelector('form.filters');
  const table = new PagedTable(section, {...options, onError: (error) => showErrors(form, error)});
  const search = () => {
    clearErrors(form);
    return table.start(Object.fromEntries(new FormData(form)));
  };
  form.addEventListener('submit', (event) => { event.preventDefault(); search(); });
  form.addEventListener('reset', () => setTimeout(search)); // after the browser has cleared the fields
  return {form, table, search};
}

// --- products -----------------------------------------------------------------------------------------------

/** The catalogue, or a search of it when a filter is set. */
async function loadProducts(filters, token) {
  const filtered = Object.values(filters).some((value) => value !== '');
  const path = filtered ? '/api/products/search' : '/api/products';
  const page = await api('GET', path + query({...filters, page_size: PAGE_SIZE, page_token: token}));
  return {...page, items: page.products || []};
}

/** Products with fewer units in stock than the threshold (an empty one would list every product). */
function loadLowStock(filters, token) {
  if (filters.stock_below.trim() === '') {
    throw new ApiError('Enter a threshold.',
      [{field: 'stock_below', description: 'enter a number of units, 0 or more'}]);
  }
  return loadProducts(filters, token);
}

function productRow(product, {onEdit, onDelete, onMovements}) {
  const row = fromTemplate('product-row');
  row.dataset.id = product.id;
  fill(row, {id: product.id, name: product.name, category: lower(product.category), price: money(product.price, product.currency_code),
    stock: product.stock_quantity});
  setTime(row.querySelector('[data-cell="updated"]'), product.updated_at);
  const buttons = {edit: [`Edit ${product.name}`, onEdit], delete: [`Delete ${product.name}`, onDelete],
    movements: [`Stock movements of ${product.name}`, onMovements]};
  for (const [action, [label, onClick]] of Object.entries(buttons)) {
    const button = row.querySelector(`[data-action="${action}"]`);
    button.setAttribute('aria-label', label);
    button.addEventListener('click', () => onClick(product));
  }
  return row;
}

/** The create / edit dialog. Editing sends only the fields changed in it (PATCH with an update_mask), so stock
 *  that orders took while the dialog was open is not written back. */
class ProductDialog {
  constructor(dialog) {
    this.dialog = dialog;
    this.form = dialog.querySelector('form');
    this.title = dialog.querySelector('h2');
    fillCategories(this.form.elements.category);
    this.form.addEventListener('submit', (event) => { event.preventDefault(); this.save(); });
    dialog.querySelector('[data-close]').addEventListener('click', () => dialog.close());
  }

  open(product, onSaved) {
    this.product = product; // null for a new one
    this.onSaved = onSaved;
    this.form.reset();
    clearErrors(this.form);
    this.title.textContent = product ? `Edit product ${product.id}` : 'New product';
    if (product) {
      for (const field of PRODUCT_FIELDS) this.form.elements[field].value = this.initial(field);
    }
    this.dialog.showModal();
  }

  initial(field) {
    const value = this.product[field];
    return field === 'category' ? lower(value) : String(value ?? '');
  }

  /** {field: value} of the form; empty price or stock left out, for the server to say what that means. */
  values(fields) {
    const values = {};
    for (const field of fields) {
      const value = this.form.elements[field].value;
      if (value !== '' || field === 'name' || field === 'description') values[field] = value;
    }
    return values;
  }

  async save() {
    const button = this.form.querySelector('[type="submit"]');
    button.disabled = true;
    try {
      let saved;
      if (this.product) {
        const changed = PRODUCT_FIELDS.filter((field) => this.form.elements[field].value !== this.initial(field));
        if (!changed.length) {
          this.dialog.close();
          return;
        }
        saved = await api('PATCH', `/api/products/${this.product.id}${query({update_mask: changed.join(',')})}`,
          this.values(changed));
      } else {
        saved = await api('POST', '/api/products', this.values(PRODUCT_FIELDS));
      }
      this.dialog.close();
      this.onSaved(`${this.product ? 'Saved' : 'Created'} product ${saved.id}, ${saved.name}.`);
    } catch (error) {
      showErrors(this.form, error);
    } finally {
      button.disabled = false;
    }
  }
}

function productsView(section, {dialog, movements}, load) {
  section.querySelector('table').tBodies[0].before(fromTemplate('product-columns'));
  let table;
  const actions = {
    onEdit: (product) => dialog.open(product, (notice) => table.show(notice)),
    onMovements: (product) => movements.open(product),
    onDelete: async (product) => {
      const question = `Delete product ${product.id}, ${product.name}? Orders keep their copy of its name and price.`;
      if (!window.confirm(question)) return;
      try {
        await api('DELETE', `/api/products/${product.id}`);
        await table.show(`Deleted product ${product.id}, ${product.name}.`);
      } catch (error) {
        table.status.textContent = error.message;
      }
    },
  };
  const view = filteredTable(section, {load, render: (product) => productRow(product, actions), noun: 'Products'});
  table = view.table;
  if (view.form.elements.category) fillCategories(view.form.elements.category);
  return view;
}

// --- rows that change: orders and carts --------------------------------------------------------------------

/** "1 item", "3 lines". */
function counted(count, noun) {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** A line of an order or a cart, in its template's row: the product, its unit price, the quantity, the subtotal. */
function productLineRow(template, line, unitPrice) {
  const row = fromTemplate(template);
  fill(row, {product: `${line.product_name} (product ${line.product_id})`, price: money(unitPrice, line.currency_code),
    quantity: line.quantity, subtotal: money(line.subtotal, line.currency_code)});
  return row;
}

/** A timestamp as text that sorts in time order (the API prints 0, 3, 6 or 9 digits of a second's fraction). */
function sortableTime(timestamp) {
  const [seconds, fraction = ''] = String(timestamp || '').replace('Z', '').split('.');
  return `${seconds}.${fraction.padEnd(9, '0')}`;
}

/** A table's rows of orders, or of carts. Each shows the latest state of its resource that reached the page, from
 *  the listing, the answer to a button or the watch, whichever came last: a row never goes back to an older state.
 *  A subclass draws a resource's row, `draw(resource)`, whose buttons it `offer`s, and reads one as it now is,
 *  `latest(id)`. */
class LatestRows {
  constructor(body) {
    this.body = body;
  }

  row(id) {
    return this.body.querySelector(`:scope > tr[data-id="${id}"]`);
  }

  /** A resource's row, with `message` (the reason for a refusal) next to its buttons. */
  render(resource, message = '') {
    const row = this.draw(resource);
    row.dataset.id = resource.id;
    row.dataset.updated = sortableTime(resource.updated_at);
    row.querySelector('.row-error').textContent = message;
    return row;
  }

  /** A button of `resource`'s row, named `label`: it sends a change, once the operator says yes to `question` if
   *  there is one, and shows the server's answer in place. */
  offer(button, resource, {label, question, method, path, body}) {
    button.setAttribute('aria-label', label);
    button.addEventListener('click', () => {
      if (!question || window.confirm(question)) this.change(resource, method, path, body);
    });
  }

  /** Show `resource` in its row if that is newer than what the row shows, or the same with a message to add. The
   *  new row keeps its details open (an order's reading its history again) and the keyboard focus where it was. */
  update(resource, message = '') {
    const row = this.row(resource.id);
    if (!row) return;
    const updated = sortableTime(resource.updated_at);
    if (updated < row.dataset.updated || (updated === row.dataset.updated && !message)) {
      // The row shows this state or a later one already; a refusal's reason still belongs next to it.
      if (message) row.querySelector('.row-error').textContent = message;
      return;
    }
    const replacement = this.render(resource, message);
    replacement.querySelector('details').open = row.querySelector('details').open;
    const focused = row.contains(document.activeElement) ? document.activeElement : null;
    row.replaceWith(replacement);
    if (focused) {
      const same = focused.dataset.action ? `[data-action="${focused.dataset.action}"]` : focused.localName;
      (replacement.querySelector(same) || replacement.querySelector('.actions button, .row-error')).focus();
    }
  }

  /** Send a change; on a refusal (another operator or the customer moved it first, say), show why next to the
   *  resource as it now is. */
  async change(resource, method, path, body) {
    for (const button of this.row(resource.id).querySelectorAll('.actions button')) button.disabled = true;
    try {
      this.update(await api(method, path, body));
    } catch (error) {
      let current = resource;
      try {
        current = await this.latest(resource.id);
      } catch (reloadError) {
        // Shown as it was, with the refusal.
      }
      this.update(current, error.message);
    }
    // The button pressed is gone with the old row (replaced by this answer, or first by the watch's): keep the
    // keyboard in this row, unless a new listing has replaced the table meanwhile.
    const row = this.row(resource.id);
    if (row) row.querySelector('.actions button, .row-error').focus();
  }
}

// --- orders -------------------------------------------------------------------------------------------------

async function loadOrders(filters, token) {
  const paging = {page_size: PAGE_SIZE, page_token: token};
  const page = filters.email
    ? await api('GET', `/api/orders/customer/${encodeURIComponent(filters.email.trim())}${query(paging)}`)
    : await api('GET', `/api/orders${query({status: filters.status, ...paging})}`);
  return {...page, items: page.orders || []};
}

function itemRow(item) {
  return productLineRow('item-row', item, item.price);
}

/** The orders table's rows, each with the buttons that move its order through the workflow. */
class OrderRows extends LatestRows {
  latest(id) {
    return api('GET', `/api/orders/${id}`);
  }

  draw(order) {
    const status = lower(order.status);
    const row = fromTemplate('order-row');
    fill(row, {id: order.id, customer: order.customer_name, email: order.customer_email, status,
      total: money(order.total_amount, order.currency_code), 'item-count': counted(order.items.length, 'item')});
    row.querySelector('.badge').classList.add(`status-${status}`);
    setTime(row.querySelector('[data-cell="placed"]'), order.created_at);
    row.querySelector('.items tbody').replaceChildren(...order.items.map(itemRow));
    const details = row.querySelector('details');
    details.addEventListener('toggle', () => { if (details.open) showHistory(details, order.id); });

    const advance = row.querySelector('[data-action="advance"]');
    const next = Object.hasOwn(NEXT_STATUS, status) ? NEXT_STATUS[status] : null;
    if (next) {
      advance.textContent = `Advance to ${next}`;
      this.offer(advance, order, {label: `Advance order ${order.id} to ${next}`, method: 'PATCH',
        path: `/api/orders/${order.id}/status`, body: {status: next.toUpperCase()}});
    } else {
      advance.remove();
    }
    const cancel = row.querySelector('[data-action="cancel"]');
    if (CANCELLABLE.includes(status)) {
      this.offer(cancel, order, {label: `Cancel order ${order.id}`, method: 'POST',
        path: `/api/orders/${order.id}/cancel`, body: {},
        question: `Cancel order ${order.id}? Its items' stock goes back to the catalogue; it cannot be undone.`});
    } else {
      cancel.remove();
    }
    return row;
  }

  /** Add a row for `order` at its place, newest first. */
  insert(order) {
    const later = [...this.body.rows].find((row) => BigInt(row.dataset.id) < BigInt(order.id));
    this.body.insertBefore(this.render(order), later || null);
  }
}

// --- history ------------------------------------------------------------------------------------------------

/** Every page of a listing, for the short ones (an order's history). */
async function allPages(path, key) {
  const items = [];
  let token = '';
  do {
    const page = await api('GET', path + query({page_size: PAGE_SIZE, page_token: token}));
    items.push(...(page[key] || []));
    token = page.next_page_token || '';
  } while (token);
  return items;
}

function eventRow(orderEvent) {
  const row = fromTemplate('event-row');
  const from = orderEvent.from_status === PLACED_FROM_STATUS ? 'placed' : lower(orderEvent.from_status);
  fill(row, {change: `${from} → ${lower(orderEvent.to_status)}`, request: orderEvent.request_id,
    by: orderEvent.actor});
  setTime(row.querySelector('[data-cell="time"]'), orderEvent.time, 'medium');
  return row;
}

/** An order's history (ListOrderEvents), newest first, under its items. */
async function showHistory(details, orderId) {
  const table = details.querySelector('.history');
  const status = details.querySelector('.history-error');
  table.setAttribute('aria-busy', 'true');
  try {
    const events = await allPages(`/api/orders/${orderId}/events`, 'events');
    table.tBodies[0].replaceChildren(...events.map(eventRow));
    status.textContent = '';
  } catch (error) {
    status.textContent = `History: ${error.message}`;
  } finally {
    table.removeAttribute('aria-busy');
  }
}

/** The checkout behind a movement, if any: its cart, and the order its hold became ("cart 4 → order 9"). The API
 *  says "0" for none. */
function checkoutOf(movement) {
  if (!Number(movement.cart_id)) return '';
  const became = Number(movement.order_id) ? ` → order ${movement.order_id}` : '';
  return `cart ${movement.cart_id}${became}`;
}

function movementRow(movement) {
  const row = fromTemplate('movement-row');
  const delta = movement.delta > 0 ? `+${movement.delta}` : movement.delta < 0 ? `−${-movement.delta}` : '0';
  fill(row, {reason: lower(movement.reason), delta,
    stock: `${movement.stock_before} → ${movement.stock_after}`, reservation: movement.reservation_id,
    cart: checkoutOf(movement), request: movement.request_id, by: movement.actor});
  setTime(row.querySelector('[data-cell="time"]'), movement.time, 'medium');
  return row;
}

/** A product's stock movements (ListStockMovements), newest first, a page at a time, in a dialog. */
class MovementsDialog {
  constructor(dialog) {
    this.dialog = dialog;
    this.subject = dialog.querySelector('.dialog-subject');
    this.table = new PagedTable(dialog, {
      load: async ({product_id: productId}, token) => {
        const path = `/api/products/${productId}/stock-movements`;
        const page = await api('GET', path + query({page_size: PAGE_SIZE, page_token: token}));
        return {...page, items: page.movements || []};
      },
      render: movementRow,
      noun: 'Movements',
      onError: (error) => { this.table.status.textContent = error.message; },
    });
    dialog.querySelector('[data-close]').addEventListener('click', () => dialog.close());
  }

  open(product) {
    this.subject.textContent = `Product ${product.id}, ${product.name}`;
    this.table.body.replaceChildren();
    this.dialog.showModal();
    return this.table.start({product_id: product.id});
  }
}

// --- live order updates -------------------------------------------------------------------------------------

// Waits before opening a broken watch again: growing, so that a restarting Orders is not hammered, but small.
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000];
// Envoy answers a watch at once when it cannot reach Orders, and sends nothing while no order changes (the HTTP
// answer comes with the first update): a watch still open after this long has reached Orders.
const WATCH_SETTLED_MS = 1000;

function pause(milliseconds, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, milliseconds);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, {once: true});
  });
}

/** WatchOrders, read line by line (newline-delimited JSON through Envoy's transcoder, not server-sent events).
 *  A stream that breaks (Orders restarted, the network, Envoy's idle timeout) is opened again after a short wait,
 *  after the last change received, so that no change is missed and none comes twice. */
class OrderWatch {
  constructor({onUpdate, onState}) {
    Object.assign(this, {onUpdate, onState});
    this.controller = null;
  }

  /** Watch the changes after event `afterEventId` of the orders matching `filters` ({customer_email}). */
  start(filters, afterEventId) {
    this.stop();
    const controller = new AbortController();
    this.controller = controller;
    this.run(controller.signal, filters, afterEventId);
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.onState('');
  }

  async run(signal, filters, afterEventId) {
    const position = {after: afterEventId};
    let failures = 0;
    while (!signal.aborted) {
      this.onState(failures ? 'reconnecting' : 'connecting');
      const settled = () => { failures = 0; this.onState('live'); };
      const timer = setTimeout(settled, WATCH_SETTLED_MS);
      try {
        await this.read(signal, filters, position, settled);
      } catch (error) {
        // Broken or refused: opened again below, unless the view stopped it.
      }
      clearTimeout(timer);
      if (signal.aborted) return;
      this.onState('reconnecting');
      await pause(RECONNECT_DELAYS_MS[Math.min(failures, RECONNECT_DELAYS_MS.length - 1)], signal);
      failures += 1;
    }
  }

  async read(signal, filters, position, onMessage) {
    const path = `/api/orders/watch${query({...filters, after_event_id: position.after})}`;
    const response = await fetch(path, {signal, cache: 'no-store', headers: authorization()});
    if (!response.ok) throw new ApiError(`The watch was answered HTTP ${response.status}.`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      const lines = (pending + value).split('\n');
      pending = lines.pop();
      for (const line of lines.filter((text) => text.trim())) {
        const update = JSON.parse(line);
        // Anything but an update (the status of a stream that failed after its first message) ends the stream.
        if (!update.event) throw new ApiError(update.message || 'The watch ended.');
        position.after = update.event.id;
        onMessage();
        // Shown outside this stream's error handling: a fault in showing an update is the page's, not the stream's.
        queueMicrotask(() => this.onUpdate(update));
      }
    }
  }
}

const WATCH_STATES = {connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…'};

/** The orders view: its listing and, while it is shown, every change of the orders it lists as it happens. */
function ordersView(section) {
  const rows = new OrderRows(section.querySelector(':scope > table > tbody'));
  const indicator = section.querySelector('.watch-state');
  let table;
  const watch = new OrderWatch({
    onUpdate: ({order}) => {
      if (rows.row(order.id)) rows.update(order);
      else if (matches(order) && belongsOnPage(order)) {
        rows.insert(order);
        table.added();
      }
    },
    onState: (state) => {
      indicator.dataset.state = state;
      indicator.textContent = WATCH_STATES[state] || '';
    },
  });
  // The API's status filter on a watch passes changes *into* that status only; a listed order that leaves it is
  // still shown as it now is, so the status is checked here. The customer's email is the watch's own filter.
  const matches = (order) => !table.filters.status || lower(order.status) === table.filters.status;
  // Newest first: an order not listed goes in if it falls between the page's neighbours.
  const belongsOnPage = (order) => {
    const ids = [...rows.body.rows].map((row) => BigInt(row.dataset.id));
    const id = BigInt(order.id);
    const newest = table.tokens.length === 1 || (ids.length && id < ids[0]);
    return newest && (!table.nextToken || id > ids[ids.length - 1]);
  };
  // Each listing starts a watch after the latest change the page shows (its latest_event_id), so the changes made
  // since come through; unless the view was left, or searched again, while it loaded.
  const load = async (filters, token) => {
    watch.stop();
    const page = await loadOrders(filters, token);
    if (!section.hidden && filters === table.filters) {
      watch.start({customer_email: (filters.email || '').trim()}, page.latest_event_id || '0');
    }
    return page;
  };

  const view = filteredTable(section, {load, render: (order) => rows.render(order), noun: 'Orders'});
  table = view.table;
  const {status, email} = view.form.elements;
  for (const name of ORDER_STATUSES) status.add(new Option(name, name));
  // A customer's orders come in every status (GetOrdersByCustomer has no status filter).
  const exclusive = () => { status.disabled = email.value.trim() !== ''; };
  email.addEventListener('input', exclusive);
  view.form.addEventListener('reset', () => setTimeout(exclusive));
  return {...view, leave: () => watch.stop()};
}

// --- carts --------------------------------------------------------------------------------------------------

// How often the time left of each checkout shown is said again, from the page's clock: the hold's end does not move,
// so the API is not asked again.
const HOLD_TICK_MS = 15_000;

async function loadCarts(filters, token) {
  const page = await api('GET', `/api/carts${query({state: filters.state, customer_email: filters.customer_email.trim(),
    page_size: PAGE_SIZE, page_token: token})}`);
  return {...page, items: page.carts || []};
}

function lineRow(line) {
  const row = productLineRow('line-row', line, line.unit_price);
  const shortage = lower(line.availability) === 'insufficient_stock' ? ` (${line.available_quantity} in stock)` : '';
  fill(row, {availability: words(line.availability) + shortage});
  return row;
}

/** A time of day as a <time>, with its seconds: the end of a hold, minutes away. */
function timeOfDay(timestamp) {
  const time = document.createElement('time');
  time.dateTime = timestamp;
  time.textContent = new Date(timestamp).toLocaleTimeString(undefined, {timeStyle: 'medium'});
  return time;
}

/** How long a hold has left, in whole minutes, never more than it has. At its end the service gives the stock back
 *  by itself, and the cart is listed EXPIRED from then on. */
function timeLeft(timestamp) {
  const milliseconds = Date.parse(timestamp) - Date.now();
  if (milliseconds <= 0) return 'time is up';
  const minutes = Math.floor(milliseconds / 60_000);
  return minutes ? `${minutes} min left` : 'under a minute left';
}

/** What became of a cart's checkout: a hold under way, with its end and the time left (its data-expires, for the
 *  view to refresh); the order it became; when its hold expired. */
function showCheckout(cell, cart) {
  const state = lower(cart.state);
  if (state === 'checking_out') {
    const [end, left] = [document.createElement('span'), document.createElement('span')];
    end.append('expires ', timeOfDay(cart.hold_expires_at));
    left.dataset.expires = cart.hold_expires_at;
    left.textContent = timeLeft(cart.hold_expires_at);
    for (const part of [end, left]) part.className = 'unbroken';
    cell.append(end, ' · ', left);
  } else if (state === 'completed') {
    cell.textContent = `order ${cart.order_id}`;
  } else if (state === 'expired') {
    cell.append('expired ', shownTime(cart.hold_expires_at, 'medium'));
  }
}

/** The carts table's rows; a cart being checked out has a button to abandon its checkout. */
class CartRows extends LatestRows {
  latest(id) {
    return api('GET', `/api/carts/${id}`);
  }

  draw(cart) {
    const state = lower(cart.state);
    const lines = cart.lines || [];
    const row = fromTemplate('cart-row');
    fill(row, {id: cart.id, email: cart.customer_email, customer: cart.customer_name, state: words(cart.state),
      total: money(cart.total_amount, cart.currency_code), 'line-count': counted(lines.length, 'line')});
    row.querySelector('.badge').classList.add(`state-${state}`);
    showCheckout(row.querySelector('[data-cell="checkout"]'), cart);
    setTime(row.querySelector('[data-cell="updated"]'), cart.updated_at);
    row.querySelector('.items tbody').replaceChildren(...lines.map(lineRow));
    const abandon = row.querySelector('[data-action="abandon"]');
    if (state === 'checking_out') {
      this.offer(abandon, cart, {label: `Abandon checkout of cart ${cart.id}`, method: 'POST',
        path: `/api/carts/${cart.id}/abandon`, body: {},
        question: `Abandon the checkout of cart ${cart.id} (${cart.customer_email})? Its held stock goes back to the `
          + 'catalogue now; the customer can change the cart and check out again.'});
    } else {
      abandon.remove();
    }
    return row;
  }
}

/** The carts view: filtered by state and customer; while it is shown, each checkout's time left counts down. */
function cartsView(section) {
  const rows = new CartRows(section.querySelector(':scope > table > tbody'));
  let ticking = null;
  const tick = () => {
    for (const left of rows.body.querySelectorAll('[data-expires]')) left.textContent = timeLeft(left.dataset.expires);
  };
  const load = async (filters, token) => {
    const page = await loadCarts(filters, token);
    if (!section.hidden && !ticking) ticking = setInterval(tick, HOLD_TICK_MS);
    return page;
  };
  const view = filteredTable(section, {load, render: (cart) => rows.render(cart), noun: 'Carts'});
  for (const name of CART_STATES) view.form.elements.state.add(new Option(words(name), name));
  const leave = () => {
    clearInterval(ticking);
    ticking = null;
  };
  return {...view, leave};
}

// --- the views and the address bar --------------------------------------------------------------------------

/** The token form: a token given replaces the one before, an empty one forgets it; the view shown reloads. */
function tokenForm(reload) {
  const form = document.getElementById('token-form');
  const state = document.getElementById('token-state');
  const said = () => { state.textContent = sessionStorage.getItem(TOKEN_KEY) ? 'token set' : 'no token'; };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = form.elements.token.value.trim().replace(/^Bearer\s+/i, '');
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    form.elements.token.value = '';
    said();
    reload();
  });
  said();
}

function main() {
  const dialog = new ProductDialog(document.getElementById('product-dialog'));
  const dialogs = {dialog, movements: new MovementsDialog(document.getElementById('movements-dialog'))};
  const products = productsView(document.getElementById('products'), dialogs, loadProducts);
  const lowStock = productsView(document.getElementById('low-stock'), dialogs, loadLowStock);
  const views = {products, orders: ordersView(document.getElementById('orders')),
    carts: cartsView(document.getElementById('carts')), 'low-stock': lowStock};
  document.getElementById('new-product').addEventListener('click', () => dialog.open(null, (notice) => {
    products.table.show(notice);
  }));

  // #products, #orders, #carts, #low-stock: each view has an address, and the browser's back button works. A view shown
  // again reloads its page, so stock changed by an order elsewhere is current; a view left stops what it watched.
  // Any other address (the skip link's #content) leaves the view as it is.
  const show = (name) => {
    for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== name;
    for (const [other, view] of Object.entries(views)) if (other !== name) view.leave?.();
    for (const link of document.querySelectorAll('header nav a')) {
      if (link.hash === `#${name}`) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const {table, search} = views[name];
    if (table.filters) table.show();
    else search();
  };
  const named = () => (Object.hasOwn(views, location.hash.slice(1)) ? location.hash.slice(1) : null);
  window.addEventListener('hashchange', () => { if (named()) show(named()); });
  tokenForm(() => show(named() || 'products'));
  show(named() || 'products');
}

main();
