// Which request fills each table, derived from schema-mapping.json (see README "Where each table
// comes from"). Three routes, cheapest first:
//   1. `list`: the table's own top-level list endpoint, cut into `created` ranges when it accepts
//      `created` filters. Subscriptions are listed with status=all (the default hides canceled ones).
//   2. `embedded`: the items of a listed parent's sub-list (invoice lines, subscription items, a
//      customer's tax ids and sources…), written with their parent; sub-lists Stripe leaves out
//      unless asked are requested with expand[]=data.<list>; a sub-list with has_more is completed
//      from its own endpoint before the parent is written.
//   3. `parents`: a nested endpoint walked once per parent (a customer's balance transactions, a
//      setup intent's attempts…), for tables with no other route. One request per parent, so it is
//      a second phase, after the lists, with its own switch (--per-parent).
// Tables with none of these (discounts, mandates, tokens, tax transactions…) are filled by events.
import { schemaMapping, tableMapping, type ListPath, type ParentLink, type TableMapping } from './schema-mapping.ts';
import type { Params } from './stripe-client.ts';

export interface ChildPlan {
  table: string;
  /** The parent's sub-list property. */
  property: string;
  nestedListPath: string | null;
  parentParam: ParentLink['parentParam'];
  /** Items missing from a complete sub-list are removed (child tables, subscription items). */
  removeStale: boolean;
}

export interface ListJob {
  kind: 'list';
  name: string;
  table: string;
  path: string;
  params: Params;
  /** `created` filters are accepted and the objects carry the field they filter on, so the list can be cut into ranges. */
  createdFilter: boolean;
  /** The field `created[…]` filters on (invoice items have `date`). */
  createdField: string;
  /** false for the two lists with no `limit` (everything in one answer). */
  paginated: boolean;
  /** Sub-lists asked for with expand[]: their items are written as rows and removed from `_raw`. */
  expanded: string[];
  children: ChildPlan[];
}

export interface ParentJob {
  kind: 'parents';
  name: string;
  table: string;
  parentTable: string;
  /** `/v1/customers/{customer}/balance_transactions` or `/v1/setup_attempts` (parent in the query). */
  path: string;
  parentParam: { name: string; in: 'path' | 'query' };
  params: Params;
  /** Query parameters taken from the parent's fields (`ownership` of a Financial Connections account); parents without them are skipped. */
  parentFields: Record<string, string>;
  paginated: boolean;
  /** Only with --per-parent all or when named: the table has another route that may be partial. */
  optional: boolean;
}

export interface SyncPlan {
  lists: ListJob[];
  parents: ParentJob[];
  /** Table → how it is filled, for the README and /status. */
  routes: Map<string, string>;
  /** Tables filled only by events. */
  eventsOnly: string[];
}

/** When a table has several list endpoints, the one to walk. */
const PREFERRED_PATH: Record<string, string> = {
  balance_transaction: '/v1/balance_transactions',
  financial_connections_account: '/v1/financial_connections/accounts',
};

/** Parameters some lists need to return everything. */
const FIXED_PARAMS: Record<string, Params> = {
  '/v1/subscriptions': { status: 'all' },
  // Secrets of the account scope; user-scoped secrets need each user's id and are not listed.
  '/v1/apps/secrets': { scope: { type: 'account' } },
};

/** Nested lists that also need a field of the parent. */
const PARENT_FIELDS: Record<string, Record<string, string>> = {
  '/v1/financial_connections/accounts/{account}/owners': { ownership: 'ownership' },
  '/v1/linked_accounts/{account}/owners': { ownership: 'ownership' },
};

/** Lists with no `limit` parameter: one request returns everything. */
export const NOT_PAGINATED = new Set(['/v1/reporting/report_types', '/v1/accounts/{account}/capabilities']);

/** Objects whose list filters `created` on another field. */
const CREATED_FIELD: Record<string, string> = { invoiceitem: 'date' };

/** Sub-lists Stripe includes only when expanded. */
const EXPAND_ONLY: Record<string, string[]> = {
  customer: ['sources', 'tax_ids', 'subscriptions'],
  charge: ['refunds'],
  checkout_session: ['line_items'],
  payment_link: ['line_items'],
  quote: ['line_items'],
  file: ['links'],
};

/** Required query parameters that name a parent: the parameter → the parent's table. */
const PARENT_PARAMS: Record<string, string> = {
  setup_intent: 'setup_intent',
  financial_account: 'treasury_financial_account',
  value_list: 'radar_value_list',
  subscription: 'subscription',
};

/** Children whose absence from a parent's complete sub-list means they are gone. */
const REMOVE_STALE_RESOURCES = new Set(['subscription_item']);

