// Stripe objects → rows of their table and of the tables their embedded sub-lists feed. A sub-list
// with has_more holds only its first page: the rest is fetched from its own endpoint before the
// parent is written, so a parent and its complete children land in one transaction.
import { childRows, tableMapping, toRow, type Row } from './schema-mapping.ts';
import { asList, type Params, type StripeClient } from './stripe-client.ts';
import type { Priority } from './request-budget.ts';
import type { ChildPlan } from './sync-plan.ts';
import type { Db, RowWriter } from './row-writer.ts';

export type JsonObject = Record<string, unknown>;

export interface StaleParent {
  parentTable: string;
  parentId: string;
  keep: string[];
  /** The parent's row, whose version the removal must beat. */
  version: Row;
}

/** Rows to write together, by table. */
export class RowSet {
  readonly byTable = new Map<string, Row[]>();
  /** Child table → parents whose complete sub-list was seen (for stale child removal). */
  readonly stale = new Map<string, StaleParent[]>();
  /** Requests made to complete sub-lists. */
  requests = 0;

  add(table: string, row: Row): void {
    let rows = this.byTable.get(table);
    if (!rows) this.byTable.set(table, (rows = []));
    rows.push(row);
  }

  get count(): number {
    let n = 0;
    for (const rows of this.byTable.values()) n += rows.length;
    return n;
  }
}

/** Several pages' rows as one set (written in one transaction). */
export function mergeRowSets(sets: RowSet[]): RowSet {
  if (sets.length === 1) return sets[0]!;
  const out = new RowSet();
  for (const set of sets) {
    for (const [table, rows] of set.byTable) for (const row of rows) out.add(table, row);
    for (const [table, parents] of set.stale) out.stale.set(table, [...(out.stale.get(table) ?? []), ...parents]);
    out.requests += set.requests;
  }
  return out;
}

export interface RowContext {
  client: StripeClient;
  accountId: string;
  priority: Priority;
}

/** Fills `{param}` or `?param=` with the parent id. */
export function nestedRequest(path: string, parentParam: { name: string; in: 'path' | 'query' }, parentId: string): { path: string; params: Params } {
  if (parentParam.in === 'path') return { path: path.replace(`{${parentParam.name}}`, encodeURIComponent(parentId)), params: {} };
  return { path, params: { [parentParam.name]: parentId } };
}

/** Every item of a list endpoint after `startingAfter`, page by page. */
export async function fetchAll(ctx: RowContext, path: string, params: Params, startingAfter?: string, paginated = true): Promise<{ items: JsonObject[]; requests: number; startedAt: number }> {
  const items: JsonObject[] = [];
  let after = startingAfter;
  let requests = 0;
  let startedAt: number | undefined;
  for (;;) {
    const paging = paginated ? { limit: 100, ...(after ? { starting_after: after } : {}) } : {};
    const response = await ctx.client.get(path, { ...params, ...paging }, { priority: ctx.priority });
    startedAt ??= response.startedAt;
    requests++;
    const page = asList(response.body);
    items.push(...(page.data as JsonObject[]));
    if (!paginated || !page.has_more || page.data.length === 0) return { items, requests, startedAt };
    after = String(page.data[page.data.length - 1]!.id);
  }
}

/**
 * Adds `object` (already stamped by `stamp`) and the items of its sub-lists in `children` to
 * `set`. Properties in `expanded` were asked for with expand[] and are left out of `_raw`, so
 * `_raw` is the object as Stripe returns it unexpanded.
 */
export async function addObject(
  ctx: RowContext,
  set: RowSet,
  table: string,
  object: JsonObject,
  stamp: (row: Row) => Row,
  children: readonly ChildPlan[],
  expanded: readonly string[] = [],
): Promise<void> {
  const row = stamp(toRow(table, object, { accountId: ctx.accountId }));
  if (expanded.length) {
    const raw = { ...object };
    for (const p of expanded) delete raw[p];
    row._raw = raw;
  }
  set.add(table, row);
  if (children.length === 0) return;
  const wanted = new Map<string, ChildPlan[]>();
  for (const c of children) {
    const list = wanted.get(c.property) ?? [];
    list.push(c);
    wanted.set(c.property, list);
  }
  const parentId = String(object.id);
  for (const list of childRows(table, object, { accountId: ctx.accountId })) {
    const plans = wanted.get(list.property);
    const plan = plans?.find((p) => p.table === list.table);
    if (!plans || !plan) continue;
    for (const r of list.rows) set.add(list.table, stamp(r));
  }
  for (const [property, plans] of wanted) {
    const embedded = object[property] as { data?: JsonObject[]; has_more?: boolean } | null | undefined;
    if (!embedded || !Array.isArray(embedded.data)) continue;
    const items = [...embedded.data];
    let complete = embedded.has_more !== true;
    if (!complete) {
      const plan = plans.find((p) => p.nestedListPath && p.parentParam);
      if (plan) {
        const req = nestedRequest(plan.nestedListPath!, plan.parentParam!, parentId);
        const last = items[items.length - 1];
        const rest = await fetchAll(ctx, req.path, req.params, last ? String(last.id) : undefined);
        set.requests += rest.requests;
        const byObject = new Map(plans.map((p) => [tableMapping(p.table).object, p] as const));
        for (const item of rest.items) {
          const target = byObject.get(String(item.object));
          if (!target) continue;
          set.add(target.table, stamp(childRow(target.table, item, ctx.accountId, parentId)));
        }
        items.push(...rest.items);
        complete = true;
      }
    }
    if (!complete) continue;
    for (const plan of plans) {
      if (!plan.removeStale) continue;
      const object = tableMapping(plan.table).object;
      const keep = items.filter((i) => i.object === object).map((i) => String(i.id));
      const stale = set.stale.get(plan.table) ?? [];
      stale.push({ parentTable: table, parentId, keep, version: row });
      set.stale.set(plan.table, stale);
    }
  }
}

/** A row of a child table for an item fetched from the parent's nested endpoint. */
export function childRow(table: string, item: JsonObject, accountId: string, parentId: string): Row {
  const mapping = tableMapping(table);
  const parentColumn = mapping.columns.find((c) => c.source === 'parent')?.name;
  const row = toRow(table, item, { accountId, ...(parentColumn ? { parentId } : {}) });
  const link = mapping.parents[0];
  if (link && row[link.parentColumn] === null) row[link.parentColumn] = parentId;
  return row;
}

export interface WriteOptions {
  /** Remove children missing from complete sub-lists (not needed on a first backfill: nothing is there yet). */
  removeStale: boolean;
  safe?: boolean;
}

/** Writes a RowSet, parents first; returns the keys written per table. */
export async function writeRowSet(db: Db, writer: RowWriter, accountId: string, set: RowSet, options: WriteOptions): Promise<Map<string, Set<string>>> {
  const applied = new Map<string, Set<string>>();
  for (const [table, rows] of set.byTable) applied.set(table, await writer.upsert(db, table, rows, { safe: options.safe }));
  if (options.removeStale) {
    for (const [table, parents] of set.stale) {
      const written = parents.filter((p) => applied.get(p.parentTable)?.has(p.parentId));
      await writer.removeStaleChildren(db, table, accountId, written);
    }
  }
  return applied;
}
