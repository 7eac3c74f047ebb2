// Who is calling the billing API, and how much: two sets of keys (external = reads, internal =
// reads and writes; src/platform/api-keys.ts compares them) and a per-client rate limit
// (@fastify/rate-limit, counters in Redis so every API process shares them). A client is known by
// its key's scope, a non-secret hash: never the key itself in Redis keys, logs or metrics.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { apiKeyChecker, presentedKey } from '../platform/api-keys.ts';
import { errorBody, HttpError } from '../platform/http-errors.ts';
import type { Redis } from '../platform/redis.ts';

export interface ApiClient {
  kind: 'internal' | 'external';
  /** Non-secret hash of the key. */
  scope: string;
}

const CLIENT = Symbol('billing.client');

export function clientOf(request: unknown): ApiClient {
  const client = (request as { [CLIENT]?: ApiClient })[CLIENT];
  if (!client) throw new Error('no authenticated client on this request');
  return client;
}

/**
 * onRequest hook: 401 (the platform's error shape) without a known key. Replies itself rather than
 * throwing, so a GraphQL route answers in the same shape as a REST one. `open` paths (the GraphiQL
 * page, which holds no data) need no key.
 */
export function authenticate(keys: { internal: string[]; external: string[] }, open: (url: string) => boolean = () => false) {
  const internal = apiKeyChecker(keys.internal);
  const external = apiKeyChecker(keys.external);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (open(request.url)) return;
    const key = presentedKey(request.headers, { basic: false });
    const internalScope = internal(key);
    const externalScope = external(key);
    const client: ApiClient | undefined = internalScope ? { kind: 'internal', scope: internalScope } : externalScope ? { kind: 'external', scope: externalScope } : undefined;
    if (!client) return reply.code(401).send(errorBody(401, 'unauthorized', 'A valid API key is required (Authorization: Bearer <key> or X-Api-Key)'));
    (request as unknown as { [CLIENT]: ApiClient })[CLIENT] = client;
  };
}

export interface RateLimitOptions {
  /** Requests per window per client; 0 = no limit. */
  max: number;
  windowMs: number;
  redis: Redis;
}

/**
 * Registers the per-client limit on `scope`'s routes (after authentication: preHandler). Over the
 * limit: 429 in the platform's error shape with Retry-After (whole seconds, at least 1). When
 * Redis is unreachable requests are let through: a billing read must not fail for want of a
 * counter.
 */
export async function registerRateLimit(scope: FastifyInstance, options: RateLimitOptions): Promise<void> {
  if (options.max <= 0) return;
  await scope.register(rateLimit, {
    hook: 'preHandler',
    max: options.max,
    timeWindow: options.windowMs,
    redis: options.redis,
    nameSpace: 'billing:rate-limit:',
    skipOnError: true,
    keyGenerator: (request) => clientOf(request).scope,
    errorResponseBuilder: (_request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000));
      return new HttpError(429, 'rate_limited', `Too many requests: at most ${context.max} per ${options.windowMs} ms per API key; retry in ${seconds} s`, {
        headers: { 'retry-after': String(seconds) },
      });
    },
  });
}
