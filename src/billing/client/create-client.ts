// createBillingClient: the billing client a monolith uses (the article's Billing::QueryService).
// Per-method flags pick GraphQL, REST or the direct read of the billing database; an HTTP failure
// is answered by the direct read (logged, counted); single-product lookups made in the same tick
// are batched into one request (DataLoader); HTTP requests share a Redis sliding-window limiter
// across processes and are retried on 429/502/503 honouring Retry-After; every request is measured
// and logged with the stack frame that asked.
import { createHash } from 'node:crypto';
import DataLoader from 'dataloader';
import { z } from 'zod';
import type { Sql } from '../../platform/db.ts';
import type { Logger } from '../../platform/log.ts';
import type { Registry } from '../../platform/metrics.ts';
import type { Redis } from '../../platform/redis.ts';
import { METHODS, type BillingClient, type Method, type RecordsOptions } from './client-api.ts';
import { callerFrame, createInstrumentation, summariseList, type Transport } from './instrumentation.ts';
import { createSlidingWindowLimiter } from './limiter.ts';
import { filterSchema, RECORD_FIELDS, type BillingRecord, type BillingRecordFilter, type ParsedFilter, type RecordField } from './records.ts';
import { DEFAULT_RETRY } from './retry.ts';
import { directTransport, graphqlTransport, httpSender, restTransport, type CallContext, type TransportOps } from './transports.ts';

/** Server limits (the contract): gids per batch request, records per product in a batch. */
const MAX_GIDS = 1000;
const MAX_BATCH_FIRST = 100;

const transportSchema = z.enum(['graphql', 'rest', 'direct'], { error: 'expected graphql, rest or direct' });

/** A method's flag: as set, else graphql; getRecord (added later) follows findRecords, so clients configured before it keep working. */
const flagOf = (methods: Partial<Record<Method, Transport>>, m: Method): Transport => methods[m] ?? (m === 'getRecord' ? methods.findRecords : undefined) ?? 'graphql';
const positive = z.number().int().positive();

const optionsSchema = z
  .strictObject({
    baseUrl: z.url({ error: 'expected the billing API base URL, e.g. http://127.0.0.1:8096' }).optional(),
    apiKey: z.string().min(1, { error: 'expected a billing API key' }).optional(),
    methods: z.strictObject(Object.fromEntries(METHODS.map((m) => [m, transportSchema.optional()])) as Record<Method, z.ZodOptional<typeof transportSchema>>).default({}),
    /** The billing database (postgres.js): the `direct` transport and the fallback. */
    sql: z.custom<Sql>((v) => typeof v === 'function', { error: 'expected a postgres.js sql client' }).optional(),
    redis: z.custom<Redis>((v) => typeof v === 'object' && v !== null && 'eval' in v, { error: 'expected an ioredis client' }).optional(),
    registry: z.custom<Registry>((v) => typeof v === 'object' && v !== null && 'getSingleMetric' in v, { error: 'expected a prom-client Registry' }).optional(),
    logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null && 'warn' in v, { error: 'expected a pino logger' }).optional(),
    /** Shared by every process with the same name (default: a hash of the API key, as the server counts). */
    limiter: z.union([z.literal(false), z.strictObject({ perSecond: positive.default(8), name: z.string().min(1).optional() })]).default({ perSecond: 8 }),
    retry: z.strictObject({ attempts: positive.optional(), baseMs: positive.optional(), maxMs: positive.optional(), maxRetryAfterMs: positive.optional() }).default({}),
    timeoutMs: positive.default(10_000),
    /** Answer from the billing database when HTTP fails (needs `sql`). */
    fallbackToDirect: z.boolean().default(true),
  })
  .superRefine((o, ctx) => {
    const used = new Set(METHODS.map((m) => flagOf(o.methods, m)));
    if (used.has('graphql') || used.has('rest')) {
      if (!o.baseUrl) ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: 'is required when a method uses graphql or rest' });
      if (!o.apiKey) ctx.addIssue({ code: 'custom', path: ['apiKey'], message: 'is required when a method uses graphql or rest' });
      if (o.limiter && !o.redis) ctx.addIssue({ code: 'custom', path: ['redis'], message: 'is required by the shared limiter (or set limiter: false)' });
    }
    if (used.has('direct') && !o.sql) ctx.addIssue({ code: 'custom', path: ['sql'], message: 'is required when a method uses direct' });
  });

export type BillingClientOptions = z.input<typeof optionsSchema>;

export class BillingClientConfigError extends Error {
  override name = 'BillingClientConfigError';
}

