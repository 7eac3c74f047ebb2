// GraphQL resolvers over the service layer (records-query.ts, records-writer.ts). Every argument
// is validated with zod (a BAD_USER_INPUT error names each field); the columns read are those the
// selection needs; nested fields are mercurius loaders, so a page of N records costs one query per
// nested field, not N.
import type { GraphQLResolveInfo } from 'graphql';
import mercurius from 'mercurius';
import { z } from 'zod';
import type { Sql } from '../platform/db.ts';
import { DateTimeScalar, JSONScalar, LongScalar, parseArg, userError, withoutNulls } from '../platform/graphql.ts';
import { clientOf } from './api-clients.ts';
import { MAX_BATCH_FIRST, MAX_PRODUCT_RECORDS, selectedColumns } from './graphql-schema.ts';
import { gidSchema, type RecordRow } from './record-schema.ts';
import {
  decodeCursor,
  encodeCursor,
  findRecords,
  firstSchema,
  InvalidCursorError,
  lastCreatedAt,
  MAX_PRODUCT_GIDS,
  recordFilterSchema,
  recordsByGids,
  recordsForProducts,
  stripeInvoiceReader,
  type RecordFilter,
} from './records-query.ts';
import {
  createRecord,
  IdempotencyConflictError,
  idempotencyKeySchema,
  recordInputSchema,
  recordPatchSchema,
  StripeIdTakenError,
  updateRecord,
} from './records-writer.ts';

const { ErrorWithProps } = mercurius;

const gidList = z.array(gidSchema).max(MAX_PRODUCT_GIDS, { error: `at most ${MAX_PRODUCT_GIDS} gids` });

type Args = Record<string, unknown>;
type Context = { reply: { request: unknown } };

function requireInternal(ctx: Context): string {
  const client = clientOf(ctx.reply.request);
  if (client.kind !== 'internal') throw new ErrorWithProps('Writes need an internal API key', { code: 'FORBIDDEN' }, 403);
  return client.scope;
}

function writeErrors<T>(run: () => Promise<T>): Promise<T> {
  return run().catch((err: unknown) => {
    if (err instanceof IdempotencyConflictError || err instanceof StripeIdTakenError) throw new ErrorWithProps(err.message, { code: 'CONFLICT' }, 409);
    throw err;
  });
}

const RECORD_PATHS = [['edges', 'node'], ['nodes']];

