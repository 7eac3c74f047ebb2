// REST over the same service layer (same empty-filter rule, same column selection), API keys
// (401 / 403), idempotent creates, and the per-client rate limit in Redis (429 + Retry-After).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auth, createRecords, EXTERNAL_KEY, INTERNAL_KEY, loggedSql, testApi, unique, type QueryLog, type TestApi } from './support/billing.ts';

let log: QueryLog;
let api: TestApi;
const product = unique('gid://test/Product/r');

before(async () => {
  log = loggedSql();
  api = await testApi(log.sql);
  await createRecords(log.sql, product, 4, (i) => ({ amount: (i + 1) * 10, kind: i < 2 ? 'invoice' : 'refund' }));
});

after(async () => {
  await api.close();
  await log.sql.end();
});

const get = (url: string, key = EXTERNAL_KEY) => api.app.inject({ method: 'GET', url, headers: auth(key) });

describe('GET /v1/billing_records', () => {
  test('no filter parameters: an empty list, and no statement reads billing.records', async () => {
    log.reset();
    const res = await get('/v1/billing_records?first=10');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { data: [], has_more: false, next_cursor: null });
    assert.deepEqual(log.recordQueries(), []);
  });

  test('fields reach the SQL, and the answer has only those fields', async () => {
    log.reset();
    const res = await get(`/v1/billing_records?product_gid=${encodeURIComponent(product)}&fields=gid,amount&first=3`);
    const body = res.json();
    assert.deepEqual(Object.keys(body.data[0]).sort(), ['amount', 'gid']);
    assert.deepEqual(body.data.map((r: { amount: number }) => r.amount), [40, 30, 20]);
    assert.equal(body.has_more, true);
    const [query] = log.recordQueries();
    assert.match(query!, /^select e\.id, e\.gid, e\.amount, e\.created_at from billing\.records e /);
    const next = (await get(`/v1/billing_records?product_gid=${encodeURIComponent(product)}&fields=amount&first=3&after=${body.next_cursor}`)).json();
    assert.deepEqual(next, { data: [{ amount: 10 }], has_more: false, next_cursor: null });
  });

  test('filters by kind and amount; bad parameters are a 400 naming each one', async () => {
    const res = await get(`/v1/billing_records?product_gid=${encodeURIComponent(product)}&kind=refund&amount_min=35`);
    assert.deepEqual(res.json().data.map((r: { amount: number; kind: string }) => [r.kind, r.amount]), [['refund', 40]]);
    const bad = await get('/v1/billing_records?kind=gift&created_after=yesterday&colour=red');
    assert.equal(bad.statusCode, 400);
    const fields = bad.json().error.fields.map((f: { field: string }) => f.field).sort();
    assert.deepEqual(fields, ['colour']);
    const bad2 = await get('/v1/billing_records?kind=gift&created_after=yesterday');
    assert.deepEqual(bad2.json().error.fields.map((f: { field: string }) => f.field).sort(), ['created_after', 'kind.0']);
  });

  test('for_products and last_created_at: one statement each, GET and POST', async () => {
    log.reset();
    const res = await get(`/v1/billing_records/for_products?product_gids=${encodeURIComponent(product)},none&first=2&fields=amount`);
    assert.deepEqual(res.json(), {
      data: [
        { product_gid: product, records: [{ amount: 40 }, { amount: 30 }] },
        { product_gid: 'none', records: [] },
      ],
    });
    assert.equal(log.recordQueries().length, 1);
    const post = await api.app.inject({ method: 'POST', url: '/v1/billing_records/for_products', headers: auth(), payload: { product_gids: [product], filter: { kind: ['invoice'] }, first: 5, fields: ['amount'] } });
    assert.deepEqual(post.json().data[0].records, [{ amount: 20 }, { amount: 10 }]);
    const last = await api.app.inject({ method: 'POST', url: '/v1/billing_records/last_created_at', headers: auth(), payload: { product_gids: ['none', product] } });
    const [none, found] = last.json().data;
    assert.deepEqual(none, { product_gid: 'none', created_at: null });
    assert.ok(Date.parse(found.created_at) > 0);
  });
});

