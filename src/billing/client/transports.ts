// The three ways the client answers a method, each behind the same interface so a per-method flag
// picks one (the article's feature flags: REST, then GraphQL, with the direct read of the billing
// database as the fallback): GraphQL, REST, and `direct` (the service layer's own queries).
import { decodeCursor, encodeCursor, findRecords, lastCreatedAt, recordFilterSchema, recordsByGids, recordsForProducts } from '../records-query.ts';
import type { Sql } from '../../platform/db.ts';
import type { RecordColumn } from '../record-schema.ts';
import { columnOf, toRecord, type BillingRecord, type ParsedFilter, type RecordField } from './records.ts';
import type { RequestLimiter } from './limiter.ts';
import { BillingHttpError, BillingUnavailableError, parseRetryAfter, withRetries, type RetryOptions } from './retry.ts';

export interface Page {
  records: Array<Partial<BillingRecord>>;
  hasNextPage: boolean;
  endCursor: string | null;
}

/** Per call: the method's name, whether its limiter slot is already taken (a batch), attempts made. */
export interface CallContext {
  method: string;
  reserved: boolean;
  attempts: number;
}

export interface TransportOps {
  findRecords(ctx: CallContext, filter: ParsedFilter, o: { first: number; after?: string; fields: readonly RecordField[] }): Promise<Page>;
  recordsForProducts(ctx: CallContext, gids: readonly string[], o: { filter?: ParsedFilter; first: number; fields: readonly RecordField[] }): Promise<Array<{ productGid: string; records: Array<Partial<BillingRecord>> }>>;
  lastCreatedAt(ctx: CallContext, gids: readonly string[]): Promise<Array<{ productGid: string; createdAt: Date | null }>>;
  /** Records by gid in input order, null where there is none. */
  recordsByGids(ctx: CallContext, gids: readonly string[], o: { fields: readonly RecordField[] }): Promise<Array<Partial<BillingRecord> | null>>;
}

// ---------------------------------------------------------------------------------------------
// HTTP: one request = (limiter slot) + fetch with a timeout, repeated on 429/502/503.

export interface HttpOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  limiter: RequestLimiter | undefined;
  retry: RetryOptions;
  onRetry: (method: string, err: BillingHttpError, nextAttempt: number) => void;
}

export type Send = (ctx: CallContext, verb: 'GET' | 'POST', path: string, body?: unknown) => Promise<unknown>;

