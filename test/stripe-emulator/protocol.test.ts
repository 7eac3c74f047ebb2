// Stripe's protocol around every route: auth, Request-Id, rate limits the SDK retries by itself,
// injected faults and latency, the admin clock, and the unit pieces (form parser, token bucket,
// latency syntax, idempotency cache, store paging).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Stripe from 'stripe';
import { parseFault, parseLatency, randomFault } from '../../src/stripe-emulator/faults.ts';
import { parseForm } from '../../src/stripe-emulator/form-parser.ts';
import { IdempotencyCache } from '../../src/stripe-emulator/idempotency.ts';
import { startStripeEmulator, type StripeEmulator } from '../../src/stripe-emulator/index.ts';
import { TokenBucket } from '../../src/stripe-emulator/rate-limit.ts';
import { addInterval } from '../../src/stripe-emulator/resources/periods.ts';
import { Collection, Entry } from '../../src/stripe-emulator/store.ts';
import { sdkFor } from './support/sdk.ts';

describe('protocol', () => {
  let emulator: StripeEmulator;
  before(async () => {
    emulator = await startStripeEmulator({ rateLimit: 0, apiKeys: ['sk_test_emulator', 'sk_test_second'], now: 1_700_000_000 });
  });
  after(() => emulator.stop());

  test('a wrong or missing key is a 401 the SDK reports as StripeAuthenticationError; basic auth works', async () => {
    await assert.rejects(sdkFor(emulator, { key: 'sk_test_wrong' }).customers.list(), (err: Stripe.errors.StripeError) => err instanceof Stripe.errors.StripeAuthenticationError && err.statusCode === 401);
    const missing = await fetch(`${emulator.url}/v1/customers`);
    assert.equal(missing.status, 401);
    assert.equal(((await missing.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
    assert.match(String(missing.headers.get('request-id')), /^req_[A-Za-z0-9]{14}$/);
    const basic = await fetch(`${emulator.url}/v1/customers`, { headers: { authorization: `Basic ${Buffer.from('sk_test_second:').toString('base64')}` } });
    assert.equal(basic.status, 200);
    assert.equal((await sdkFor(emulator, { key: 'sk_test_second' }).customers.list()).object, 'list');
  });

  test('GET /v1/account names the account every key belongs to: stable per seed, or as configured', async () => {
    const account = await sdkFor(emulator).accounts.retrieveCurrent();
    assert.equal(account.object, 'account');
    assert.match(account.id, /^acct_[A-Za-z0-9]{16}$/);
    assert.equal((await sdkFor(emulator, { key: 'sk_test_second' }).accounts.retrieveCurrent()).id, account.id);
    const same = await startStripeEmulator({ rateLimit: 0 });
    const other = await startStripeEmulator({ rateLimit: 0, seed: 2 });
    const named = await startStripeEmulator({ rateLimit: 0, accountId: 'acct_1Named0000000000' });
    try {
      assert.equal((await sdkFor(same).accounts.retrieveCurrent()).id, account.id);
      assert.notEqual((await sdkFor(other).accounts.retrieveCurrent()).id, account.id);
      assert.equal((await sdkFor(named).accounts.retrieveCurrent()).id, 'acct_1Named0000000000');
    } finally {
      await Promise.all([same.stop(), other.stop(), named.stop()]);
    }
  });

  test('unknown URLs are Stripe 404s; Stripe-Version is accepted; unemulated endpoints are 501s', async () => {
    const headers = { authorization: 'Bearer sk_test_emulator', 'stripe-version': '2020-08-27' };
    const unknown = await fetch(`${emulator.url}/v1/nothing/here`, { headers });
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { error: { message: string } }).error.message, /Unrecognized request URL \(GET: \/v1\/nothing\/here\)/);
    const ok = await fetch(`${emulator.url}/v1/customers`, { headers });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('stripe-version'), '2023-08-16');
    const later = await fetch(`${emulator.url}/v1/balance`, { headers });
    assert.equal(later.status, 501);
    assert.equal(later.headers.get('stripe-should-retry'), 'false');
  });

  test('forced faults: api_error and dropped connections are retried by the SDK; slow adds latency', async () => {
    const stripe = sdkFor(emulator, { maxNetworkRetries: 2 });
    await assert.rejects(stripe.customers.list({}, { headers: { 'Emulator-Fault': 'api_error' }, maxNetworkRetries: 0 }), (err: Stripe.errors.StripeError) => err.type === 'StripeAPIError' && err.statusCode === 500);
    await assert.rejects(stripe.customers.list({}, { headers: { 'Emulator-Fault': 'drop' }, maxNetworkRetries: 1 }), (err: Stripe.errors.StripeError) => err.type === 'StripeConnectionError');
    const started = performance.now();
    await stripe.customers.list({}, { headers: { 'Emulator-Fault': 'slow=300ms' } });
    assert.ok(performance.now() - started >= 290);
    // On writes, metadata[emulator_fault] works through any client.
    await assert.rejects(stripe.customers.create({ metadata: { emulator_fault: 'api_error' } }, { maxNetworkRetries: 0 }), (err: Stripe.errors.StripeError) => err.statusCode === 500);
  });

  test('the admin clock moves forward only and stamps new objects', async () => {
    const post = (body: unknown) => fetch(`${emulator.url}/_emulator/clock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const before = emulator.clock.now();
    const moved = (await (await post({ advance_seconds: 3600 })).json()) as { now: number };
    assert.ok(moved.now >= before + 3600);
    assert.equal((await post({ now: before })).status, 400);
    const c = await sdkFor(emulator).customers.create({ name: 'Later' });
    assert.ok(c.created >= before + 3600);
  });
});

describe('rate limits', () => {
  let emulator: StripeEmulator;
  before(async () => {
    emulator = await startStripeEmulator({ rateLimit: 10, concurrencyLimit: 0, now: 1_700_000_000 });
  });
  after(() => emulator.stop());

  test('a burst over the limit gets 429 rate_limit_error with Stripe-Rate-Limited-Reason', async () => {
    const responses = await Promise.all(Array.from({ length: 30 }, () => fetch(`${emulator.url}/v1/customers`, { headers: { authorization: 'Bearer sk_test_emulator' } })));
    const limited = responses.filter((r) => r.status === 429);
    assert.ok(limited.length >= 15, `${limited.length} limited`);
    const first = limited[0]!;
    assert.equal(first.headers.get('stripe-rate-limited-reason'), 'global-rate');
    assert.equal(first.headers.get('stripe-should-retry'), 'true');
    const body = (await first.json()) as { error: { type: string; code: string } };
    assert.deepEqual([body.error.type, body.error.code], ['rate_limit_error', 'rate_limit']);
    // Writes have their own bucket.
    const write = await fetch(`${emulator.url}/v1/customers`, { method: 'POST', headers: { authorization: 'Bearer sk_test_emulator' } });
    assert.equal(write.status, 200);
  });

  test('the SDK retries 429s by itself and every request of a burst succeeds', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const stripe = sdkFor(emulator, { maxNetworkRetries: 8 });
    const results = await Promise.all(Array.from({ length: 20 }, () => stripe.customers.list({ limit: 1 })));
    assert.equal(results.length, 20);
    assert.ok(results.every((r) => r.object === 'list'));
  });
});

describe('concurrency limit', () => {
  test('requests beyond the in-flight cap get 429 global-concurrency', async () => {
    const emulator = await startStripeEmulator({ rateLimit: 0, concurrencyLimit: 2, latency: '200ms' });
    try {
      const responses = await Promise.all(Array.from({ length: 5 }, () => fetch(`${emulator.url}/v1/customers`, { headers: { authorization: 'Bearer sk_test_emulator' } })));
      const limited = responses.filter((r) => r.status === 429);
      assert.ok(limited.length >= 1 && limited.length <= 3, `${limited.length} limited`);
      assert.equal(limited[0]!.headers.get('stripe-rate-limited-reason'), 'global-concurrency');
    } finally {
      await emulator.stop();
    }
  });
});

describe('units', () => {
  test('form parser: brackets, indexed and appended arrays, decoding', () => {
    assert.deepEqual(parseForm('metadata[foo]=bar&items[1][price]=p2&items[0][price]=p1&items[0][quantity]=2&expand[]=a&expand[]=b.c&name=J+D%20x&created[gte]=5'), {
      metadata: { foo: 'bar' }, items: [{ price: 'p1', quantity: '2' }, { price: 'p2' }], expand: ['a', 'b.c'], name: 'J D x', created: { gte: '5' },
    });
    assert.deepEqual(parseForm('x[][a]=1&x[][b]=2&x[][a]=3'), { x: [{ a: '1', b: '2' }, { a: '3' }] });
    assert.throws(() => parseForm('a=1&a[b]=2'), /Conflicting/);
    assert.throws(() => parseForm('a=%E0%A4%A'), /URL encoding/);
  });

  test('token bucket: a burst of capacity, then the rate', () => {
    const bucket = new TokenBucket(10, 10, 0);
    let granted = 0;
    for (let i = 0; i < 20; i++) if (bucket.take(0)) granted++;
    assert.equal(granted, 10);
    assert.equal(bucket.take(50), false);
    assert.equal(bucket.take(100), true);
    assert.equal(bucket.take(100), false);
  });

  test('latency and fault syntax', () => {
    assert.deepEqual(parseLatency('250ms±50ms'), { baseMs: 250, jitterMs: 50 });
    assert.deepEqual(parseLatency('1s+-100ms'), { baseMs: 1000, jitterMs: 100 });
    assert.deepEqual(parseLatency('0'), { baseMs: 0, jitterMs: 0 });
    assert.equal(parseLatency('fast'), undefined);
    assert.equal(parseLatency('10ms±50ms'), undefined);
    assert.deepEqual(parseFault('slow=2s'), { kind: 'slow', ms: 2000 });
    assert.equal(parseFault('nonsense'), undefined);
    assert.equal(randomFault(0.5, () => 0.9), undefined);
    assert.deepEqual(randomFault(0.5, () => 0.1), { kind: 'api_error' });
    assert.deepEqual(randomFault(0.5, () => 0.3), { kind: 'drop' });
  });

  test('idempotency cache: replay, mismatch, in flight, expiry', () => {
    const cache = new IdempotencyCache(2);
    assert.equal(cache.begin('k', 'a', 'p1', 0).kind, 'new');
    assert.equal(cache.begin('k', 'a', 'p1', 1).kind, 'in_flight');
    cache.complete('k', 'a', { status: 200, body: '{}', headers: {} });
    assert.equal(cache.begin('k', 'a', 'p1', 2).kind, 'replay');
    assert.equal(cache.begin('k', 'a', 'p2', 2).kind, 'mismatch');
    assert.equal(cache.begin('other', 'a', 'p2', 2).kind, 'new');
    assert.equal(cache.begin('k', 'a', 'p2', 2 + 86400).kind, 'new');
  });

  test('store entries keep one form: the object until served, then only its JSON', () => {
    const c = new Collection('thing');
    const obj = { id: 't1', object: 'thing', nested: { a: 1 } };
    const e = new Entry({ id: 't1', t: 1, seq: 1, obj, collection: c });
    c.add(e);
    assert.equal(e.obj, obj, 'shared while parsed');
    assert.equal(e.json, JSON.stringify(obj));
    assert.notEqual(e.obj, obj, 'parsed again from the JSON once served');
    assert.deepEqual(e.obj, obj);
    assert.equal(c.indexed('nested', '\u0001').length, 1);
    c.replace(e, { ...obj, name: 'x' });
    assert.equal(e.json, JSON.stringify({ ...obj, name: 'x' }));
    assert.equal(e.type, 'thing');
  });

  test('billing periods keep the anchor day, clamped to short months', () => {
    const jan31 = Date.UTC(2024, 0, 31, 10, 30) / 1000;
    const iso = (t: number) => new Date(t * 1000).toISOString();
    assert.equal(iso(addInterval(jan31, 'month', 1)), '2024-02-29T10:30:00.000Z');
    assert.equal(iso(addInterval(addInterval(jan31, 'month', 1), 'month', 1, jan31)), '2024-03-31T10:30:00.000Z');
    assert.equal(iso(addInterval(jan31, 'year', 1)), '2025-01-31T10:30:00.000Z');
    assert.equal(iso(addInterval(jan31, 'month', 3)), '2024-04-30T10:30:00.000Z');
    assert.equal(addInterval(jan31, 'week', 2), jan31 + 14 * 86400);
  });

  test('store paging: cursors both ways, same-second order, created bounds, deleted cursors', () => {
    const c = new Collection('thing');
    const entries: Entry[] = [];
    for (let i = 0; i < 10; i++) {
      const e = new Entry({ id: `t${i}`, t: 100 + Math.floor(i / 3), seq: i, obj: { id: `t${i}`, object: 'thing' }, collection: c });
      entries.push(e);
      c.add(e);
    }
    const ids = (p: { entries: Entry[] }) => p.entries.map((e) => e.id);
    assert.deepEqual(ids(c.page({ limit: 3 })), ['t9', 't8', 't7']);
    assert.deepEqual(ids(c.page({ limit: 3, startingAfter: entries[7]! })), ['t6', 't5', 't4']);
    const back = c.page({ limit: 2, endingBefore: entries[4]! });
    assert.deepEqual(ids(back), ['t6', 't5']);
    assert.equal(back.hasMore, true);
    assert.deepEqual(ids(c.page({ limit: 10, created: { gte: 101, lt: 103 } })), ['t8', 't7', 't6', 't5', 't4', 't3']);
    const cursor = c.cursor('t5', 'starting_after');
    c.remove(c.get('t5')!);
    assert.deepEqual(ids(c.page({ limit: 2, startingAfter: c.cursor('t5', 'starting_after') })), ['t4', 't3']);
    assert.deepEqual(cursor, { t: 101, seq: 5 });
    assert.throws(() => c.cursor('nope', 'starting_after'), /No such/);
  });
});
