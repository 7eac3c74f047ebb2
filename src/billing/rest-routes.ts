// REST over the same service layer and the same filter rules as GraphQL (the article kept both
// behind flags, and its outage came from the REST branch answering an empty filter with the whole
// table: here both call findRecords, which answers an empty filter with nothing).
//   GET  /v1/billing_records?product_gid=a,b&…&first=50&after=…&fields=gid,amount
//   GET|POST /v1/billing_records/for_products, GET|POST /v1/billing_records/last_created_at
//   GET  /v1/billing_records/:gid, POST /v1/billing_records/by_gids {gids, fields?} (input order, null
//   where none);  POST /v1/billing_records, PATCH /v1/billing_records/:gid (internal)
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Sql } from '../platform/db.ts';
import { HttpError, parseInput, type FieldError } from '../platform/http-errors.ts';
import { clientOf } from './api-clients.ts';
import { MAX_BATCH_FIRST } from './graphql-schema.ts';
import { gidSchema, RECORD_COLUMNS, type RecordColumn, type RecordRow } from './record-schema.ts';
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

/** REST filter parameter → service filter field. */
const FILTER_PARAMS = {
  product_gid: 'productGids',
  client_gid: 'clientGids',
  kind: 'kinds',
  status: 'statuses',
  created_after: 'createdAfter',
  created_before: 'createdBefore',
  due_after: 'dueAfter',
  due_before: 'dueBefore',
  paid_after: 'paidAfter',
  paid_before: 'paidBefore',
  amount_min: 'amountMin',
  amount_max: 'amountMax',
  currency: 'currency',
} as const;
type FilterParam = keyof typeof FILTER_PARAMS;
const PARAM_OF_FIELD = Object.fromEntries(Object.entries(FILTER_PARAMS).map(([param, field]) => [field, param])) as Record<string, string>;
const LISTS = new Set<string>(['product_gid', 'client_gid', 'kind', 'status']);
const TIMES = new Set<string>(['created_after', 'created_before', 'due_after', 'due_before', 'paid_after', 'paid_before']);

const splitList = (v: unknown) => (Array.isArray(v) ? v : String(v).split(',').map((s) => s.trim()).filter(Boolean));

/** Renames zod issues of the service schema to the parameter names the caller used. */
function restError(where: string, fields: FieldError[]): HttpError {
  return new HttpError(400, 'validation_failed', `Invalid ${where}: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`, { fields });
}

function zodFields(error: z.ZodError, rename: (key: string) => string, prefix = ''): FieldError[] {
  return error.issues.map((issue) => {
    const [head, ...rest] = issue.path.map(String);
    return { field: [prefix, head === undefined ? '' : rename(head), ...rest].filter(Boolean).join('.') || '(root)', message: issue.message };
  });
}

/** Filter parameters (query strings, or JSON with arrays) → the service filter, errors by parameter. */
function filterFrom(params: Record<string, unknown>, where: string, prefix = ''): RecordFilter {
  const raw: Record<string, unknown> = {};
  for (const [param, value] of Object.entries(params)) {
    if (value === undefined || value === '') continue;
    const field = FILTER_PARAMS[param as FilterParam];
    if (LISTS.has(param)) raw[field] = splitList(value);
    else if (TIMES.has(param)) raw[field] = typeof value === 'string' && !Number.isNaN(Date.parse(value)) && /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? new Date(value) : value;
    else if (param === 'amount_min' || param === 'amount_max') raw[field] = typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : value;
    else raw[field] = value;
  }
  const result = recordFilterSchema.safeParse(raw);
  if (!result.success) throw restError(where, zodFields(result.error, (k) => PARAM_OF_FIELD[k] ?? k, prefix));
  return result.data;
}

const fieldsParam = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(z.enum(RECORD_COLUMNS, { error: `each field is one of ${RECORD_COLUMNS.join(', ')}` })).min(1, { error: 'give at least one field' }));
const intParam = <S extends z.ZodType>(schema: S) => z.preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v), schema);
const gidsParam = z
  .preprocess((v) => (v === undefined ? v : splitList(v)), z.array(gidSchema).min(1, { error: 'give at least one product gid' }).max(MAX_PRODUCT_GIDS, { error: `at most ${MAX_PRODUCT_GIDS} gids` }))
  .optional();