/** Per-parent walks of tables that also have a top-level list which may not hold everything. */
const OPTIONAL_PARENT_JOBS: Array<{ table: string; path: string }> = [
  // Stripe's GET /v1/payment_methods lists only Treasury payment methods; customers' are listed per customer.
  { table: 'payment_method', path: '/v1/customers/{customer}/payment_methods' },
];

function topLevelList(t: TableMapping): ListPath | undefined {
  const candidates = t.listPaths.filter((l) => !l.search && l.requiredParams.every((p) => FIXED_PARAMS[l.path]?.[p] !== undefined));
  return candidates.find((l) => l.path === PREFERRED_PATH[t.table]) ?? candidates[0];
}

let cached: SyncPlan | undefined;

export function syncPlan(): SyncPlan {
  if (cached) return cached;
  const tables = schemaMapping().tables.filter((t) => t.kind !== 'virtual');
  const lists = new Map<string, ListJob>();
  for (const t of tables) {
    const list = topLevelList(t);
    if (!list) continue;
    lists.set(t.table, {
      kind: 'list',
      name: `list:${list.path}`,
      table: t.table,
      path: list.path,
      params: { ...FIXED_PARAMS[list.path] },
      createdFilter: list.createdFilter && t.columns.some((c) => c.name === (CREATED_FIELD[t.table] ?? 'created')),
      createdField: CREATED_FIELD[t.table] ?? 'created',
      paginated: !NOT_PAGINATED.has(list.path),
      expanded: [],
      children: [],
    });
  }
  const routes = new Map<string, string>();
  for (const job of lists.values()) routes.set(job.table, `list ${job.path}${Object.keys(job.params).length ? ' (' + Object.entries(job.params).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(', ') + ')' : ''}`);

  // Embedded sub-lists of listed parents, for tables with no list of their own.
  for (const t of tables) {
    if (lists.has(t.table)) continue;
    for (const link of t.parents) {
      const parent = lists.get(link.parentTable);
      if (!parent || !link.parentProperty) continue;
      if (EXPAND_ONLY[parent.table]?.includes(link.parentProperty) && !parent.expanded.includes(link.parentProperty)) {
        parent.expanded.push(link.parentProperty);
      }
      parent.children.push({
        table: t.table,
        property: link.parentProperty,
        nestedListPath: link.nestedListPath,
        parentParam: link.parentParam,
        removeStale: t.kind === 'child' || REMOVE_STALE_RESOURCES.has(t.table),
      });
      const prior = routes.get(t.table);
      routes.set(t.table, `${prior ? `${prior}; ` : ''}embedded ${link.parentTable}.${link.parentProperty}${parent.expanded.includes(link.parentProperty) ? ' (expanded)' : ''}`);
    }
  }
  for (const job of lists.values()) {
    if (job.expanded.length) job.params.expand = job.expanded.map((p) => `data.${p}`);
  }

  // Per-parent walks for what is still unreachable.
  const parents: ParentJob[] = [];
  const reachable = (table: string) => routes.has(table);
  for (const t of tables) {
    if (reachable(t.table)) continue;
    const link = t.parents.find((l) => !l.parentProperty && l.nestedListPath && l.parentParam && reachable(l.parentTable));
    if (link) {
      parents.push({ kind: 'parents', name: `parents:${link.nestedListPath}`, table: t.table, parentTable: link.parentTable, path: link.nestedListPath!, parentParam: link.parentParam!, params: {}, parentFields: PARENT_FIELDS[link.nestedListPath!] ?? {}, paginated: !NOT_PAGINATED.has(link.nestedListPath!), optional: false });
      routes.set(t.table, `per parent ${link.nestedListPath}`);
      continue;
    }
    const list = t.listPaths.find((l) => !l.search && l.requiredParams.length === 1 && PARENT_PARAMS[l.requiredParams[0]!] && reachable(PARENT_PARAMS[l.requiredParams[0]!]!));
    if (list) {
      const param = list.requiredParams[0]!;
      parents.push({ kind: 'parents', name: `parents:${list.path}?${param}`, table: t.table, parentTable: PARENT_PARAMS[param]!, path: list.path, parentParam: { name: param, in: 'query' }, params: {}, parentFields: {}, paginated: !NOT_PAGINATED.has(list.path), optional: false });
      routes.set(t.table, `per parent ${list.path}?${param}=`);
    }
  }
  for (const extra of OPTIONAL_PARENT_JOBS) {
    const link = tableMapping(extra.table).parents.find((l) => l.nestedListPath === extra.path);
    if (!link?.parentParam) continue;
    parents.push({ kind: 'parents', name: `parents:${extra.path}`, table: extra.table, parentTable: link.parentTable, path: extra.path, parentParam: link.parentParam, params: {}, parentFields: {}, paginated: true, optional: true });
    routes.set(extra.table, `${routes.get(extra.table)}; per parent ${extra.path} (only with --per-parent all)`);
  }
  const eventsOnly = tables.filter((t) => !routes.has(t.table)).map((t) => t.table);
  for (const t of eventsOnly) routes.set(t, 'events only');
  cached = { lists: [...lists.values()], parents, routes, eventsOnly };
  return cached;
}