export function httpSender(options: HttpOptions): Send {
  const base = options.baseUrl.replace(/\/+$/, '');
  const headers = { authorization: `Bearer ${options.apiKey}`, accept: 'application/json' };
  return (ctx, verb, path, body) => {
    const where = `${verb} ${path.split('?')[0]}`;
    const attempt = async () => {
      ctx.attempts++;
      // A batch scheduled behind the limiter arrives holding its slot for the first attempt.
      if (options.limiter && !(ctx.reserved && ctx.attempts === 1)) await options.limiter.acquire();
      let response: Response;
      let text: string;
      try {
        response = await fetch(`${base}${path}`, {
          method: verb,
          headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        text = await response.text();
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause;
        throw new BillingUnavailableError(`${where}: ${cause?.code ?? (err as Error).message}`);
      }
      if (!response.ok) {
        let message = text.slice(0, 200);
        try {
          message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
        } catch {
          // a proxy's HTML error page
        }
        throw new BillingHttpError(`${where} → ${response.status}: ${message}`, response.status, parseRetryAfter(response.headers.get('retry-after')));
      }
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new BillingUnavailableError(`${where}: the response is not JSON`);
      }
    };
    return withRetries(attempt, options.retry, (err, next) => options.onRetry(ctx.method, err, next));
  };
}

// ---------------------------------------------------------------------------------------------
// GraphQL: the selection is exactly the fields asked for.

export class BillingGraphqlError extends Error {
  override name = 'BillingGraphqlError';
}

const isoVariables = (filter: ParsedFilter | undefined) => (filter ? JSON.parse(JSON.stringify(filter)) : undefined) as unknown;

export function graphqlTransport(send: Send): TransportOps {
  const query = async <T>(ctx: CallContext, text: string, variables: Record<string, unknown>): Promise<T> => {
    const body = (await send(ctx, 'POST', '/graphql', { query: text, variables })) as { data?: T; errors?: Array<{ message: string }> };
    if (body.errors?.length || !body.data) throw new BillingGraphqlError(`graphql: ${body.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
    return body.data;
  };
  const selection = (fields: readonly RecordField[]) => fields.join(' ');
  return {
    async findRecords(ctx, filter, o) {
      const data = await query<{ billingRecords: { nodes: Array<Record<string, unknown>>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(
        ctx,
        `query($filter: BillingRecordFilter!, $first: Int, $after: String) { billingRecords(filter: $filter, first: $first, after: $after) { nodes { ${selection(o.fields)} } pageInfo { hasNextPage endCursor } } }`,
        { filter: isoVariables(filter), first: o.first, after: o.after ?? null },
      );
      const { nodes, pageInfo } = data.billingRecords;
      return { records: nodes.map((n) => toRecord(n, o.fields)), hasNextPage: pageInfo.hasNextPage, endCursor: pageInfo.endCursor };
    },
    async recordsForProducts(ctx, gids, o) {
      const data = await query<{ billingRecordsForProducts: Array<{ productGid: string; records: Array<Record<string, unknown>> }> }>(
        ctx,
        `query($gids: [ID!]!, $filter: BillingRecordFilter, $first: Int) { billingRecordsForProducts(productGids: $gids, filter: $filter, first: $first) { productGid records { ${selection(o.fields)} } } }`,
        { gids, filter: isoVariables(o.filter) ?? null, first: o.first },
      );
      return data.billingRecordsForProducts.map((p) => ({ productGid: p.productGid, records: p.records.map((r) => toRecord(r, o.fields)) }));
    },
    async lastCreatedAt(ctx, gids) {
      const data = await query<{ lastBillingRecordCreatedAt: Array<{ productGid: string; createdAt: string | null }> }>(
        ctx,
        'query($gids: [ID!]!) { lastBillingRecordCreatedAt(productGids: $gids) { productGid createdAt } }',
        { gids },
      );
      return data.lastBillingRecordCreatedAt.map((p) => ({ productGid: p.productGid, createdAt: p.createdAt ? new Date(p.createdAt) : null }));
    },
    async recordsByGids(ctx, gids, o) {
      const data = await query<{ billingRecordsByGids: Array<Record<string, unknown> | null> }>(
        ctx,
        `query($gids: [ID!]!) { billingRecordsByGids(gids: $gids) { ${selection(o.fields)} } }`,
        { gids },
      );
      return data.billingRecordsByGids.map((r) => (r ? toRecord(r, o.fields) : null));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// REST: snake_case parameters and rows; long gid lists go in POST bodies.

const REST_PARAMS: Record<keyof ParsedFilter, string> = {
  productGids: 'product_gid',
  clientGids: 'client_gid',
  kinds: 'kind',
  statuses: 'status',
  createdAfter: 'created_after',
  createdBefore: 'created_before',
  dueAfter: 'due_after',
  dueBefore: 'due_before',
  paidAfter: 'paid_after',
  paidBefore: 'paid_before',
  amountMin: 'amount_min',
  amountMax: 'amount_max',
  currency: 'currency',
};

function restFilter(filter: ParsedFilter): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    out[REST_PARAMS[key as keyof ParsedFilter]] = Array.isArray(value) ? value.join(',') : value instanceof Date ? value.toISOString() : String(value);
  }
  return out;
}

const columns = (fields: readonly RecordField[]) => fields.map(columnOf);

export function restTransport(send: Send): TransportOps {
  return {
    async findRecords(ctx, filter, o) {
      const params = new URLSearchParams({ ...restFilter(filter), first: String(o.first), fields: columns(o.fields).join(',') });
      if (o.after) params.set('after', o.after);
      const body = (await send(ctx, 'GET', `/v1/billing_records?${params}`)) as { data: Array<Record<string, unknown>>; has_more: boolean; next_cursor: string | null };
      return { records: body.data.map((r) => toRecord(r, o.fields)), hasNextPage: body.has_more, endCursor: body.next_cursor };
    },
    async recordsForProducts(ctx, gids, o) {
      const body = (await send(ctx, 'POST', '/v1/billing_records/for_products', {
        product_gids: gids,
        ...(o.filter ? { filter: restFilter(o.filter) } : {}),
        first: o.first,
        fields: columns(o.fields),
      })) as { data: Array<{ product_gid: string; records: Array<Record<string, unknown>> }> };
      return body.data.map((p) => ({ productGid: p.product_gid, records: p.records.map((r) => toRecord(r, o.fields)) }));
    },
    async lastCreatedAt(ctx, gids) {
      const body = (await send(ctx, 'POST', '/v1/billing_records/last_created_at', { product_gids: gids })) as { data: Array<{ product_gid: string; created_at: string | null }> };
      return body.data.map((p) => ({ productGid: p.product_gid, createdAt: p.created_at ? new Date(p.created_at) : null }));
    },
    async recordsByGids(ctx, gids, o) {
      const body = (await send(ctx, 'POST', '/v1/billing_records/by_gids', { gids, fields: columns(o.fields) })) as { data: Array<Record<string, unknown> | null> };
      return body.data.map((r) => (r ? toRecord(r, o.fields) : null));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// direct: the billing database through the service layer (same validation and queries as the API).

export function directTransport(sql: Sql): TransportOps {
  const cols = (fields: readonly RecordField[]): RecordColumn[] => columns(fields);
  return {
    async findRecords(_ctx, filter, o) {
      const page = await findRecords(sql, recordFilterSchema.parse(filter), { first: o.first, after: o.after ? decodeCursor(o.after) : undefined, columns: cols(o.fields) });
      const last = page.rows[page.rows.length - 1];
      return { records: page.rows.map((r) => toRecord(r as never, o.fields)), hasNextPage: page.hasNextPage, endCursor: page.hasNextPage && last ? encodeCursor(last) : null };
    },
    async recordsForProducts(_ctx, gids, o) {
      const rows = await recordsForProducts(sql, gids, { filter: o.filter ? recordFilterSchema.parse(o.filter) : undefined, first: o.first, columns: cols(o.fields) });
      return rows.map((p) => ({ productGid: p.product_gid, records: p.records.map((r) => toRecord(r as never, o.fields)) }));
    },
    async lastCreatedAt(_ctx, gids) {
      const rows = await lastCreatedAt(sql, gids);
      return rows.map((p) => ({ productGid: p.product_gid, createdAt: p.created_at }));
    },
    async recordsByGids(_ctx, gids, o) {
      return (await recordsByGids(sql, gids, cols(o.fields))).map((r) => (r ? toRecord(r as never, o.fields) : null));
    },
  };
}
