// Every list endpoint of the spec with Stripe's semantics: newest first, limit 1–100 (default
// 10), starting_after / ending_before, has_more, url, created[gt|gte|lt|lte], and the endpoint's
// own filters. Which store collection an endpoint reads, and how a nested list finds its parent,
// is the one hand-written table here; parameters, required filters and item types come from the spec.
import { invalid, noSuch } from './errors.ts';
import type { Params } from './params.ts';
import type { JsonObject, ListEndpointSpec, Schema, StripeSpec } from './spec.ts';
import { indexValue, type CreatedRange, type Entry, type Page, type PageQuery, type Store } from './store.ts';

/** What listing needs of the emulator (not context.ts itself, which names ListRoute: no cycle). */
export interface ListContext {
  store: Store;
  clock: { now(): number };
}

/** How a nested list's items point at the parent named in its path. */
interface Link {
  /** A field of the item (`customer`), or `$owner` for items with no such field (invoice lines). */
  field: string;
  /** Object types of the parent, to answer 404 for an unknown one. */
  parents: string[];
}

interface NestedDef extends Link {
  collection: string;
  /** Only these item types (cards among a customer's sources). */
  objects?: string[];
}

const NESTED: Record<string, NestedDef> = {
  '/v1/accounts/{account}/capabilities': { collection: 'capability', field: 'account', parents: ['account'] },
  '/v1/accounts/{account}/external_accounts': { collection: 'external_account', field: 'account', parents: ['account'] },
  '/v1/accounts/{account}/people': { collection: 'person', field: 'account', parents: ['account'] },
  '/v1/accounts/{account}/persons': { collection: 'person', field: 'account', parents: ['account'] },
  '/v1/application_fees/{id}/refunds': { collection: 'fee_refund', field: 'fee', parents: ['application_fee'] },
  '/v1/charges/{charge}/refunds': { collection: 'refund', field: 'charge', parents: ['charge'] },
  '/v1/checkout/sessions/{session}/line_items': { collection: 'checkout.session/line_items', field: '$owner', parents: ['checkout.session'] },
  '/v1/credit_notes/{credit_note}/lines': { collection: 'credit_note_line_item', field: '$owner', parents: ['credit_note'] },
  '/v1/customers/{customer}/balance_transactions': { collection: 'customer_balance_transaction', field: 'customer', parents: ['customer'] },
  '/v1/customers/{customer}/bank_accounts': { collection: 'customer_source', field: 'customer', parents: ['customer'], objects: ['bank_account'] },
  '/v1/customers/{customer}/cards': { collection: 'customer_source', field: 'customer', parents: ['customer'], objects: ['card'] },
  '/v1/customers/{customer}/cash_balance_transactions': { collection: 'customer_cash_balance_transaction', field: 'customer', parents: ['customer'] },
  '/v1/customers/{customer}/payment_methods': { collection: 'payment_method', field: 'customer', parents: ['customer'] },
  '/v1/customers/{customer}/sources': { collection: 'customer_source', field: 'customer', parents: ['customer'] },
  '/v1/customers/{customer}/subscriptions': { collection: 'subscription', field: 'customer', parents: ['customer'] },
  '/v1/customers/{customer}/tax_ids': { collection: 'tax_id', field: 'customer', parents: ['customer'] },
  '/v1/financial_connections/accounts/{account}/owners': { collection: 'financial_connections.account_owner', field: '$owner', parents: ['financial_connections.account'] },
  '/v1/linked_accounts/{account}/owners': { collection: 'financial_connections.account_owner', field: '$owner', parents: ['financial_connections.account'] },
  '/v1/invoices/{invoice}/lines': { collection: 'line_item', field: '$owner', parents: ['invoice'] },
  '/v1/payment_links/{payment_link}/line_items': { collection: 'payment_link/line_items', field: '$owner', parents: ['payment_link'] },
  '/v1/quotes/{quote}/line_items': { collection: 'quote/line_items', field: '$owner', parents: ['quote'] },
  '/v1/quotes/{quote}/computed_upfront_line_items': { collection: 'quote/computed_upfront_line_items', field: '$owner', parents: ['quote'] },
  '/v1/sources/{source}/source_transactions': { collection: 'source_transaction', field: 'source', parents: ['source'] },
  '/v1/subscription_items/{subscription_item}/usage_record_summaries': { collection: 'usage_record_summary', field: 'subscription_item', parents: ['subscription_item'] },
  '/v1/tax/calculations/{calculation}/line_items': { collection: 'tax.calculation_line_item', field: '$owner', parents: ['tax.calculation'] },
  '/v1/tax/transactions/{transaction}/line_items': { collection: 'tax.transaction_line_item', field: '$owner', parents: ['tax.transaction'] },
  '/v1/transfers/{id}/reversals': { collection: 'transfer_reversal', field: 'transfer', parents: ['transfer'] },
};

