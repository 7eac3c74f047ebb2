// The payments HTTP API (`ledgerline payments api`): POST /payments queues a payment (202), with
// an optional Idempotency-Key; GET /payments/:tracking_id, GET /payments (range queries over the
// sorted sets), /payments/stats, /payments/slow, /payments/dead-letters, POST
// /payments/:tracking_id/requeue (a dead letter back in the queue), and the dashboard. Every route
// but /ping, /healthz and /metrics needs an API key.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { fieldErrors, HttpError, type FieldError } from '../platform/http-errors.ts';
import { createHttpServer } from '../platform/http-server.ts';
import type { Logger } from '../platform/log.ts';
import type { Registry } from '../platform/metrics.ts';
import { pingRedis, type Redis } from '../platform/redis.ts';
import { apiKeyChecker, presentedKey } from '../platform/api-keys.ts';
import { registerDashboard } from './dashboard.ts';
import { STATUSES } from './keys.ts';
import { registerQueueGauges } from './metrics.ts';
import { createReadModel, decodeCursor } from './queries.ts';
import { createQueue } from './queue.ts';
import { parseDuration } from '../platform/config.ts';

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

const partyId = z
  .string({ error: 'is required: a string' })
  .regex(/^[A-Za-z0-9_.:@-]{1,64}$/, { error: 'expected 1-64 letters, digits or _ . : @ -' });

export const paymentBody = z
  .strictObject({
    payer_id: partyId,
    recipient_id: partyId,
    amount: z
      .number({ error: 'is required: an integer amount in minor units (e.g. cents)' })
      .int({ error: 'expected an integer amount in minor units (e.g. cents)' })
      .positive({ error: 'must be greater than 0' })
      .max(99_999_999, { error: 'must be at most 99999999 (Stripe’s limit)' }),
    currency: z
      .string({ error: 'is required: an ISO 4217 code such as USD' })
      .transform((c) => c.toUpperCase())
      .refine((c) => CURRENCIES.has(c), { error: 'expected an ISO 4217 currency code such as USD or EUR' }),
    description: z.string({ error: 'expected a string' }).max(500, { error: 'at most 500 characters' }).optional(),
    metadata: z
      .record(z.string().regex(/^[^[\]]{1,40}$/, { error: 'keys are 1-40 characters without [ or ]' }), z.string({ error: 'values are strings' }).max(500, { error: 'values are at most 500 characters' }), {
        error: 'expected an object of string values',
      })
      .refine((m) => Object.keys(m).length <= 50, { error: 'at most 50 keys' })
      .optional(),
  })
  .refine((b) => b.payer_id !== b.recipient_id, { path: ['recipient_id'], error: 'must differ from payer_id' });

export type PaymentBody = z.output<typeof paymentBody>;

const time = z.string().transform((v, ctx) => {
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected an ISO 8601 time (2024-01-31T00:00:00Z) or epoch milliseconds' });
    return z.NEVER;
  }
  return ms;
});
const limit = (fallback: number) => z.coerce.number({ error: 'expected a number' }).int().min(1).max(500).default(fallback);

const listQuery = z.strictObject({
  payer_id: partyId.optional(),
  recipient_id: partyId.optional(),
  status: z.enum(STATUSES, { error: `expected one of ${STATUSES.join(', ')}` }).optional(),
  from: time.optional(),
  to: time.optional(),
  limit: limit(50),
  cursor: z
    .string()
    .refine((c) => decodeCursor(c) !== undefined, { error: 'not a cursor returned by this API' })
    .optional(),
});
const statsQuery = z.strictObject({ from: time.optional(), to: time.optional() });
const slowQuery = z.strictObject({
  older_than: z
    .string()
    .refine((v) => parseDuration(v) !== undefined, { error: 'expected a duration such as 30s or 5m' })
    .transform((v) => parseDuration(v)!)
    .optional(),
  limit: limit(100),
});
const trackingIdParams = z.object({ tracking_id: z.string().regex(/^\d{1,18}$/, { error: 'expected a tracking id (digits)' }) });
const idempotencyKey = z.string().regex(/^[\x21-\x7e]{1,255}$/, { error: 'expected 1-255 printable characters without spaces' });

/** zod's "unrecognized keys" is one issue at the root: name each key instead. */
function validationError(where: string, error: z.ZodError): HttpError {
  const fields: FieldError[] = error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' ? issue.keys.map((key) => ({ field: [...issue.path.map(String), key].join('.'), message: 'unknown field' })) : fieldErrors(new z.ZodError([issue])),
  );
  return new HttpError(400, 'validation_failed', `Invalid ${where}: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`, { fields });
}

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw validationError(where, result.error);
  return result.data;
}