describe('writes and keys', () => {
  test('no key or a wrong key is a 401 in the platform error shape', async () => {
    const none = await api.app.inject({ method: 'GET', url: '/v1/billing_records?currency=usd' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().error.type, 'authentication_error');
    const wrong = await api.app.inject({ method: 'POST', url: '/graphql', headers: auth('not-a-key-0123456789abcdef'), payload: { query: '{ __typename }' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().error.code, 'unauthorized');
  });

  test('an external key cannot write (403); an internal key creates, replays by idempotency key and patches', async () => {
    const body = { product_gid: product, client_gid: 'gid://test/Client/9', kind: 'credit_note', status: 'open', amount: -500, currency: 'usd', due_at: '2031-01-01T00:00:00Z' };
    const forbidden = await api.app.inject({ method: 'POST', url: '/v1/billing_records', headers: auth(EXTERNAL_KEY), payload: body });
    assert.equal(forbidden.statusCode, 403);
    const key = unique('idem-');
    const post = (payload: unknown) => api.app.inject({ method: 'POST', url: '/v1/billing_records', headers: { ...auth(INTERNAL_KEY), 'idempotency-key': key }, payload: payload as object });
    const created = await post(body);
    assert.equal(created.statusCode, 201);
    const record = created.json();
    assert.equal(record.amount, -500);
    assert.equal(record.due_at, '2031-01-01T00:00:00.000Z');
    const replay = await post(body);
    assert.equal(replay.statusCode, 201);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.json().gid, record.gid);
    const conflict = await post({ ...body, amount: -600 });
    assert.equal(conflict.statusCode, 409);
    const url = `/v1/billing_records/${encodeURIComponent(record.gid)}`;
    const patched = await api.app.inject({ method: 'PATCH', url, headers: auth(INTERNAL_KEY), payload: { status: 'void' } });
    assert.equal(patched.json().status, 'void');
    assert.equal((await get(url)).json().status, 'void');
    assert.equal((await get(`/v1/billing_records/${encodeURIComponent('gid://billing/Record/none')}`)).statusCode, 404);
    const invalid = await api.app.inject({ method: 'POST', url: '/v1/billing_records', headers: auth(INTERNAL_KEY), payload: { ...body, currency: 'xx', size: 1 } });
    assert.equal(invalid.statusCode, 400);
    assert.deepEqual(invalid.json().error.fields.map((f: { field: string }) => f.field), ['size']);
  });
});

describe('rate limit', () => {
  test('over the limit a client gets 429 with Retry-After, in the platform shape; other clients are not affected', async () => {
    // Keys of their own, so earlier runs' counters in Redis cannot matter.
    const key = unique('rate-limited-key-0123456789-');
    const fresh = unique('fresh-key-0123456789-');
    const options = { rateLimit: 3, rateLimitWindowMs: 60_000, apiKeys: [key, fresh] };
    // Two API processes share the counter through Redis.
    const one = await testApi(log.sql, options);
    const two = await testApi(log.sql, options);
    try {
      const call = (app: TestApi, k: string) => app.app.inject({ method: 'GET', url: '/v1/billing_records?currency=usd&first=1', headers: auth(k) });
      const codes = [await call(one, key), await call(two, key), await call(one, key)].map((r) => r.statusCode);
      assert.deepEqual(codes, [200, 200, 200]);
      const over = await call(two, key);
      assert.equal(over.statusCode, 429);
      const retryAfter = Number(over.headers['retry-after']);
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `retry-after ${over.headers['retry-after']}`);
      assert.equal(over.json().error.type, 'rate_limit_error');
      const graphqlOver = await one.app.inject({ method: 'POST', url: '/graphql', headers: auth(key), payload: { query: '{ __typename }' } });
      assert.equal(graphqlOver.statusCode, 429);
      assert.equal(graphqlOver.json().error.code, 'rate_limited');
      assert.ok(Number(graphqlOver.headers['retry-after']) >= 1);
      // Another client has its own budget; the key itself never appears in Redis, only its hash.
      assert.equal((await call(one, fresh)).statusCode, 200);
      assert.deepEqual(await one.redis.keys(`*${key}*`), []);
    } finally {
      await one.close();
      await two.close();
    }
  });
});