/** How the items of a nested list path point at their parent. */
export const NESTED_LINKS = (path: string): Link | undefined => NESTED[path];

/** Lists computed from parameters rather than stored objects (resources/upcoming.ts, credit-notes.ts). */
const VIRTUAL = new Set(['/v1/invoices/upcoming/lines', '/v1/credit_notes/preview/lines']);

/** The store collection a top-level object lives in (cards and bank accounts depend on their owner). */
export function collectionFor(object: string, owner?: 'customer' | 'account'): string {
  if (owner === 'customer' && (object === 'card' || object === 'bank_account' || object === 'source')) return 'customer_source';
  if (owner === 'account' && (object === 'card' || object === 'bank_account')) return 'external_account';
  return object;
}

type Constraint = { index?: { name: string; value: string }; filter?: (e: Entry) => boolean };
type ParamFilter = (value: unknown, emu: ListContext) => Constraint;

export interface ListRoute {
  path: string;
  spec: ListEndpointSpec;
  collection: string;
  link: (Link & { param: string }) | undefined;
  objects: string[] | undefined;
  virtual: boolean;
  /** Endpoints with no `limit` parameter (capabilities, report types) return everything. */
  paginated: boolean;
  filters: Map<string, ParamFilter>;
  /** Applied when the request does not say otherwise (subscriptions hide canceled ones). */
  defaults: Constraint[];
  /** Parameters the emulator cannot honour; a request using one gets a 400 rather than a wrong answer. */
  unsupported: Set<string>;
}

const STANDARD = new Set(['limit', 'starting_after', 'ending_before', 'expand', 'created', 'page', 'query']);
const IN_SET: Record<string, string> = { ids: 'id', lookup_keys: 'lookup_key' };

const eq = (name: string, value: unknown): Constraint => ({ index: { name, value: value === null ? '\u0000' : String(value) } });
const where = (filter: (e: Entry) => boolean): Constraint => ({ filter });