/** The per-parent jobs --per-parent selects: default (required ones), all, none, or a list of tables. */
export function selectParentJobs(plan: SyncPlan, setting: string): ParentJob[] {
  const s = setting.trim();
  if (s === 'none' || s === '') return [];
  if (s === 'default') return plan.parents.filter((p) => !p.optional);
  if (s === 'all') return plan.parents;
  const wanted = new Set(s.split(',').map((x) => x.trim()));
  const unknown = [...wanted].filter((t) => !plan.parents.some((p) => p.table === t));
  if (unknown.length) throw new Error(`--per-parent: no per-parent route for ${unknown.join(', ')} (tables with one: ${[...new Set(plan.parents.map((p) => p.table))].join(', ')})`);
  return plan.parents.filter((p) => wanted.has(p.table));
}

/** object value (`invoice`, `checkout.session`) → the table its events fill. */
export function tableForObject(object: string): string | undefined {
  if (!objectTables) {
    objectTables = new Map();
    for (const t of schemaMapping().tables) if (t.kind === 'resource' && !objectTables.has(t.object)) objectTables.set(t.object, t.table);
  }
  return objectTables.get(object);
}
let objectTables: Map<string, string> | undefined;

/** Every embedded sub-list of a table, for events (whose objects carry their first pages). */
export function childrenOf(table: string): ChildPlan[] {
  let found = childCache.get(table);
  if (found) return found;
  found = [];
  for (const t of schemaMapping().tables) {
    for (const link of t.parents) {
      if (link.parentTable !== table || !link.parentProperty) continue;
      found.push({ table: t.table, property: link.parentProperty, nestedListPath: link.nestedListPath, parentParam: link.parentParam, removeStale: t.kind === 'child' || REMOVE_STALE_RESOURCES.has(t.table) });
    }
  }
  childCache.set(table, found);
  return found;
}
const childCache = new Map<string, ChildPlan[]>();

/**
 * Tables reached only through a parent of `table` (its embedded sub-lists, its per-parent lists),
 * with the column naming the parent: when the parent is deleted, Stripe no longer lists them.
 * Tables with a list of their own (a canceled customer's subscriptions) are not among them.
 */
export function cascadeOf(table: string): Array<{ table: string; column: string }> {
  let found = cascadeCache.get(table);
  if (found) return found;
  const plan = syncPlan();
  const listed = new Set(plan.lists.map((j) => j.table));
  found = [];
  const add = (child: string, column: string | undefined) => {
    if (column && !listed.has(child) && !found!.some((c) => c.table === child)) found!.push({ table: child, column });
  };
  for (const job of plan.lists.filter((j) => j.table === table)) {
    for (const child of job.children) add(child.table, tableMapping(child.table).parents.find((l) => l.parentTable === table && l.parentProperty === child.property)?.parentColumn);
  }
  for (const job of plan.parents.filter((j) => j.parentTable === table && !j.optional)) {
    const link = tableMapping(job.table).parents.find((l) => l.parentTable === table);
    add(job.table, link?.parentColumn ?? (job.parentParam.in === 'query' ? job.parentParam.name : undefined));
  }
  cascadeCache.set(table, found);
  return found;
}
const cascadeCache = new Map<string, Array<{ table: string; column: string }>>();

/**
 * Tables a complete walk of `jobs` lists entirely, so rows it did not see are gone from Stripe.
 * Not: events (older ones leave the window but stay here as history), payment methods (Stripe's
 * list holds only Treasury ones), app secrets (user-scoped ones are not listed).
 */
export function sweepableTables(lists: ListJob[], parents: ParentJob[], skippedJobs: Set<string>): string[] {
  const never = new Set(['event', 'payment_method', 'apps_secret']);
  const out = new Set<string>();
  for (const job of lists) {
    if (skippedJobs.has(job.name)) continue;
    out.add(job.table);
    for (const child of job.children) out.add(child.table);
  }
  for (const job of parents) if (!skippedJobs.has(job.name)) out.add(job.table);
  // A child table reached through several parents is complete only if every parent's list was.
  for (const t of [...out]) {
    const feeders = lists.filter((j) => j.children.some((c) => c.table === t)).map((j) => j.name);
    if (feeders.some((f) => skippedJobs.has(f))) out.delete(t);
  }
  return [...out].filter((t) => !never.has(t));
}
