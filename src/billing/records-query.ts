// Reading billing records: one validated filter compiled to one parameterized statement that an
// index serves, newest first, with a keyset cursor on (created_at desc, id desc). GraphQL, REST and
// the client's `direct` mode all call these functions, so they share every rule:
//   - a filter with no criteria matches nothing (an empty page, never the whole table: the
//     article's outage);
//   - only the asked-for columns are read (plus id and created_at, which the cursor needs);
//   - a batch of products is one statement (one LATERAL index walk per product).
// What serves each shape: product_gid → (product_gid, created_at desc, id desc, <every filter
// column>); client_gid → (client_gid, …); anything else walks (created_at desc, id desc, …), or
// the amount/due/paid indexes for a narrow range. The trailing filter columns let a walk reject
// rows on the index tuple, without visiting the heap (migration 002). Several gids are searched
// once each (LATERAL, `first` rows apiece) and merged, instead of reading every match and sorting.
import postgres from 'postgres';
import { z } from 'zod';
import type { Sql } from '../platform/db.ts';
import {
  amountSchema,
  currencySchema,
  gidSchema,
  kindSchema,
  normalizeRow,
  RECORD_COLUMNS,
  statusSchema,
  type RecordColumn,
  type RecordRow,
} from './record-schema.ts';

export const MAX_FIRST = 500;
export const MAX_PRODUCT_GIDS = 1000;

const list = <T extends z.ZodType>(item: T, max: number) => z.array(item, { error: 'expected a list' }).max(max, { error: `at most ${max} values` });

const time = z.date({ error: 'expected an ISO 8601 time with an offset, e.g. 2024-05-01T12:00:00Z' });

export const recordFilterSchema = z
  .strictObject({
    productGids: list(gidSchema, MAX_PRODUCT_GIDS).optional(),
    clientGids: list(gidSchema, MAX_PRODUCT_GIDS).optional(),
    kinds: list(kindSchema, 10).optional(),
    statuses: list(statusSchema, 10).optional(),
    createdAfter: time.optional(),
    createdBefore: time.optional(),
    dueAfter: time.optional(),
    dueBefore: time.optional(),
    paidAfter: time.optional(),
    paidBefore: time.optional(),
    amountMin: amountSchema.optional(),
    amountMax: amountSchema.optional(),
    currency: currencySchema.optional(),
  })
  .superRefine((f, ctx) => {
    for (const [from, to] of [['createdAfter', 'createdBefore'], ['dueAfter', 'dueBefore'], ['paidAfter', 'paidBefore']] as const) {
      const a = f[from];
      const b = f[to];
      if (a && b && a >= b) ctx.addIssue({ code: 'custom', path: [to], message: `must be later than ${from}` });
    }
    if (f.amountMin !== undefined && f.amountMax !== undefined && f.amountMin > f.amountMax) {
      ctx.addIssue({ code: 'custom', path: ['amountMax'], message: 'must be at least amountMin' });
    }
  });
export type RecordFilter = z.output<typeof recordFilterSchema>;

/** No criterion at all: such a search answers nothing rather than everything. */
export const isEmptyFilter = (f: RecordFilter) => Object.values(f).every((v) => v === undefined);

export const firstSchema = (fallback: number, max = MAX_FIRST) =>
  z.number({ error: 'expected an integer' }).int({ error: 'expected an integer' }).min(1, { error: `must be 1-${max}` }).max(max, { error: `must be 1-${max}` }).default(fallback);

// ---------------------------------------------------------------------------------------------
// Cursors: base64url of [created_at ISO, id]; created_at is stored to the millisecond.

export interface Cursor {
  createdAt: Date;
  id: string;
}

const cursorSchema = z.tuple([z.iso.datetime(), z.string().regex(/^\d{1,19}$/)]);

export function encodeCursor(row: { created_at: Date; id: string }): string {
  return Buffer.from(JSON.stringify([row.created_at.toISOString(), String(row.id)])).toString('base64url');
}

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

export function decodeCursor(text: string): Cursor {
  try {
    const [at, id] = cursorSchema.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
    return { createdAt: new Date(at), id };
  } catch {
    throw new InvalidCursorError('after is not a cursor returned by this API');
  }
}

// ---------------------------------------------------------------------------------------------

/** The columns to read: those asked for, in table order, plus what the cursor needs. */
export function columnsFor(wanted: Iterable<RecordColumn> | undefined): RecordColumn[] {
  if (!wanted) return [...RECORD_COLUMNS];
  const set = new Set<RecordColumn>(['id', 'created_at', ...wanted]);
  return RECORD_COLUMNS.filter((c) => set.has(c));
}

const select = (columns: RecordColumn[]) => columns.map((c) => `e.${c}`).join(', ');
const ORDER = 'order by e.created_at desc, e.id desc';