const filterKeys = Object.fromEntries(Object.keys(FILTER_PARAMS).map((k) => [k, z.unknown().optional()])) as Record<FilterParam, z.ZodOptional<z.ZodUnknown>>;
const listQuery = z.strictObject({ ...filterKeys, first: intParam(firstSchema(50)), after: z.string().max(200).optional(), fields: fieldsParam.optional() });
const forProductsInput = z.strictObject({
  product_gids: gidsParam,
  filter: z.record(z.enum(Object.keys(FILTER_PARAMS) as [FilterParam, ...FilterParam[]]), z.unknown()).optional(),
  first: intParam(firstSchema(50, MAX_BATCH_FIRST)),
  fields: z.union([fieldsParam, z.array(z.enum(RECORD_COLUMNS))]).optional(),
});
const lastCreatedInput = z.strictObject({ product_gids: gidsParam });
const byGidsInput = z.strictObject({
  gids: z.array(gidSchema, { error: 'expected a JSON array of record gids' }).min(1, { error: 'give at least one gid' }).max(MAX_PRODUCT_GIDS, { error: `at most ${MAX_PRODUCT_GIDS} gids` }),
  fields: z.union([fieldsParam, z.array(z.enum(RECORD_COLUMNS))]).optional(),
});
const recordParams = z.strictObject({ gid: gidSchema });
const recordQuery = z.strictObject({ fields: fieldsParam.optional() });

/** Record body keys → service input fields (and back, for errors). */
const BODY_KEYS: Record<string, string> = {
  product_gid: 'productGid',
  client_gid: 'clientGid',
  kind: 'kind',
  status: 'status',
  amount: 'amount',
  currency: 'currency',
  due_at: 'dueAt',
  paid_at: 'paidAt',
  stripe_id: 'stripeId',
  metadata: 'metadata',
};
const KEY_OF_FIELD = Object.fromEntries(Object.entries(BODY_KEYS).map(([k, f]) => [f, k]));

function bodyOf<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw restError('body', [{ field: '(root)', message: 'expected a JSON object' }]);
  const fields: FieldError[] = [];
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (BODY_KEYS[key]) raw[BODY_KEYS[key]] = value;
    else fields.push({ field: key, message: 'unknown field' });
  }
  if (fields.length) throw restError('body', fields);
  const result = schema.safeParse(raw);
  if (!result.success) throw restError('body', zodFields(result.error, (k) => KEY_OF_FIELD[k] ?? k));
  return result.data;
}

/** Only the asked-for fields (the cursor's id and created_at are read but not shown unless asked). */
function project(rows: RecordRow[], fields: RecordColumn[] | undefined): Array<Partial<RecordRow>> {
  if (!fields) return rows;
  return rows.map((r) => Object.fromEntries(fields.map((f) => [f, r[f]])));
}

const publicRecord = (r: RecordRow) => Object.fromEntries(RECORD_COLUMNS.map((c) => [c, r[c]]));

function requireInternal(request: FastifyRequest): string {
  const client = clientOf(request);
  if (client.kind !== 'internal') throw new HttpError(403, 'forbidden', 'Writes need an internal API key');
  return client.scope;
}

function writeErrors<T>(run: () => Promise<T>): Promise<T> {
  return run().catch((err: unknown) => {
    if (err instanceof IdempotencyConflictError) throw new HttpError(409, 'idempotency_conflict', err.message);
    if (err instanceof StripeIdTakenError) throw new HttpError(409, 'stripe_id_taken', err.message);
    throw err;
  });
}