/** Endpoint-specific parameters that are not plain equality on a field. */
const SPECIAL: Record<string, Record<string, ParamFilter>> = {
  '/v1/subscriptions': {
    status: (v) => (v === 'all' ? {} : v === 'ended' ? where((e) => e.obj.status === 'canceled' || e.obj.status === 'incomplete_expired') : eq('status', v)),
    price: (v) => where((e) => ((e.obj.items as { data: Array<{ price: { id: string } }> } | undefined)?.data ?? []).some((i) => i.price.id === v)),
  },
  '/v1/events': {
    type: (v) => {
      const text = String(v);
      if (!text.includes('*')) return eq('type', text);
      const re = new RegExp(`^${text.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
      return where((e) => re.test(String(e.obj.type)));
    },
    types: (v) => {
      const set = new Set(v as string[]);
      return where((e) => set.has(String(e.obj.type)));
    },
    delivery_success: (v) => where((e) => (e.obj.pending_webhooks === 0) === v),
  },
  '/v1/invoiceitems': { pending: (v) => where((e) => (e.obj.invoice === null) === v) },
  '/v1/subscription_schedules': { scheduled: (v) => where((e) => (e.obj.status === 'not_started') === v) },
  '/v1/financial_connections/accounts': { session: (v) => eq('$owner', v) },
  '/v1/linked_accounts': { session: (v) => eq('$owner', v) },
  '/v1/radar/value_lists': {
    contains: (v, emu) =>
      where((e) => emu.store.collection('radar.value_list_item').indexed('value_list', e.id).some((item) => item.obj.value === v)),
  },
  '/v1/treasury/transaction_entries': { order_by: (v) => orderByCreated(v) },
  '/v1/treasury/transactions': { order_by: (v) => orderByCreated(v) },
};

function orderByCreated(v: unknown): Constraint {
  if (v !== 'created') throw invalid(`The emulator only lists by created (order_by=${String(v)} is not emulated)`, 'order_by');
  return {};
}

/** Subscriptions lists leave out canceled ones unless asked (Stripe's default). */
const notCanceled = where((e) => e.obj.status !== 'canceled');
const DEFAULTS: Record<string, { param?: string; constraint: Constraint }> = {
  '/v1/subscriptions': { param: 'status', constraint: notCanceled },
  '/v1/customers/{customer}/subscriptions': { constraint: notCanceled },
};

function isRange(spec: StripeSpec, schema: Schema): boolean {
  const s = spec.resolve(schema);
  return (s.anyOf ?? []).some((alt) => spec.resolve(alt).title === 'range_query_specs');
}

function subsetOf(want: unknown, have: unknown): boolean {
  if (want === have) return true;
  if (typeof want !== 'object' || want === null || typeof have !== 'object' || have === null) return false;
  return Object.entries(want).every(([k, v]) => subsetOf(v, (have as JsonObject)[k]));
}

export function inRange(v: unknown, range: unknown): boolean {
  if (typeof v !== 'number') return false;
  if (typeof range === 'number') return v === range;
  const r = range as CreatedRange;
  return (r.gt === undefined || v > r.gt) && (r.gte === undefined || v >= r.gte) && (r.lt === undefined || v < r.lt) && (r.lte === undefined || v <= r.lte);
}

export function prepareListRoutes(spec: StripeSpec): Map<string, ListRoute> {
  const routes = new Map<string, ListRoute>();
  for (const endpoint of spec.lists) {
    const nested = NESTED[endpoint.path];
    const objects = nested?.objects ?? endpoint.objects;
    const collection = nested?.collection ?? (endpoint.pathParams.length ? '' : collectionFor(endpoint.objects[0]!));
    const virtual = VIRTUAL.has(endpoint.path);
    if (!collection && !virtual) throw new Error(`no collection for nested list ${endpoint.path}`);
    const fields = new Map<string, Schema>();
    for (const object of objects) for (const [k, v] of Object.entries(spec.resources.get(object)?.schema.properties ?? {})) fields.set(k, v);
    const filters = new Map<string, ParamFilter>();
    const unsupported = new Set<string>();
    for (const [name, param] of endpoint.params) {
      if (STANDARD.has(name)) continue;
      const special = SPECIAL[endpoint.path]?.[name];
      if (special) filters.set(name, special);
      else if (IN_SET[name]) {
        const field = IN_SET[name];
        filters.set(name, (v) => {
          const set = new Set(v as string[]);
          return where((e) => set.has(String(e.obj[field])));
        });
      } else if (fields.has(name)) {
        const ps = spec.resolve(param.schema);
        if (isRange(spec, param.schema)) filters.set(name, (v) => where((e) => inRange(e.obj[name], v)));
        else if (ps.type === 'object') filters.set(name, (v) => where((e) => subsetOf(v, e.obj[name])));
        else filters.set(name, (v) => eq(name, v));
      } else unsupported.add(name);
    }
    const d = DEFAULTS[endpoint.path];
    routes.set(endpoint.path, {
      path: endpoint.path,
      spec: endpoint,
      collection,
      link: nested ? { field: nested.field, parents: nested.parents, param: endpoint.pathParams[0]! } : undefined,
      objects: nested?.objects,
      virtual,
      paginated: endpoint.params.has('limit'),
      filters,
      defaults: d ? [d.constraint] : [],
      unsupported,
    });
  }
  return routes;
}

export interface ListRequest {
  /** Path parameters (the parent id of a nested list). */
  pathParams: Record<string, string>;
  query: Params;
}

/** Resolves a list request to one store page, applying Stripe's checks. */
export function listEntries(emu: ListContext, route: ListRoute, request: ListRequest, checkParent = true): Page {
  const { query } = request;
  // Computed lists have their own routes; they are no collection to page through.
  if (route.virtual) throw new Error(`${route.path} is computed, not stored`);
  const limit = route.paginated ? (query.limit === undefined ? 10 : (query.limit as number)) : Number.MAX_SAFE_INTEGER;
  if (limit < 1) throw invalid('This value must be greater than or equal to 1.', 'limit', 'parameter_invalid_integer');
  if (limit > 100 && route.paginated) throw invalid('This value must be less than or equal to 100.', 'limit', 'parameter_invalid_integer');
  if (query.starting_after !== undefined && query.ending_before !== undefined) {
    throw invalid('You may only specify one of these parameters: ending_before, starting_after.', 'ending_before');
  }
  const constraints: Constraint[] = [];
  if (route.link) {
    const parentId = request.pathParams[route.link.param]!;
    if (checkParent && !emu.store.find(route.link.parents, parentId)) throw noSuch(route.link.parents[0]!, parentId, route.link.param);
    constraints.push(eq(route.link.field, parentId));
  }
  for (const name of route.unsupported) {
    if (query[name] !== undefined) throw invalid(`The Stripe emulator does not filter ${route.path} by ${name}`, name);
  }
  let usedDefault = false;
  for (const [name, filter] of route.filters) {
    if (query[name] === undefined) continue;
    constraints.push(filter(query[name], emu));
    if (DEFAULTS[route.path]?.param === name) usedDefault = true;
  }
  if (!usedDefault) constraints.push(...route.defaults);
  if (route.objects) {
    const types = new Set(route.objects);
    constraints.push(where((e) => types.has(e.type)));
  }
  const collection = emu.store.collection(route.collection);
  const pageQuery: PageQuery = { limit, ...combine(constraints) };
  const created = query.created;
  if (created !== undefined) pageQuery.created = typeof created === 'number' ? { gte: created, lte: created } : (created as CreatedRange);
  if (route.path === '/v1/events') {
    // Stripe keeps 30 days of events.
    const since = emu.clock.now() - 30 * 86400;
    pageQuery.created = { ...pageQuery.created, gte: Math.max(pageQuery.created?.gte ?? since, since) };
  }
  if (typeof query.starting_after === 'string') pageQuery.startingAfter = collection.cursor(query.starting_after, 'starting_after');
  if (typeof query.ending_before === 'string') pageQuery.endingBefore = collection.cursor(query.ending_before, 'ending_before');
  return collection.page(pageQuery);
}

/** One index (the first equality constraint) and the rest as a single predicate. */
function combine(constraints: Constraint[]): Pick<PageQuery, 'index' | 'filter'> {
  let index: PageQuery['index'];
  const predicates: Array<(e: Entry) => boolean> = [];
  for (const c of constraints) {
    if (c.index && !index) index = c.index;
    else if (c.index) {
      const { name, value } = c.index;
      predicates.push((e) => indexValue(e, name) === value);
    }
    if (c.filter) predicates.push(c.filter);
  }
  const filter = predicates.length === 0 ? undefined : predicates.length === 1 ? predicates[0] : (e: Entry) => predicates.every((p) => p(e));
  return { index, filter };
}

/** The `url` of a list response: the path with its parameters filled in. */
export function listUrl(route: ListRoute, pathParams: Record<string, string>): string {
  return route.path.replace(/\{([^}]+)\}/g, (_, name: string) => pathParams[name] ?? '');
}

/** How many objects a full walk of this list reaches (for /_emulator/stats), summed over every parent. */
export function countReachable(emu: ListContext, route: ListRoute): number {
  const collection = emu.store.existing(route.collection);
  if (!collection) return 0;
  const constraints: Constraint[] = [...route.defaults];
  if (route.objects) {
    const types = new Set(route.objects);
    constraints.push(where((e) => types.has(e.type)));
  }
  const { filter } = combine(constraints);
  if (!route.link) return collection.count({ filter });
  // Through the parent index: each stored object is parsed at most once, when the index is built.
  const { field, parents } = route.link;
  let n = 0;
  for (const [parent, entries] of collection.buckets(field)) {
    if (!emu.store.find(parents, parent)) continue;
    n += filter ? entries.filter(filter).length : entries.length;
  }
  return n;
}
