// Shared helpers of the billing tests: the migrated test database, unique gids so test files never
// see each other's rows, an API on app.inject with a query log, and record factories.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildBillingApi, type BillingApiOptions } from '../../../src/billing/api.ts';
import { createRecordsSql } from '../../../src/billing/records-query.ts';
import { createRecord, type RecordInput } from '../../../src/billing/records-writer.ts';
import type { Sql } from '../../../src/platform/db.ts';
import { createLogger } from '../../../src/platform/log.ts';
import { createMetricsRegistry } from '../../../src/platform/metrics.ts';
import { createRedis, type Redis } from '../../../src/platform/redis.ts';
import { testDatabaseUrl } from '../../support/database.ts';
import { redisUrl } from '../../support/wait-for.ts';

export const logger = createLogger({ name: 'billing-test', level: process.env.LOG_LEVEL ?? 'error' });
export const unique = (name: string) => `${name}${randomBytes(4).toString('hex')}`;
export const EXTERNAL_KEY = 'external-key-0123456789abcdef';
export const INTERNAL_KEY = 'internal-key-0123456789abcdef';

/** The SQL text of every statement a pool sent (postgres.js' debug hook), to assert columns and counts. */
export interface QueryLog {
  sql: Sql;
  queries: string[];
  /** Statements on billing.records / the mirror since the last reset (not pings or LISTEN). */
  recordQueries(): string[];
  reset(): void;
}

export function loggedSql(): QueryLog {
  const queries: string[] = [];
  const sql = createRecordsSql(testDatabaseUrl(), {
    applicationName: 'billing-test',
    max: 4,
    statementTimeoutMs: 10_000,
    debug: (_conn, query) => queries.push(query),
  });
  return {
    sql,
    queries,
    recordQueries: () => queries.filter((q) => /billing\.records|\.invoice\b/.test(q)),
    reset: () => void queries.splice(0),
  };
}

export interface TestApi {
  app: FastifyInstance;
  redis: Redis;
  close(): Promise<void>;
}

export async function testApi(sql: Sql, options: Partial<BillingApiOptions> = {}): Promise<TestApi> {
  const redis = createRedis(redisUrl(), { name: 'billing-test', logger });
  const app = await buildBillingApi({
    sql,
    redis,
    apiKeys: [EXTERNAL_KEY],
    internalApiKeys: [INTERNAL_KEY],
    rateLimit: 0,
    rateLimitWindowMs: 1000,
    graphql: true,
    rest: true,
    graphiql: false,
    stripeSchema: 'stripe',
    logger,
    registry: createMetricsRegistry('billing-test'),
    ...options,
  });
  await app.ready();
  return {
    app,
    redis,
    async close() {
      await app.close();
      redis.disconnect();
    },
  };
}

export const auth = (key = EXTERNAL_KEY) => ({ authorization: `Bearer ${key}` });

export async function graphql(app: FastifyInstance, query: string, variables: Record<string, unknown> = {}, key = EXTERNAL_KEY) {
  const res = await app.inject({ method: 'POST', url: '/graphql', headers: auth(key), payload: { query, variables } });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- GraphQL responses are checked field by field
  return { status: res.statusCode, body: res.json() as { data?: Record<string, any>; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } };
}

export function recordInput(productGid: string, overrides: Partial<RecordInput> = {}): RecordInput {
  return { productGid, clientGid: 'gid://test/Client/1', kind: 'invoice', status: 'open', amount: 1000, currency: 'usd', ...overrides };
}

/** n records of one product, created in order (each later than the one before). */
export async function createRecords(sql: Sql, productGid: string, n: number, overrides: (i: number) => Partial<RecordInput> = () => ({})) {
  const out = [];
  for (let i = 0; i < n; i++) out.push((await createRecord(sql, recordInput(productGid, overrides(i)))).record);
  return out;
}