export function registerRestRoutes(app: FastifyInstance, { sql }: { sql: Sql }): void {
  app.get('/v1/billing_records', async (request) => {
    const q = parseInput(listQuery, request.query, 'query');
    const { first, after: afterText, fields, ...params } = q;
    const filter = filterFrom(params, 'query');
    let after;
    try {
      after = afterText ? decodeCursor(afterText) : undefined;
    } catch (err) {
      if (err instanceof InvalidCursorError) throw restError('query', [{ field: 'after', message: err.message }]);
      throw err;
    }
    const { rows, hasNextPage } = await findRecords(sql, filter, { first, after, columns: fields });
    const last = rows[rows.length - 1];
    return { data: project(rows, fields), has_more: hasNextPage, next_cursor: hasNextPage && last ? encodeCursor(last) : null };
  });

  const forProducts = async (input: unknown, where: 'query' | 'body') => {
    const q = parseInput(forProductsInput, input, where);
    if (!q.product_gids) throw restError(where, [{ field: 'product_gids', message: 'is required: a comma-separated list (or JSON array) of product gids' }]);
    const filter = q.filter ? filterFrom(q.filter, where, 'filter') : undefined;
    const fields = q.fields as RecordColumn[] | undefined;
    const batches = await recordsForProducts(sql, q.product_gids, { filter, first: q.first, columns: fields });
    return { data: batches.map((b) => ({ product_gid: b.product_gid, records: project(b.records, fields) })) };
  };
  app.get('/v1/billing_records/for_products', (request) => forProducts(request.query, 'query'));
  app.post('/v1/billing_records/for_products', (request) => forProducts(request.body ?? {}, 'body'));

  const lastCreated = async (input: unknown, where: 'query' | 'body') => {
    const q = parseInput(lastCreatedInput, input, where);
    if (!q.product_gids) throw restError(where, [{ field: 'product_gids', message: 'is required: a comma-separated list (or JSON array) of product gids' }]);
    return { data: await lastCreatedAt(sql, q.product_gids) };
  };
  app.get('/v1/billing_records/last_created_at', (request) => lastCreated(request.query, 'query'));
  app.post('/v1/billing_records/last_created_at', (request) => lastCreated(request.body ?? {}, 'body'));

  app.post('/v1/billing_records/by_gids', async (request) => {
    const q = parseInput(byGidsInput, request.body ?? {}, 'body');
    const fields = q.fields as RecordColumn[] | undefined;
    return { data: (await recordsByGids(sql, q.gids, fields)).map((r) => (r ? project([r], fields)[0] : null)) };
  });

  app.get('/v1/billing_records/:gid', async (request) => {
    const { gid } = parseInput(recordParams, request.params, 'params');
    const { fields } = parseInput(recordQuery, request.query, 'query');
    const [record] = await recordsByGids(sql, [gid], fields);
    if (!record) throw new HttpError(404, 'record_not_found', `No billing record ${gid}`);
    return project([record], fields)[0];
  });

  app.post('/v1/billing_records', async (request, reply) => {
    const scope = requireInternal(request);
    const input = bodyOf(recordInputSchema, request.body);
    const header = request.headers['idempotency-key'];
    let key: string | undefined;
    if (header !== undefined) {
      const parsed = idempotencyKeySchema.safeParse(header);
      if (!parsed.success) throw restError('headers', [{ field: 'Idempotency-Key', message: parsed.error.issues[0]!.message }]);
      key = parsed.data;
    }
    const { record, replayed } = await writeErrors(() => createRecord(sql, input, key ? { scope, key } : undefined));
    if (replayed) reply.header('idempotent-replayed', 'true');
    reply.code(201).header('location', `/v1/billing_records/${encodeURIComponent(record.gid)}`);
    return publicRecord(record);
  });

  app.patch('/v1/billing_records/:gid', async (request) => {
    requireInternal(request);
    const { gid } = parseInput(recordParams, request.params, 'params');
    const patch = bodyOf(recordPatchSchema, request.body);
    const record = await writeErrors(() => updateRecord(sql, gid, patch));
    if (!record) throw new HttpError(404, 'record_not_found', `No billing record ${gid}`);
    return publicRecord(record);
  });
}
