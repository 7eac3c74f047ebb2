// The billing client against a real billing API, Postgres and Redis: per-method transports,
// fallback to the direct read, tick batching, preload joins, 429 handling and instrumentation.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createBillingClient, withProducts, withRecords, BillingUnavailableError, type Transport } from '../../../src/billing/client/index.ts';
import { Registry } from '../../../src/platform/metrics.ts';
import { freePort } from '../../support/ports.ts';
import { capturingLogger, metricCount, seedFixture, startApi, type Api, type Fixture } from './support/harness.ts';

let fx: Fixture;
let api: Api;

before(async () => {
  fx = await seedFixture(20, 3);
  api = await startApi(fx.sql, fx.redis);
});
after(async () => {
  await api.close();
  await fx.close();
});

const clientFor = (transport: Transport, extra: Partial<Parameters<typeof createBillingClient>[0]> = {}) =>
  createBillingClient({
    baseUrl: api.baseUrl,
    apiKey: api.apiKey,
    methods: { findRecords: transport, recordsForProducts: transport, lastCreatedAt: transport },
    sql: fx.sql,
    redis: fx.redis,
    limiter: false,
    ...extra,
  });

describe('transports', () => {
  test('graphql, rest and direct answer every method alike, with only the fields asked for', async () => {
    const answers = [];
    for (const transport of ['graphql', 'rest', 'direct'] as const) {
      const client = clientFor(transport);
      const page = await client.findRecords({ productGids: fx.products.slice(0, 2) }, { first: 4, fields: ['gid', 'productGid', 'amount', 'createdAt'] });
      const batch = await client.recordsForProducts(fx.products.slice(0, 3), { first: 2, fields: ['gid', 'createdAt'] });
      const last = await client.lastCreatedAt([fx.products[0]!, 'gid://test/Product/none']);
      answers.push({ page, batch: [...batch.entries()], last: [...last.entries()] });
    }
    const [graphql, rest, direct] = answers;
    assert.equal(graphql!.page.records.length, 4);
    assert.equal(graphql!.page.hasNextPage, true);
    assert.deepEqual(Object.keys(graphql!.page.records[0]!).sort(), ['amount', 'createdAt', 'gid', 'productGid']);
    assert.ok(graphql!.page.records[0]!.createdAt instanceof Date);
    assert.deepEqual(graphql!.last, [
      [fx.products[0], fx.newest.get(fx.products[0]!)],
      ['gid://test/Product/none', null],
    ]);
    assert.deepEqual(rest, graphql);
    assert.deepEqual(direct, graphql);
  });

  test('getRecord: lookups of one tick are one request on every transport, null for an unknown gid', async () => {
    const gids = (await fx.sql<{ gid: string }[]>`select gid from billing.records where product_gid = ${fx.products[3]!} order by created_at desc`).map((r) => r.gid);
    const routes = { graphql: '/graphql', rest: '/v1/billing_records/by_gids' } as const;
    const answers = [];
    for (const transport of ['graphql', 'rest', 'direct'] as const) {
      const client = createBillingClient({ baseUrl: api.baseUrl, apiKey: api.apiKey, methods: { getRecord: transport }, sql: fx.sql, limiter: false });
      const before = transport === 'direct' ? 0 : await api.requests(routes[transport]);
      const got = await Promise.all([...gids, 'gid://billing/Record/none'].map((gid) => client.getRecord(gid, { fields: ['gid', 'amount', 'createdAt'] })));
      if (transport !== 'direct') assert.equal((await api.requests(routes[transport])) - before, 1, `${transport}: one request for ${got.length} lookups`);
      answers.push(got);
    }
    const [graphql, rest, direct] = answers;
    assert.deepEqual(graphql!.map((r) => r?.gid ?? null), [...gids, null], 'each caller gets its own record, in order');
    assert.deepEqual(Object.keys(graphql![0]!).sort(), ['amount', 'createdAt', 'gid']);
    assert.ok(graphql![0]!.createdAt instanceof Date);
    assert.deepEqual(rest, graphql);
    assert.deepEqual(direct, graphql);
  });

  test('a page cursor from one transport continues on the next page', async () => {
    const client = clientFor('graphql');
    const first = await client.findRecords({ productGids: [fx.products[1]!] }, { first: 2, fields: ['gid'] });
    const next = await client.findRecords({ productGids: [fx.products[1]!] }, { first: 2, after: first.endCursor!, fields: ['gid'] });
    assert.equal(next.records.length, 1);
    assert.equal(next.hasNextPage, false);
  });

  test('bad options name the field', () => {
    assert.throws(() => createBillingClient({ methods: { findRecords: 'graphql' } }), /baseUrl: is required when a method uses graphql or rest; apiKey: .*; redis: is required by the shared limiter/);
    assert.throws(() => createBillingClient({ methods: { findRecords: 'direct', recordsForProducts: 'direct', lastCreatedAt: 'direct' } }), /sql: is required when a method uses direct/);
  });
});