function paramList() {
  const params: unknown[] = [];
  return {
    params,
    $: (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    },
  };
}

type Param = (value: unknown) => string;

/** The filter as conditions on `e`; a driving list (product or client gids) is compared with d.v. */
function conditionsOf(f: RecordFilter, after: Cursor | undefined, $: Param, driver: 'product' | 'client' | undefined): string[] {
  const where: string[] = [];
  const anyOf = (column: string, values: readonly string[] | undefined, drives: boolean) => {
    if (!values) return;
    if (drives) where.push(`${column} = d.v`);
    else if (values.length === 1) where.push(`${column} = ${$(values[0])}`);
    else where.push(`${column} = any(${$(values)}::text[])`);
  };
  anyOf('e.product_gid', f.productGids, driver === 'product');
  anyOf('e.client_gid', f.clientGids, driver === 'client');
  anyOf('e.kind', f.kinds, false);
  anyOf('e.status', f.statuses, false);
  const range = (column: string, from: unknown, to: unknown) => {
    if (from !== undefined) where.push(`${column} >= ${$(from)}`);
    if (to !== undefined) where.push(`${column} < ${$(to)}`);
  };
  range('e.created_at', f.createdAfter, f.createdBefore);
  range('e.due_at', f.dueAfter, f.dueBefore);
  range('e.paid_at', f.paidAfter, f.paidBefore);
  if (f.amountMin !== undefined) where.push(`e.amount >= ${$(f.amountMin)}`);
  if (f.amountMax !== undefined) where.push(`e.amount <= ${$(f.amountMax)}`);
  if (f.currency) where.push(`e.currency = ${$(f.currency)}`);
  if (after) where.push(`(e.created_at, e.id) < (${$(after.createdAt)}, ${$(after.id)}::bigint)`);
  return where;
}

const whereText = (conditions: string[]) => (conditions.length ? `where ${conditions.join(' and ')}` : '');

/** A literal (validated), so the planner knows how few rows are wanted. */
function limitOf(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > MAX_FIRST + 1) throw new Error(`first must be 1-${MAX_FIRST}`);
  return String(n);
}

export interface CompiledQuery {
  text: string;
  params: unknown[];
}

export function compileFind(filter: RecordFilter, first: number, after: Cursor | undefined, columns: RecordColumn[]): CompiledQuery {
  const { params, $ } = paramList();
  const driver = (filter.productGids?.length ?? 0) > 1 ? 'product' : !filter.productGids && (filter.clientGids?.length ?? 0) > 1 ? 'client' : undefined;
  const where = conditionsOf(filter, after, $, driver);
  const limit = limitOf(first + 1);
  const inner = `select ${select(columns)} from billing.records e ${whereText(where)} ${ORDER} limit ${limit}`;
  if (!driver) return { params, text: inner };
  const values = $(driver === 'product' ? filter.productGids : filter.clientGids);
  return { params, text: `select e.* from unnest(${values}::text[]) as d(v) cross join lateral (${inner}) e ${ORDER} limit ${limit}` };
}

export interface FindOptions {
  first: number;
  after?: Cursor;
  /** Record columns the caller needs; all when omitted. */
  columns?: Iterable<RecordColumn>;
}

export interface RecordPage<R = RecordRow> {
  rows: R[];
  hasNextPage: boolean;
}

/** A page of records, newest first. An empty filter is an empty page (no query at all). */
export async function findRecords(sql: Sql, filter: RecordFilter, options: FindOptions): Promise<RecordPage> {
  if (isEmptyFilter(filter) || filter.productGids?.length === 0 || filter.clientGids?.length === 0) return { rows: [], hasNextPage: false };
  const query = compileFind(filter, options.first, options.after, columnsFor(options.columns));
  const rows = await sql.unsafe<RecordRow[]>(query.text, query.params as never[], { prepare: true });
  return { rows: rows.slice(0, options.first).map(normalizeRow), hasNextPage: rows.length > options.first };
}

export interface ForProductsOptions {
  filter?: RecordFilter;
  first: number;
  columns?: Iterable<RecordColumn>;
}

/**
 * The newest `first` records of each product (in input order, duplicates once), with one
 * statement for the whole batch: the article's `billing_records_for_products`.
 */