export function billingResolvers({ sql }: { sql: Sql }) {
  return {
    DateTime: DateTimeScalar,
    Long: LongScalar,
    JSON: JSONScalar,
    Query: {
      async billingRecords(_root: unknown, args: Args, _ctx: Context, info: GraphQLResolveInfo) {
        const filter: RecordFilter = parseArg(recordFilterSchema, withoutNulls(args.filter), 'filter');
        const first = parseArg(firstSchema(50), args.first ?? undefined, 'first');
        const afterText = args.after == null ? undefined : parseArg(z.string().max(200), args.after, 'after');
        let after;
        try {
          after = afterText ? decodeCursor(afterText) : undefined;
        } catch (err) {
          if (err instanceof InvalidCursorError) throw userError(err.message, [{ field: 'after', message: err.message }]);
          throw err;
        }
        const { rows, hasNextPage } = await findRecords(sql, filter, { first, after, columns: selectedColumns(info, RECORD_PATHS) });
        const last = rows[rows.length - 1];
        return {
          nodes: rows,
          edges: rows.map((node) => ({ cursor: encodeCursor(node), node })),
          pageInfo: { hasNextPage, endCursor: last ? encodeCursor(last) : null },
        };
      },
      async billingRecordsForProducts(_root: unknown, args: Args, _ctx: Context, info: GraphQLResolveInfo) {
        const productGids = parseArg(gidList, args.productGids, 'productGids');
        const filter = args.filter == null ? undefined : parseArg(recordFilterSchema, withoutNulls(args.filter), 'filter');
        const first = parseArg(firstSchema(50, MAX_BATCH_FIRST), args.first ?? undefined, 'first');
        const batches = await recordsForProducts(sql, productGids, { filter, first, columns: selectedColumns(info, [['records']]) });
        return batches.map((b) => ({ productGid: b.product_gid, records: b.records }));
      },
      async billingRecord(_root: unknown, args: Args, _ctx: Context, info: GraphQLResolveInfo) {
        const gid = parseArg(gidSchema, args.gid, 'gid');
        const [record] = await recordsByGids(sql, [gid], selectedColumns(info, [[]]));
        return record;
      },
      async billingRecordsByGids(_root: unknown, args: Args, _ctx: Context, info: GraphQLResolveInfo) {
        return recordsByGids(sql, parseArg(gidList, args.gids, 'gids'), selectedColumns(info, [[]]));
      },
      async lastBillingRecordCreatedAt(_root: unknown, args: Args) {
        const productGids = parseArg(gidList, args.productGids, 'productGids');
        return (await lastCreatedAt(sql, productGids)).map((r) => ({ productGid: r.product_gid, createdAt: r.created_at }));
      },
    },
    Mutation: {
      async createBillingRecord(_root: unknown, args: Args, ctx: Context) {
        const scope = requireInternal(ctx);
        const input = parseArg(recordInputSchema, withoutNulls(args.input), 'input');
        const key = args.idempotencyKey == null ? undefined : parseArg(idempotencyKeySchema, args.idempotencyKey, 'idempotencyKey');
        const { record } = await writeErrors(() => createRecord(sql, input, key ? { scope, key } : undefined));
        return record;
      },
      async updateBillingRecord(_root: unknown, args: Args, ctx: Context) {
        requireInternal(ctx);
        const gid = parseArg(gidSchema, args.gid, 'gid');
        const patch = parseArg(recordPatchSchema, patchArgs(args.patch), 'patch');
        const record = await writeErrors(() => updateRecord(sql, gid, patch));
        if (!record) throw new ErrorWithProps(`No billing record ${gid}`, { code: 'NOT_FOUND' }, 404);
        return record;
      },
    },
    BillingRecord: {
      productGid: (r: RecordRow) => r.product_gid,
      clientGid: (r: RecordRow) => r.client_gid,
      dueAt: (r: RecordRow) => r.due_at,
      paidAt: (r: RecordRow) => r.paid_at,
      createdAt: (r: RecordRow) => r.created_at,
      updatedAt: (r: RecordRow) => r.updated_at,
      stripeId: (r: RecordRow) => r.stripe_id,
    },
    StripeInvoice: {
      amountDue: (i: { amount_due: number | null }) => i.amount_due,
      amountPaid: (i: { amount_paid: number | null }) => i.amount_paid,
      hostedInvoiceUrl: (i: { hosted_invoice_url: string | null }) => i.hosted_invoice_url,
    },
  };
}

/** An explicit null clears dueAt or paidAt; on other fields it means "unchanged". */
function patchArgs(value: unknown): Record<string, unknown> {
  if (!value || typeof value !== 'object') return {};
  return Object.fromEntries(Object.entries(value).filter(([k, v]) => v !== undefined && (v !== null || k === 'dueAt' || k === 'paidAt')));
}

type LoaderQuery = { obj: RecordRow; params: Args; info: GraphQLResolveInfo };

/** Nested fields, one query per field for the whole page (mercurius batches loader calls per request). */
export function billingLoaders({ sql, stripeSchema }: { sql: Sql; stripeSchema: string }) {
  const stripeInvoices = stripeInvoiceReader(sql, stripeSchema);
  return {
    BillingRecord: {
      productRecords: {
        // cache: false hands each query its `info`, from which the columns are taken.
        opts: { cache: false },
        async loader(queries: LoaderQuery[]) {
          const firsts = queries.map((q) => parseArg(firstSchema(10, MAX_PRODUCT_RECORDS), q.params.first ?? undefined, 'first'));
          const columns = new Set(['product_gid' as const, ...queries.flatMap((q) => [...selectedColumns(q.info, [[]])])]);
          // One more than asked: the record itself is among its product's newest.
          const batches = await recordsForProducts(sql, queries.map((q) => q.obj.product_gid), { first: Math.max(...firsts) + 1, columns });
          const byProduct = new Map(batches.map((b) => [b.product_gid, b.records]));
          return queries.map((q, i) => (byProduct.get(q.obj.product_gid) ?? []).filter((r) => r.id !== q.obj.id).slice(0, firsts[i]));
        },
      },
      async stripeInvoice(queries: Array<{ obj: RecordRow }>) {
        const ids = [...new Set(queries.map((q) => q.obj.stripe_id).filter((id): id is string => !!id))];
        const invoices = await stripeInvoices(ids);
        return queries.map((q) => (q.obj.stripe_id ? (invoices.get(q.obj.stripe_id) ?? null) : null));
      },
    },
  };
}