describe('fallback to direct', () => {
  test('when the service is down, HTTP methods are answered from the billing database, logged and counted', async () => {
    const { logger, lines } = capturingLogger();
    const registry = new Registry();
    const closedPort = await freePort();
    const client = createBillingClient({ baseUrl: `http://127.0.0.1:${closedPort}`, apiKey: 'k'.repeat(20), sql: fx.sql, limiter: false, logger, registry });
    const records = await client.recordsForProducts([fx.products[2]!], { fields: ['gid', 'amount'] });
    assert.equal(records.get(fx.products[2]!)!.length, 3);
    const fallback = lines.find((l) => String(l.msg).includes('answered by the direct read'));
    assert.ok(fallback, 'a fallback line is logged');
    assert.match(JSON.stringify(fallback.err), /ECONNREFUSED/);
    assert.equal(await metricCount(registry, 'billing_client_fallbacks_total', { method: 'recordsForProducts', from: 'graphql' }), 1);
    assert.equal(await metricCount(registry, 'billing_client_request_duration_seconds', { transport: 'graphql', outcome: 'error' }), 1);
    assert.equal(await metricCount(registry, 'billing_client_request_duration_seconds', { transport: 'direct', outcome: 'ok' }), 1);
    assert.ok(!JSON.stringify(lines).includes('k'.repeat(20)), 'the API key is never logged');
  });

  test('without the fallback the caller gets the failure', async () => {
    const client = createBillingClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, apiKey: 'k'.repeat(20), sql: fx.sql, limiter: false, fallbackToDirect: false });
    await assert.rejects(client.lastCreatedAt([fx.products[0]!]), BillingUnavailableError);
  });

  test('a refused key (401) falls back too: a broken integration must not break the page', async () => {
    const client = createBillingClient({ baseUrl: api.baseUrl, apiKey: 'not-a-valid-key-at-all', sql: fx.sql, limiter: false });
    const last = await client.lastCreatedAt([fx.products[3]!]);
    assert.deepEqual(last.get(fx.products[3]!), fx.newest.get(fx.products[3]!));
  });
});

describe('batching', () => {
  test('N single-product lookups in one tick are one request', async () => {
    for (const transport of ['graphql', 'rest'] as const) {
      const registry = new Registry();
      const client = clientFor(transport, { registry, redis: fx.redis, limiter: { perSecond: 50, name: `batch-${transport}-${Date.now()}` } });
      const route = transport === 'graphql' ? '/graphql' : '/v1/billing_records/for_products';
      const before = await api.requests(route);
      const lists = await Promise.all(fx.products.map((gid) => client.loadRecordsOf(gid, { first: 2, fields: ['productGid', 'createdAt'] })));
      assert.equal((await api.requests(route)) - before, 1, `${transport}: one request for ${fx.products.length} products`);
      lists.forEach((list, i) => {
        assert.equal(list.length, 2);
        assert.ok(list.every((r) => r.productGid === fx.products[i]));
        assert.deepEqual(list[0]!.createdAt, fx.newest.get(fx.products[i]!));
      });
      const dates = await Promise.all(fx.products.map((gid) => client.loadLastCreatedAt(gid)));
      assert.deepEqual(dates, fx.products.map((gid) => fx.newest.get(gid)));
      assert.equal(await metricCount(registry, 'billing_client_request_duration_seconds', {}), 2);
    }
  });

  test('lookups with different options are batched separately, and repeats of one gid are answered alike', async () => {
    const registry = new Registry();
    const client = clientFor('direct', { registry });
    const [a, b, c] = await Promise.all([
      client.loadRecordsOf(fx.products[0]!, { first: 1, fields: ['gid'] }),
      client.loadRecordsOf(fx.products[0]!, { first: 1, fields: ['gid'] }),
      client.loadRecordsOf(fx.products[0]!, { first: 3, fields: ['gid'] }),
    ]);
    assert.deepEqual(a, b);
    assert.equal(a!.length, 1);
    assert.equal(c!.length, 3);
    assert.equal(await metricCount(registry, 'billing_client_request_duration_seconds', { method: 'recordsForProducts' }), 2);
  });
});

