import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { createSql, pingPostgres, type Sql } from '../../src/platform/db.ts';
import { HttpError, parseInput } from '../../src/platform/http-errors.ts';
import { createHttpServer } from '../../src/platform/http-server.ts';
import { createLogger } from '../../src/platform/log.ts';
import { createMetricsRegistry } from '../../src/platform/metrics.ts';
import { createRedis, pingRedis, type Redis } from '../../src/platform/redis.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../support/postgres-server.ts';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-instance.ts';

const logger = createLogger({ name: 'test', level: 'silent' });

/** Polls /healthz until `predicate` holds; returns how long that took. */
async function healthUntil(app: ReturnType<typeof createHttpServer>, predicate: (body: { status: string; down?: string[] }, code: number) => boolean, limitMs: number) {
  const started = Date.now();
  for (;;) {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    if (predicate(res.json(), res.statusCode)) return Date.now() - started;
    if (Date.now() - started > limitMs) assert.fail(`healthz did not reach the expected state in ${limitMs} ms: ${res.body}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('HTTP server factory', () => {
  let pg: PrivatePostgres;
  let redisServer: PrivateRedis;
  let sql: Sql;
  let redis: Redis;
  let app: ReturnType<typeof createHttpServer>;

  before(async () => {
    [pg, redisServer] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
    sql = createSql(pg.url, { applicationName: 'test', max: 2 });
    redis = createRedis(redisServer.url, { name: 'test', maxRetriesPerRequest: 1 });
    app = createHttpServer({
      name: 'test',
      logger,
      registry: createMetricsRegistry('test'),
      checks: [
        { name: 'postgres', check: () => pingPostgres(sql) },
        { name: 'redis', check: () => pingRedis(redis) },
      ],
    });
    app.post('/things', async (request) => {
      const body = parseInput(z.object({ amount: z.number().int().positive(), currency: z.string().length(3) }), request.body, 'body');
      return body;
    });
    app.get('/conflict', async () => {
      throw new HttpError(409, 'idempotency_conflict', 'Idempotency-Key reused with a different body');
    });
    app.get('/boom', async () => {
      throw new Error('connect to postgres://u:topsecret@db failed');
    });
    await app.ready();
  });

  after(async () => {
    await app.close();
    await sql.end({ timeout: 1 });
    redis.disconnect();
    await Promise.all([pg.destroy(), redisServer.destroy()]);
  });

  test('/ping answers', async () => {
    const res = await app.inject({ method: 'GET', url: '/ping' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { pong: true, service: 'test' });
  });

  test('/healthz is 200 when every dependency answers', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().checks, { postgres: 'ok', redis: 'ok' });
  });

  test('invalid input is a 400 naming every bad field', async () => {
    const res = await app.inject({ method: 'POST', url: '/things', payload: { amount: -5, currency: 'EURO' } });
    assert.equal(res.statusCode, 400);
    const { error } = res.json();
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.code, 'validation_failed');
    assert.deepEqual(error.fields.map((f: { field: string }) => f.field).sort(), ['amount', 'currency']);
  });

  test('errors share one shape; a 500 hides its message', async () => {
    const conflict = await app.inject({ method: 'GET', url: '/conflict' });
    assert.equal(conflict.statusCode, 409);
    assert.deepEqual(conflict.json(), { error: { type: 'conflict_error', code: 'idempotency_conflict', message: 'Idempotency-Key reused with a different body' } });
    const boom = await app.inject({ method: 'GET', url: '/boom' });
    assert.equal(boom.statusCode, 500);
    assert.equal(boom.json().error.type, 'api_error');
    assert.doesNotMatch(boom.body, /topsecret/);
    const missing = await app.inject({ method: 'GET', url: '/nope' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.type, 'not_found_error');
    const badJson = await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json' }, payload: '{"amount":' });
    assert.equal(badJson.statusCode, 400);
    assert.equal(badJson.json().error.type, 'invalid_request_error');
  });

  test('/metrics exposes request durations by route', async () => {
    await app.inject({ method: 'GET', url: '/ping' });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /http_request_duration_seconds_count\{[^}]*route="\/ping"[^}]*\} \d+/);
    assert.match(res.body, /process_cpu_seconds_total/);
  });

  test('a stopped Postgres shows on /healthz within 5 s, and recovery shows too', async () => {
    await pg.stop();
    const tookDown = await healthUntil(app, (b, code) => code === 503 && (b.down ?? []).includes('postgres'), 5000);
    assert.ok(tookDown <= 5000);
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    assert.deepEqual(res.json().down, ['postgres']);
    await pg.start();
    await healthUntil(app, (b, code) => code === 200 && b.status === 'ok', 15000);
  });

  test('a stopped Redis shows on /healthz within 5 s, and recovery shows too', async () => {
    await redisServer.stop();
    await healthUntil(app, (b, code) => code === 503 && (b.down ?? []).includes('redis'), 5000);
    await redisServer.start();
    await healthUntil(app, (b, code) => code === 200 && b.status === 'ok', 15000);
  });
});