export function createBillingClient(input: BillingClientOptions): BillingClient {
  const parsed = optionsSchema.safeParse(input);
  if (!parsed.success) {
    throw new BillingClientConfigError(`Invalid billing client options: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const o = parsed.data;
  const flags: Record<Method, Transport> = Object.fromEntries(METHODS.map((m) => [m, flagOf(o.methods, m)])) as Record<Method, Transport>;
  const instrument = createInstrumentation({ registry: o.registry, logger: o.logger });
  const limiter =
    o.limiter && o.redis && o.apiKey
      ? createSlidingWindowLimiter({ redis: o.redis, perSecond: o.limiter.perSecond, name: o.limiter.name ?? createHash('sha256').update(o.apiKey).digest('hex').slice(0, 16) })
      : undefined;
  const send =
    o.baseUrl && o.apiKey
      ? httpSender({
          baseUrl: o.baseUrl,
          apiKey: o.apiKey,
          timeoutMs: o.timeoutMs,
          limiter,
          retry: { ...DEFAULT_RETRY, ...o.retry },
          onRetry: (method, err, next) => instrument.retry(method, err.status, next, err.retryAfterMs),
        })
      : undefined;
  const transports: Partial<Record<Transport, TransportOps>> = {
    ...(send ? { graphql: graphqlTransport(send), rest: restTransport(send) } : {}),
    ...(o.sql ? { direct: directTransport(o.sql) } : {}),
  };

  /** One request through the method's transport, measured and logged; HTTP failures answered directly. */
  async function call<T>(method: Method, params: Record<string, unknown>, callers: string[], reserved: boolean, run: (t: TransportOps, ctx: CallContext) => Promise<T>): Promise<T> {
    const transport = flags[method];
    const ops = transports[transport];
    if (!ops) throw new BillingClientConfigError(`${method} is flagged ${transport}, which this client was not configured for`);
    const ctx: CallContext = { method, reserved, attempts: 0 };
    const started = performance.now();
    try {
      const result = await run(ops, ctx);
      instrument.request({ method, transport, params, callers, attempts: ctx.attempts, durationMs: performance.now() - started });
      return result;
    } catch (err) {
      instrument.request({ method, transport, params, callers, attempts: ctx.attempts, durationMs: performance.now() - started, err });
      if (transport === 'direct' || !o.fallbackToDirect || !transports.direct) throw err;
      instrument.fallback(method, transport, err);
      const direct = { method, reserved: false, attempts: 0 };
      const at = performance.now();
      try {
        const result = await run(transports.direct, direct);
        instrument.request({ method, transport: 'direct', params, callers, attempts: 0, durationMs: performance.now() - at });
        return result;
      } catch (directErr) {
        instrument.request({ method, transport: 'direct', params, callers, attempts: 0, durationMs: performance.now() - at, err: directErr });
        throw directErr;
      }
    }
  }

  const parseFilter = (filter: BillingRecordFilter | undefined): ParsedFilter | undefined => {
    if (filter === undefined) return undefined;
    const result = filterSchema.safeParse(filter);
    if (!result.success) throw new TypeError(`Invalid billing filter: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    return result.data;
  };
  const chunks = <T>(list: readonly T[]) => Array.from({ length: Math.ceil(list.length / MAX_GIDS) }, (_, i) => list.slice(i * MAX_GIDS, (i + 1) * MAX_GIDS));

  async function recordsForProducts(gids: readonly string[], options: RecordsOptions<RecordField>, callers: string[], reserved: boolean) {
    const fields = options.fields ?? RECORD_FIELDS;
    const filter = parseFilter(options.filter);
    const first = options.first ?? 50;
    if (first < 1 || first > MAX_BATCH_FIRST) throw new RangeError(`first must be 1-${MAX_BATCH_FIRST}`);
    const out = new Map<string, Array<Partial<BillingRecord>>>();
    for (const chunk of chunks([...new Set(gids)])) {
      const rows = await call('recordsForProducts', { productGids: summariseList(chunk), filter, first, fields }, callers, reserved, (t, ctx) =>
        t.recordsForProducts(ctx, chunk, { filter, first, fields }),
      );
      for (const row of rows) out.set(row.productGid, row.records);
    }
    for (const gid of gids) if (!out.has(gid)) out.set(gid, []);
    return out;
  }

  async function lastCreatedAt(gids: readonly string[], callers: string[], reserved: boolean) {
    const out = new Map<string, Date | null>();
    for (const chunk of chunks([...new Set(gids)])) {
      const rows = await call('lastCreatedAt', { productGids: summariseList(chunk) }, callers, reserved, (t, ctx) => t.lastCreatedAt(ctx, chunk));
      for (const row of rows) out.set(row.productGid, row.createdAt);
    }
    for (const gid of gids) if (!out.has(gid)) out.set(gid, null);
    return out;
  }

  async function recordsByGids(gids: readonly string[], fields: readonly RecordField[], callers: string[], reserved: boolean) {
    const out = new Map<string, Partial<BillingRecord> | null>();
    for (const chunk of chunks([...new Set(gids)])) {
      const rows = await call('getRecord', { gids: summariseList(chunk), fields }, callers, reserved, (t, ctx) => t.recordsByGids(ctx, chunk, { fields }));
      chunk.forEach((gid, i) => out.set(gid, rows[i] ?? null));
    }
    return out;
  }

  // Batching. A batch is dispatched once the limiter grants its slot, so lookups that arrive while
  // it waits join the same request: under load the client sends fewer, larger requests instead of
  // queueing many. Without HTTP (direct) or a limiter, a batch is the lookups of one tick.
  interface Key {
    gid: string;
    caller: string;
  }
  let reservedBatch = false;
  const scheduleBatch = (method: Method) => (dispatch: () => void) => {
    if (!limiter || flags[method] === 'direct') return void setImmediate(dispatch);
    limiter.acquire().then(
      () => {
        reservedBatch = true;
        dispatch();
      },
      () => setImmediate(dispatch),
    );
  };
  /** Whether this batch holds a limiter slot (read synchronously as the batch function starts). */
  const takeReservation = () => {
    const held = reservedBatch;
    reservedBatch = false;
    return held;
  };
  const callersOf = (keys: readonly Key[]) => [...new Set(keys.map((k) => k.caller))].slice(0, 10);

  const recordLoaders = new Map<string, DataLoader<Key, Array<Partial<BillingRecord>>>>();
  const recordLoader = (options: RecordsOptions<RecordField>) => {
    const id = JSON.stringify([options.filter ?? null, options.first ?? 50, options.fields ?? null]);
    let loader = recordLoaders.get(id);
    if (!loader) {
      loader = new DataLoader(
        async (keys) => {
          const reserved = takeReservation();
          const byGid = await recordsForProducts(keys.map((k) => k.gid), options, callersOf(keys), reserved);
          return keys.map((k) => byGid.get(k.gid) ?? []);
        },
        { cache: false, maxBatchSize: MAX_GIDS, batchScheduleFn: scheduleBatch('recordsForProducts') },
      );
      // Distinct option sets are few in practice; a runaway caller must not grow this forever.
      if (recordLoaders.size >= 100) recordLoaders.clear();
      recordLoaders.set(id, loader);
    }
    return loader;
  };
  const getLoaders = new Map<string, DataLoader<Key, Partial<BillingRecord> | null>>();
  const getLoader = (fields: readonly RecordField[]) => {
    const id = fields.join(',');
    let loader = getLoaders.get(id);
    if (!loader) {
      loader = new DataLoader(
        async (keys) => {
          const reserved = takeReservation();
          const byGid = await recordsByGids(keys.map((k) => k.gid), fields, callersOf(keys), reserved);
          return keys.map((k) => byGid.get(k.gid) ?? null);
        },
        { cache: false, maxBatchSize: MAX_GIDS, batchScheduleFn: scheduleBatch('getRecord') },
      );
      if (getLoaders.size >= 100) getLoaders.clear();
      getLoaders.set(id, loader);
    }
    return loader;
  };
  const lastLoader = new DataLoader<Key, Date | null>(
    async (keys) => {
      const reserved = takeReservation();
      const byGid = await lastCreatedAt(keys.map((k) => k.gid), callersOf(keys), reserved);
      return keys.map((k) => byGid.get(k.gid) ?? null);
    },
    { cache: false, maxBatchSize: MAX_GIDS, batchScheduleFn: scheduleBatch('lastCreatedAt') },
  );

  return {
    async findRecords(filter, options = {}) {
      const parsedFilter = parseFilter(filter)!;
      const fields = options.fields ?? RECORD_FIELDS;
      const first = options.first ?? 50;
      const page = await call('findRecords', { filter: parsedFilter, first, after: options.after, fields }, [callerFrame()], false, (t, ctx) =>
        t.findRecords(ctx, parsedFilter, { first, after: options.after, fields }),
      );
      return page as never;
    },
    recordsForProducts: (gids, options = {}) => recordsForProducts(gids, options, [callerFrame()], false) as never,
    lastCreatedAt: (gids) => lastCreatedAt(gids, [callerFrame()], false),
    loadRecordsOf: (gid, options = {}) => recordLoader(options).load({ gid, caller: callerFrame() }) as never,
    loadLastCreatedAt: (gid) => lastLoader.load({ gid, caller: callerFrame() }),
    getRecord: (gid, options = {}) => getLoader(options.fields ?? RECORD_FIELDS).load({ gid, caller: callerFrame() }) as never,
    setTransport(method, transport) {
      if (!transports[transport]) throw new BillingClientConfigError(`this client was not configured for ${transport}`);
      flags[method] = transport;
    },
  };
}
