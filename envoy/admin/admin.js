// The admin console's behaviour: three views (products, orders, low stock) over the REST API on this origin.
// Everything shown comes from the API as it answered; rules (validation, the order workflow) stay on the server,
// whose messages are shown next to the field they name. Prices and totals stay the decimal strings the API sends.
'use strict';

const PAGE_SIZE = 20;
const CATEGORIES = ['electronics', 'clothing', 'books', 'home', 'sports', 'toys', 'other'];
// The order workflow, for labelling the one step forward an order can take; the server decides what is allowed.
const STATUS_STEPS = ['pending', 'processing', 'shipped', 'delivered'];
const CANCELLABLE = ['pending', 'processing'];
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

async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : {'content-type': 'application/json'},
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

function lower(enumName) {
  return String(enumName || '').toLowerCase();
}

function shownTime(timestamp) {
  if (!timestamp) return '';
  const time = document.createElement('time');
  time.dateTime = timestamp;
  time.textContent = new Date(timestamp).toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'short'});
  return time;
}

function setTime(cell, timestamp) {
  cell.replaceChildren(shownTime(timestamp));
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
      const first = (this.tokens.length - 1) * PAGE_SIZE + 1;
      const range = page.items.length ? `${first}–${first + page.items.length - 1} of ${page.total_size}` : 'none';
      this.label.textContent = `Page ${this.tokens.length}`;
      this.status.textContent = [notice, `${this.noun}: ${range}.`].filter(Boolean).join(' ');
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

function productRow(product, {onEdit, onDelete}) {
  const row = fromTemplate('product-row');
  row.dataset.id = product.id;
  fill(row, {id: product.id, name: product.name, category: lower(product.category), price: product.price,
    stock: product.stock_quantity});
  setTime(row.querySelector('[data-cell="updated"]'), product.updated_at);
  const edit = row.querySelector('[data-action="edit"]');
  const remove = row.querySelector('[data-action="delete"]');
  edit.setAttribute('aria-label', `Edit ${product.name}`);
  remove.setAttribute('aria-label', `Delete ${product.name}`);
  edit.addEventListener('click', () => onEdit(product));
  remove.addEventListener('click', () => onDelete(product));
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

function productsView(section, dialog, load) {
  section.querySelector('table').tBodies[0].before(fromTemplate('product-columns'));
  let table;
  const actions = {
    onEdit: (product) => dialog.open(product, (notice) => table.show(notice)),
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

// --- orders -------------------------------------------------------------------------------------------------

async function loadOrders(filters, token) {
  const paging = {page_size: PAGE_SIZE, page_token: token};
  const page = filters.email
    ? await api('GET', `/api/orders/customer/${encodeURIComponent(filters.email.trim())}${query(paging)}`)
    : await api('GET', `/api/orders${query({status: filters.status, ...paging})}`);
  return {...page, items: page.orders || []};
}

function itemRow(item) {
  const row = fromTemplate('item-row');
  fill(row, {product: `${item.product_name} (product ${item.product_id})`, price: item.price,
    quantity: item.quantity, subtotal: item.subtotal});
  return row;
}

/** An order's row; its buttons move it through the workflow and show the server's answer in place. */
function orderRow(order, message = '') {
  const status = lower(order.status);
  const row = fromTemplate('order-row');
  row.dataset.id = order.id;
  fill(row, {id: order.id, customer: order.customer_name, email: order.customer_email, status,
    total: order.total_amount, 'item-count': `${order.items.length} ${order.items.length === 1 ? 'item' : 'items'}`});
  row.querySelector('.badge').classList.add(`status-${status}`);
  setTime(row.querySelector('[data-cell="placed"]'), order.created_at);
  row.querySelector('.items tbody').replaceChildren(...order.items.map(itemRow));
  row.querySelector('.row-error').textContent = message;

  const advance = row.querySelector('[data-action="advance"]');
  const next = STATUS_STEPS[STATUS_STEPS.indexOf(status) + 1];
  if (STATUS_STEPS.includes(status) && next) {
    advance.textContent = `Advance to ${next}`;
    advance.setAttribute('aria-label', `Advance order ${order.id} to ${next}`);
    advance.addEventListener('click', () => changeOrder(row, order, 'PATCH', `/api/orders/${order.id}/status`,
      {status: next.toUpperCase()}));
  } else {
    advance.remove();
  }
  const cancel = row.querySelector('[data-action="cancel"]');
  if (CANCELLABLE.includes(status)) {
    cancel.setAttribute('aria-label', `Cancel order ${order.id}`);
    cancel.addEventListener('click', () => {
      const question = `Cancel order ${order.id}? Its items' stock goes back to the catalogue; this cannot be undone.`;
      if (window.confirm(question)) {
        changeOrder(row, order, 'POST', `/api/orders/${order.id}/cancel`, {});
      }
    });
  } else {
    cancel.remove();
  }
  return row;
}

/** Send a workflow change; on a refusal (another operator moved the order first, say), show why next to the
 *  order as it now is. */
async function changeOrder(row, order, method, path, body) {
  for (const button of row.querySelectorAll('.actions button')) button.disabled = true;
  let changed;
  let message = '';
  try {
    changed = await api(method, path, body);
  } catch (error) {
    message = error.message;
    try {
      changed = await api('GET', `/api/orders/${order.id}`);
    } catch (reloadError) {
      changed = order;
    }
  }
  const replacement = orderRow(changed, message);
  row.replaceWith(replacement);
  // The button pressed is gone with the old row: keep the keyboard in this order's row.
  (replacement.querySelector('.actions button') || replacement.querySelector('.row-error')).focus();
}

function ordersView(section) {
  const view = filteredTable(section, {load: loadOrders, render: (order) => orderRow(order), noun: 'Orders'});
  const {status, email} = view.form.elements;
  for (const step of [...STATUS_STEPS, 'cancelled']) status.add(new Option(step, step));
  // A customer's orders come in every status (GetOrdersByCustomer has no status filter).
  const exclusive = () => { status.disabled = email.value.trim() !== ''; };
  email.addEventListener('input', exclusive);
  view.form.addEventListener('reset', () => setTimeout(exclusive));
  return view;
}

// --- the views and the address bar --------------------------------------------------------------------------

function main() {
  const dialog = new ProductDialog(document.getElementById('product-dialog'));
  const products = productsView(document.getElementById('products'), dialog, loadProducts);
  const lowStock = productsView(document.getElementById('low-stock'), dialog, loadLowStock);
  const views = {products, orders: ordersView(document.getElementById('orders')), 'low-stock': lowStock};
  document.getElementById('new-product').addEventListener('click', () => dialog.open(null, (notice) => {
    products.table.show(notice);
  }));

  // #products, #orders, #low-stock: each view has an address, and the browser's back button works. A view shown
  // again reloads its page, so stock changed by an order elsewhere is current.
  // Any other address (the skip link's #content) leaves the view as it is.
  const show = (name) => {
    for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== name;
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
  show(named() || 'products');
}

main();