/** Key-order independent JSON, so the same body always hashes the same. */
function canonical(value: unknown): string {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function redisUnavailable(err: unknown): never {
  if (err instanceof HttpError) throw err;
  throw new HttpError(503, 'redis_unavailable', 'The payment queue is unavailable; retry with the same Idempotency-Key', { headers: { 'retry-after': '1' } });
}

export interface ApiOptions {
  redis: Redis;
  prefix: string;
  apiKeys: string[];
  logger: Logger;
  registry: Registry;
  slowAfterMs: number;
  idempotencyTtlMs: number;
}

export function buildApi(options: ApiOptions): FastifyInstance {
  const { redis, prefix } = options;
  const queue = createQueue(redis, prefix);
  const reads = createReadModel(redis, prefix);
  const checkKey = apiKeyChecker(options.apiKeys);
  const app = createHttpServer({
    name: 'payments-api',
    logger: options.logger,
    registry: options.registry,
    bodyLimit: 64 * 1024,
    checks: [{ name: 'redis', check: () => pingRedis(redis) }],
  });
  registerQueueGauges(options.registry, reads);

  app.register(async (scope) => {
    scope.decorateRequest('clientScope', '');
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const clientScope = checkKey(presentedKey(request.headers));
      if (!clientScope) {
        if (request.url.startsWith('/dashboard')) reply.header('www-authenticate', 'Basic realm="ledgerline payments", charset="UTF-8"');
        throw new HttpError(401, 'unauthenticated', 'A valid API key is required: Authorization: Bearer <key> or X-Api-Key: <key>');
      }
      (request as FastifyRequest & { clientScope: string }).clientScope = clientScope;
    });

    scope.post('/payments', async (request, reply) => {
      const body = parse(paymentBody, request.body, 'body');
      const header = request.headers['idempotency-key'];
      let idempotency: { key: string; bodyHash: string; ttlMs: number } | undefined;
      if (header !== undefined) {
        const key = idempotencyKey.safeParse(header);
        if (!key.success) throw new HttpError(400, 'validation_failed', `Invalid Idempotency-Key header: ${key.error.issues[0]!.message}`, { fields: [{ field: 'Idempotency-Key', message: key.error.issues[0]!.message }] });
        const clientScope = (request as FastifyRequest & { clientScope: string }).clientScope;
        idempotency = { key: queue.keys.idempotency(clientScope, key.data), bodyHash: createHash('sha256').update(canonical(body)).digest('hex'), ttlMs: options.idempotencyTtlMs };
      }
      const result = await queue.enqueue(body, idempotency).catch(redisUnavailable);
      if (result.result === 'conflict') {
        throw new HttpError(409, 'idempotency_conflict', `This Idempotency-Key was used with a different body (payment ${result.trackingId}); use a new key for a new payment`);
      }
      if (result.result === 'replayed') reply.header('idempotent-replayed', 'true');
      reply.code(202).header('location', `/payments/${result.trackingId}`);
      return { tracking_id: result.trackingId, status: 'queued' };
    });

    scope.get('/payments', async (request) => {
      const q = parse(listQuery, request.query, 'query');
      return reads.list({ payerId: q.payer_id, recipientId: q.recipient_id, status: q.status, from: q.from, to: q.to, limit: q.limit, cursor: q.cursor });
    });

    scope.get('/payments/stats', async (request) => {
      const q = parse(statsQuery, request.query, 'query');
      return reads.stats(q.from, q.to);
    });

    scope.get('/payments/slow', async (request) => {
      const q = parse(slowQuery, request.query, 'query');
      return reads.slow(q.older_than ?? options.slowAfterMs, q.limit);
    });

    scope.get('/payments/dead-letters', async (request) => {
      const q = parse(z.strictObject({ limit: limit(100) }), request.query, 'query');
      return reads.deadLetters(q.limit);
    });

    scope.post('/payments/:tracking_id/requeue', async (request, reply) => {
      const { tracking_id } = parse(trackingIdParams, request.params, 'params');
      const result = await queue.requeueDeadLetter(tracking_id).catch(redisUnavailable);
      if (result === 'unknown') throw new HttpError(404, 'payment_not_found', `No payment ${tracking_id}`);
      if (result !== 'requeued') throw new HttpError(409, 'not_dead_lettered', `Payment ${tracking_id} is ${result}, not on the dead letter; only dead letters can be requeued`);
      reply.code(202).header('location', `/payments/${tracking_id}`);
      return { tracking_id, status: 'queued' };
    });

    scope.get('/payments/:tracking_id', async (request) => {
      const { tracking_id } = parse(trackingIdParams, request.params, 'params');
      const payment = await reads.getPayment(tracking_id);
      if (!payment) throw new HttpError(404, 'payment_not_found', `No payment ${tracking_id}`);
      return payment;
    });

    registerDashboard(scope, reads);
  });

  return app;
}
