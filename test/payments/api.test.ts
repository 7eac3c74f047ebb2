// The payments HTTP API on the real Redis: validation naming each bad field, Idempotency-Key
// replay and 409, API keys (401, constant-time check), the read endpoints, the dashboard, metrics.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createMetricsRegistry } from '../../src/platform/metrics.ts';
import type { Redis } from '../../src/platform/redis.ts';
import { buildApi } from '../../src/payments/api.ts';
import { apiKeyChecker, presentedKey } from '../../src/platform/api-keys.ts';
import { dropKeys } from '../support/cleanup.ts';
import { API_KEY, inProcessWorker, OTHER_KEY, silentLogger, simulated, testRedis, uniquePrefix, until } from './support/fixtures.ts';

const auth = { authorization: `Bearer ${API_KEY}` };
const body = { payer_id: 'alice', recipient_id: 'bob', amount: 1250, currency: 'usd', description: 'rent', metadata: { order: '42' } };

describe('payments api', () => {
  let redis: Redis;
  let prefix: string;
  let app: FastifyInstance;

  before(async () => {
    redis = testRedis();
    prefix = uniquePrefix('api');
    app = buildApi({ redis, prefix, apiKeys: [API_KEY, OTHER_KEY], logger: silentLogger, registry: createMetricsRegistry('test'), slowAfterMs: 60_000, idempotencyTtlMs: 60_000 });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await dropKeys(redis, prefix);
    await redis.quit();
  });

  const post = (payload: unknown, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url: '/payments', headers: { ...auth, ...headers }, payload: payload as object });
  const get = (url: string) => app.inject({ method: 'GET', url, headers: auth });

  test('POST /payments queues a payment: 202 {tracking_id, status: queued}', async () => {
    const res = await post(body);
    assert.equal(res.statusCode, 202);
    const json = res.json();
    assert.match(json.tracking_id, /^\d+$/);
    assert.equal(json.status, 'queued');
    assert.equal(res.headers.location, `/payments/${json.tracking_id}`);
    const payment = (await get(`/payments/${json.tracking_id}`)).json();
    assert.equal(payment.status, 'queued');
    assert.equal(payment.currency, 'USD');
    assert.deepEqual(payment.metadata, { order: '42' });
    assert.equal(payment.history[0].status, 'queued');
    assert.match(payment.history[0].at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(await redis.lindex(`${prefix}payments_to_be_processed`, 0), json.tracking_id);
  });

  test('an invalid body is a 400 naming every bad field', async () => {
    const res = await post({ payer_id: '', recipient_id: 'bob|x', amount: 12.5, currency: 'usx', metadata: { a: 1 }, colour: 'red', extra: true });
    assert.equal(res.statusCode, 400);
    const error = res.json().error;
    assert.equal(error.code, 'validation_failed');
    const fields = (error.fields as Array<{ field: string; message: string }>).map((f) => f.field).sort();
    assert.deepEqual(fields, ['amount', 'colour', 'currency', 'extra', 'metadata.a', 'payer_id', 'recipient_id']);
    for (const f of error.fields) assert.ok(f.message.length > 0);

    const missing = (await post({})).json().error.fields.map((f: { field: string }) => f.field).sort();
    assert.deepEqual(missing, ['amount', 'currency', 'payer_id', 'recipient_id']);

    const cases: Array<[unknown, string, RegExp]> = [
      [{ ...body, amount: 0 }, 'amount', /greater than 0/],
      [{ ...body, amount: -5 }, 'amount', /greater than 0/],
      [{ ...body, amount: '100' }, 'amount', /integer/],
      [{ ...body, amount: 100_000_000 }, 'amount', /at most/],
      [{ ...body, currency: 'dollars' }, 'currency', /ISO 4217/],
      [{ ...body, recipient_id: 'alice' }, 'recipient_id', /differ/],
      [{ ...body, description: 'x'.repeat(501) }, 'description', /500/],
    ];
    for (const [payload, field, message] of cases) {
      const e = (await post(payload)).json().error;
      assert.deepEqual(e.fields.map((f: { field: string }) => f.field), [field], JSON.stringify(payload));
      assert.match(e.fields[0].message, message);
    }
    const bad = await post(body, { 'idempotency-key': 'has space' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.fields[0].field, 'Idempotency-Key');
  });

  test('Idempotency-Key: same body replays the same answer, another body is a 409', async () => {
    const key = `order-${Date.now()}`;
    const first = await post(body, { 'idempotency-key': key });
    assert.equal(first.statusCode, 202);
    const depth = await redis.llen(`${prefix}payments_to_be_processed`);
    // Same body, keys in another order: the same payment, not a new one.
    const reordered = { metadata: { order: '42' }, description: 'rent', currency: 'USD', amount: 1250, recipient_id: 'bob', payer_id: 'alice' };
    const again = await post(reordered, { 'idempotency-key': key });
    assert.equal(again.statusCode, 202);
    assert.deepEqual(again.json(), first.json());
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(await redis.llen(`${prefix}payments_to_be_processed`), depth);

    const conflict = await post({ ...body, amount: 1251 }, { 'idempotency-key': key });
    assert.equal(conflict.statusCode, 409);
    assert.equal(conflict.json().error.code, 'idempotency_conflict');

    // Keys are per client: another API key may use the same key for its own payment.
    const other = await post(body, { authorization: `Bearer ${OTHER_KEY}`, 'idempotency-key': key });
    assert.equal(other.statusCode, 202);
    assert.notEqual(other.json().tracking_id, first.json().tracking_id);

    // Concurrent duplicates still make one payment.
    const key2 = `burst-${Date.now()}`;
    const burst = await Promise.all(Array.from({ length: 20 }, () => post(body, { 'idempotency-key': key2 })));
    assert.equal(new Set(burst.map((r) => r.json().tracking_id)).size, 1);
  });

  test('API keys: 401 without a valid one; Bearer, X-Api-Key and Basic accepted', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope-nope-nope-nope' }, { authorization: `Bearer ${API_KEY}x` }, { 'x-api-key': API_KEY.slice(0, -1) }, { authorization: 'Token abc' }]) {
      const res = await app.inject({ method: 'GET', url: '/payments', headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.json().error.type, 'authentication_error');
    }
    assert.equal((await app.inject({ method: 'POST', url: '/payments', payload: body })).statusCode, 401);
    assert.equal((await app.inject({ method: 'GET', url: '/payments/1' })).statusCode, 401);
    const dash = await app.inject({ method: 'GET', url: '/dashboard' });
    assert.equal(dash.statusCode, 401);
    assert.match(String(dash.headers['www-authenticate']), /^Basic/);
    assert.equal((await app.inject({ method: 'GET', url: '/payments', headers: { 'x-api-key': OTHER_KEY } })).statusCode, 200);
    const basic = Buffer.from(`anyone:${API_KEY}`).toString('base64');
    assert.equal((await app.inject({ method: 'GET', url: '/dashboard', headers: { authorization: `Basic ${basic}` } })).statusCode, 200);
    // Health and metrics stay open.
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  test('the key check compares digests in constant time against every key', () => {
    const check = apiKeyChecker(['k1-0123456789abcdef', 'k2-0123456789abcdef']);
    assert.ok(check('k1-0123456789abcdef'));
    assert.ok(check('k2-0123456789abcdef'));
    assert.notEqual(check('k1-0123456789abcdef'), check('k2-0123456789abcdef'));
    for (const wrong of [undefined, '', 'k1', 'k1-0123456789abcde', 'k1-0123456789abcdefX', 'x'.repeat(10_000)]) assert.equal(check(wrong), undefined);
    assert.equal(presentedKey({ authorization: 'Bearer abc' }), 'abc');
    assert.equal(presentedKey({ 'x-api-key': 'def' }), 'def');
    assert.equal(presentedKey({ authorization: `Basic ${Buffer.from('u:p:q').toString('base64')}` }), 'p:q');
  });

  test('GET /payments/:id is 404 for an unknown payment and 400 for a malformed id', async () => {
    assert.equal((await get('/payments/99999999')).statusCode, 404);
    assert.equal((await get('/payments/abc')).statusCode, 400);
  });

  test('list, stats and slow are served from the sorted sets; outcomes show history, result and attempts', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await post({ payer_id: i % 2 ? 'carol' : 'dave', recipient_id: 'erin', amount: 100 * (i + 1), currency: i < 8 ? 'EUR' : 'GBP' });
      ids.push(res.json().tracking_id);
    }
    const worker = await inProcessWorker({ redis, prefix, processor: simulated(redis, prefix, 'success=0.6,insufficient_funds=0.4') });
    await until(async () => (await redis.zcard(`${prefix}open`)) === 0, 10_000, 'all payments final');
    await worker.stop();

    const done = (await get(`/payments/${ids[0]}`)).json();
    assert.ok(['succeeded', 'insufficient_funds'].includes(done.status));
    assert.equal(done.attempts, 1);
    assert.deepEqual(done.history.map((h: { status: string }) => h.status), ['queued', 'processing', done.status]);
    assert.ok(done.history.every((h: { at: string }) => h.at.endsWith('Z')));
    assert.match(done.txn_id, /^txn_\d+$/);
    assert.equal(done.result.outcome, done.status === 'succeeded' ? 'success' : 'insufficient_funds');
    assert.equal(done.result.processor, 'simulated');
    assert.equal(done.result.txn_id, done.txn_id);

    // Per payer, newest first, paged with a cursor.
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const page = (await get(`/payments?payer_id=carol&limit=2${cursor ? `&cursor=${cursor}` : ''}`)).json();
      assert.ok(page.data.length <= 2);
      all.push(...page.data.map((p: { tracking_id: string; payer_id: string }) => (assert.equal(p.payer_id, 'carol'), p.tracking_id)));
      cursor = page.next_cursor;
    } while (cursor);
    const carol = ids.filter((_, i) => i % 2);
    assert.deepEqual(all, [...carol].reverse());

    // Per status, through the seed's sets.
    const succeeded = (await get('/payments?payer_id=carol&status=succeeded&limit=100')).json().data;
    const members = await redis.zrange(`${prefix}payments_made_by|carol`, 0, '-1');
    assert.deepEqual(succeeded.map((p: { tracking_id: string }) => p.tracking_id).sort(), [...members].sort());
    const insufficientToErin = (await get('/payments?recipient_id=erin&status=insufficient_funds&limit=100')).json().data;
    assert.equal(insufficientToErin.length, await redis.zcard(`${prefix}insufficient_funds_to|erin`));

    // Time range.
    const future = (await get(`/payments?payer_id=carol&from=${new Date(Date.now() + 3_600_000).toISOString()}`)).json();
    assert.equal(future.data.length, 0);
    assert.equal((await get('/payments?from=yesterday')).statusCode, 400);
    assert.equal((await get('/payments?status=lost')).statusCode, 400);

    // Stats: counts and per-currency sums by status.
    const stats = (await get('/payments/stats')).json();
    const ours = ids.map((id) => id);
    const views = await Promise.all(ours.map(async (id) => (await get(`/payments/${id}`)).json()));
    for (const status of ['succeeded', 'insufficient_funds'] as const) {
      const mine = views.filter((v) => v.status === status);
      const eur = mine.filter((v) => v.currency === 'EUR').reduce((s, v) => s + v.amount, 0);
      assert.ok(stats.statuses[status].count >= mine.length);
      if (eur) assert.ok(stats.statuses[status].amounts.EUR >= eur);
    }
    const none = (await get(`/payments/stats?from=${Date.now() + 3_600_000}`)).json();
    assert.equal(none.statuses.succeeded.count, 0);

    // Slow: a payment queued with no worker is slow once older than the threshold.
    const stuck = (await post({ payer_id: 'frank', recipient_id: 'erin', amount: 5, currency: 'JPY' })).json().tracking_id;
    await new Promise((r) => setTimeout(r, 30));
    const slow = (await get('/payments/slow?older_than=10ms')).json();
    assert.ok(slow.data.some((p: { tracking_id: string; status: string; age_ms: number }) => p.tracking_id === stuck && p.status === 'queued' && p.age_ms >= 10));
    assert.ok(slow.total >= 1);
    assert.equal((await get('/payments/slow')).json().data.some((p: { tracking_id: string }) => p.tracking_id === stuck), false);
  });

  test('dashboard data and queue metrics', async () => {
    const data = (await get('/dashboard/data')).json();
    for (const k of ['queue_depth', 'in_flight', 'retry_scheduled', 'dead_letters', 'outbox_backlog', 'workers', 'recent_outcomes', 'outcomes']) assert.ok(k in data, k);
    assert.ok(data.recent_outcomes.length > 0);
    const page = await get('/dashboard');
    assert.match(page.headers['content-type'] as string, /text\/html/);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const name of ['payments_queue_depth', 'payments_in_flight', 'payments_retry_scheduled', 'payments_dead_letters', 'payments_outcomes_recorded{status="succeeded"', 'http_request_duration_seconds']) {
      assert.ok(metrics.includes(name), name);
    }
  });
});