describe('preload joins', () => {
  test('products → records and records → products are one request / one load each', async () => {
    const registry = new Registry();
    const client = clientFor('graphql', { registry });
    const products = fx.products.slice(0, 10).map((gid, i) => ({ gid, name: `product ${i}` }));
    const joined = await withRecords(client, products, (p) => p.gid, { first: 3, fields: ['gid', 'productGid', 'amount'] });
    assert.equal(await metricCount(registry, 'billing_client_request_duration_seconds', {}), 1);
    assert.deepEqual(joined.map((j) => j.product), products);
    for (const { product, records } of joined) {
      assert.equal(records.length, 3);
      assert.ok(records.every((r) => r.productGid === product.gid));
    }

    const records = joined.flatMap((j) => j.records).reverse();
    const loads: string[][] = [];
    const withProduct = await withProducts(
      [...records, { productGid: 'gid://test/Product/unknown', gid: 'x', amount: 1 }],
      async (gids) => {
        loads.push(gids);
        return products.filter((p) => gids.includes(p.gid));
      },
      (p) => p.gid,
    );
    assert.equal(loads.length, 1, 'products are loaded once');
    assert.equal(loads[0]!.length, 11, 'each distinct gid once');
    for (const { record, product } of withProduct.slice(0, -1)) assert.equal(product!.gid, record.productGid);
    assert.equal(withProduct.at(-1)!.product, undefined);
  });
});

describe('429 handling', () => {
  test('a request over the server limit waits out Retry-After, then succeeds', async () => {
    const limited = await startApi(fx.sql, fx.redis, { rateLimit: 1 });
    try {
      const { logger, lines } = capturingLogger();
      const registry = new Registry();
      const client = createBillingClient({ baseUrl: limited.baseUrl, apiKey: limited.apiKey, limiter: false, logger, registry, fallbackToDirect: false });
      await client.lastCreatedAt([fx.products[0]!]);
      const started = Date.now();
      const last = await client.lastCreatedAt([fx.products[1]!]);
      const waited = Date.now() - started;
      assert.deepEqual(last.get(fx.products[1]!), fx.newest.get(fx.products[1]!));
      const retry = lines.find((l) => String(l.msg).includes('answered 429; retrying'));
      assert.ok(retry, 'the 429 is logged');
      const retryAfterMs = (retry.billing as { retryAfterMs: number }).retryAfterMs;
      assert.ok(retryAfterMs >= 1000, 'the server sent Retry-After');
      // A lower bound only: the retry was not sent before Retry-After had passed.
      assert.ok(waited >= retryAfterMs, `waited ${waited} ms, Retry-After ${retryAfterMs} ms`);
      assert.equal(await metricCount(registry, 'billing_client_retries_total', { status: '429' }), 1);
    } finally {
      await limited.close();
    }
  });
});

describe('instrumentation', () => {
  test('each request is a histogram observation and a log line with parameters and the calling frame', async () => {
    const { logger, lines } = capturingLogger();
    const registry = new Registry();
    const client = clientFor('graphql', { logger, registry });
    await client.findRecords({ productGids: [fx.products[0]!], kinds: ['invoice'] }, { first: 1, fields: ['gid'] });
    assert.equal(await metricCount(registry, 'billing_client_request_duration_seconds', { method: 'findRecords', transport: 'graphql', outcome: 'ok' }), 1);
    const line = lines.find((l) => l.msg === 'billing findRecords via graphql');
    assert.ok(line, 'a request log line');
    const billing = line.billing as { params: { filter: { kinds: string[] }; first: number }; callers: string[]; durationMs: number; attempts: number };
    assert.deepEqual(billing.params.filter.kinds, ['invoice']);
    assert.equal(billing.params.first, 1);
    assert.equal(billing.attempts, 1);
    assert.ok(billing.durationMs >= 0);
    assert.match(billing.callers[0]!, /^test\/billing\/client\/client\.test\.ts:\d+:\d+/);

    const failing = createBillingClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, apiKey: 'k'.repeat(20), limiter: false, logger, registry, fallbackToDirect: false });
    await assert.rejects(failing.lastCreatedAt(['a']));
    const failed = lines.find((l) => l.msg === 'billing lastCreatedAt via graphql failed');
    assert.ok(failed && failed.err, 'a failure is logged with its error');
    assert.match((failed.billing as { callers: string[] }).callers[0]!, /client\.test\.ts/);
  });
});
