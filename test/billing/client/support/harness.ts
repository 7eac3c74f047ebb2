// A real billing API (buildBillingApi on a free port, real Postgres and Redis) and records of
// products unique to one test run, for the client tests.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildBillingApi } from '../../../../src/billing/api.ts';
import type { Sql } from '../../../../src/platform/db.ts';
import { createLogger, type Logger } from '../../../../src/platform/log.ts';
import { Registry } from '../../../../src/platform/metrics.ts';
import { createRedis, type Redis } from '../../../../src/platform/redis.ts';
import { testSql } from '../../../support/database.ts';
import { redisUrl } from '../../../support/wait-for.ts';

export interface Api {
  baseUrl: string;
  apiKey: string;
  registry: Registry;
  /** Requests the server answered on a route (from its own http_request_duration_seconds). */
  requests(route: string): Promise<number>;
  close(): Promise<void>;
}

export async function startApi(sql: Sql, redis: Redis, options: { rateLimit?: number } = {}): Promise<Api> {
  const apiKey = `test-${randomBytes(12).toString('hex')}`;
  const registry = new Registry();
  const app: FastifyInstance = await buildBillingApi({
    sql,
    redis,
    apiKeys: [apiKey],
    internalApiKeys: [`internal-${randomBytes(12).toString('hex')}`],
    rateLimit: options.rateLimit ?? 0,
    rateLimitWindowMs: 1000,
    graphql: true,
    rest: true,
    graphiql: false,
    stripeSchema: 'stripe',
    logger: createLogger({ name: 'billing-api-test', level: 'silent' }),
    registry,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey,
    registry,
    async requests(route) {
      const metric = (await registry.getSingleMetric('http_request_duration_seconds')!.get()) as { values: Array<{ metricName?: string; labels: Record<string, unknown>; value: number }> };
      return metric.values.filter((v) => v.metricName === 'http_request_duration_seconds_count' && v.labels.route === route).reduce((n, v) => n + v.value, 0);
    },
    close: () => app.close(),
  };
}

export interface Fixture {
  sql: Sql;
  redis: Redis;
  /** Product gids of this run, each with `perProduct` records one minute apart (newest = now - index minutes). */
  products: string[];
  /** Newest record time of each product. */
  newest: Map<string, Date>;
  close(): Promise<void>;
}

export async function seedFixture(productCount = 20, perProduct = 3): Promise<Fixture> {
  const sql = testSql(10);
  const redis = createRedis(redisUrl(), { name: 'billing-client-test' });
  const run = randomBytes(4).toString('hex');
  const products = Array.from({ length: productCount }, (_, i) => `gid://test/Product/${run}-${i}`);
  const newest = new Map<string, Date>();
  const base = Date.now() - 60_000 * 1000;
  const rows = products.flatMap((product, p) =>
    Array.from({ length: perProduct }, (_, r) => {
      const created = new Date(base - p * 60_000 - r * 1000);
      if (r === 0) newest.set(product, created);
      return {
        gid: `gid://billing/Record/${randomUUID()}`,
        product_gid: product,
        client_gid: `gid://test/Client/${run}`,
        kind: 'invoice',
        status: 'open',
        amount: 1000 + r,
        currency: 'usd',
        created_at: created,
        updated_at: created,
      };
    }),
  );
  await sql`insert into billing.records ${sql(rows)}`;
  return {
    sql,
    redis,
    products,
    newest,
    async close() {
      await sql`delete from billing.records where product_gid = any(${products}::text[])`;
      await sql.end();
      redis.disconnect();
    },
  };
}

/** A pino logger whose lines land in `lines` (parsed). */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const text of String(chunk).split('\n')) if (text.trim()) lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ name: 'billing-client-test', level: 'debug' }, sink), lines };
}

/** Polls until `check` is true (tests assert outcomes, never timings). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function metricCount(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = (await metric.get()) as { values: Array<{ metricName?: string; labels: Record<string, unknown>; value: number }> };
  const wanted = name.endsWith('_seconds') ? `${name}_count` : name;
  return values.filter((v) => (v.metricName ?? name) === wanted && Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}