export async function recordsForProducts(sql: Sql, productGids: readonly string[], options: ForProductsOptions): Promise<Array<{ product_gid: string; records: RecordRow[] }>> {
  const gids = [...new Set(productGids)];
  if (!gids.length) return [];
  const { params, $ } = paramList();
  const values = $(gids);
  const where = ['e.product_gid = d.v', ...conditionsOf({ ...options.filter, productGids: undefined }, undefined, $, undefined)];
  if (options.filter?.productGids) where.push(`e.product_gid = any(${$(options.filter.productGids)}::text[])`);
  const columns = columnsFor(options.columns);
  const text =
    `select d.ord, ${columns.join(', ')} from unnest(${values}::text[]) with ordinality as d(v, ord) ` +
    `cross join lateral (select ${select(columns)} from billing.records e ${whereText(where)} ${ORDER} limit ${limitOf(options.first)}) e`;
  const rows = await sql.unsafe<Array<RecordRow & { ord: string }>>(text, params as never[], { prepare: true });
  const byProduct = gids.map((product_gid) => ({ product_gid, records: [] as RecordRow[] }));
  for (const { ord, ...row } of rows) byProduct[Number(ord) - 1]!.records.push(normalizeRow(row as RecordRow));
  return byProduct;
}

/** When each product's newest record was created (null when it has none), in input order; one statement. */
export async function lastCreatedAt(sql: Sql, productGids: readonly string[]): Promise<Array<{ product_gid: string; created_at: Date | null }>> {
  if (!productGids.length) return [];
  return sql<Array<{ product_gid: string; created_at: Date | null }>>`
    select d.v as product_gid,
           (select e.created_at from billing.records e where e.product_gid = d.v order by e.created_at desc, e.id desc limit 1) as created_at
    from unnest(${productGids as string[]}::text[]) with ordinality as d(v, ord)
    order by d.ord`;
}

/** Records by gid, in input order (null where there is none); one statement for the whole list. */
export async function recordsByGids(sql: Sql, gids: readonly string[], columns?: Iterable<RecordColumn>): Promise<Array<RecordRow | null>> {
  if (!gids.length) return [];
  const cols = columnsFor(columns);
  const read = cols.includes('gid') ? cols : [...cols, 'gid' as const];
  const rows = await sql.unsafe<RecordRow[]>(`select ${select(read)} from billing.records e where e.gid = any($1::text[])`, [[...new Set(gids)]] as never[], { prepare: true });
  const byGid = new Map(rows.map((r) => [r.gid, normalizeRow(r)]));
  return gids.map((gid) => byGid.get(gid) ?? null);
}


// ---------------------------------------------------------------------------------------------
// The Stripe mirror's invoice behind a record's stripe_id, for a whole page at once.

export interface StripeInvoiceRow {
  id: string;
  status: string | null;
  amount_due: number | null;
  amount_paid: number | null;
  hosted_invoice_url: string | null;
}

/** Finds the mirror's invoice table (absent until stripe-sync is migrated), remembered for a minute. */
export function stripeInvoiceReader(sql: Sql, schema: string) {
  let known: { exists: boolean; at: number } | undefined;
  return async function stripeInvoices(ids: readonly string[]): Promise<Map<string, StripeInvoiceRow>> {
    const out = new Map<string, StripeInvoiceRow>();
    if (!ids.length) return out;
    if (!known || Date.now() - known.at > 60_000) {
      const [row] = await sql<{ t: string | null }[]>`select to_regclass(${`${schema}.invoice`})::text as t`;
      known = { exists: !!row?.t, at: Date.now() };
    }
    if (!known.exists) return out;
    const rows = await sql<StripeInvoiceRow[]>`
      select id, status, amount_due::float8 as amount_due, amount_paid::float8 as amount_paid, hosted_invoice_url
      from ${sql(schema)}.invoice where id = any(${ids as string[]}::text[])`;
    for (const r of rows) out.set(r.id, r);
    return out;
  };
}

export interface RecordsSqlOptions {
  applicationName: string;
  max: number;
  statementTimeoutMs: number;
  /** postgres.js' query hook (tests read the SQL text the API sends). */
  debug?: (connection: number, query: string, parameters: unknown[]) => void;
}

/**
 * The API's Postgres pool: src/platform/db.ts' settings plus session settings sent at connect, so
 * a search needs no transaction to set them: a statement timeout, and JIT and parallel workers off
 * (their start-up dwarfs these short index walks). Statements are prepared (per connection) but
 * planned for their values every time: a cached generic plan is costed for an average product,
 * and on the busiest ones (5 % of all records) it chose bitmap scans + sort of the product's whole
 * range, 50-400 ms instead of a sub-millisecond walk.
 */
export function createRecordsSql(url: string, options: RecordsSqlOptions): Sql {
  return postgres(url, {
    max: options.max,
    connect_timeout: 5,
    idle_timeout: 30,
    onnotice: () => {},
    ...(options.debug ? { debug: options.debug } : {}),
    connection: {
      application_name: options.applicationName,
      statement_timeout: options.statementTimeoutMs,
      jit: 'off',
      max_parallel_workers_per_gather: '0',
      plan_cache_mode: 'force_custom_plan',
    },
  });
}
