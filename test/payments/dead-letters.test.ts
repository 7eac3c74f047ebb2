// Dead letters: a dead-lettered payment requeued through the API keeps its tracking id and its
// processor idempotency key (so one that was charged after all is not charged again) and gets a
// fresh retry budget; and poison pills — payments whose workers keep dying — end there after
// `maxDeliveries` instead of going round for ever.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createMetricsRegistry } from '../../src/platform/metrics.ts';
import type { Redis } from '../../src/platform/redis.ts';
import { buildApi } from '../../src/payments/api.ts';
import { paymentKeys } from '../../src/payments/keys.ts';
import { simulatedLedger } from '../../src/payments/processors/simulated.ts';
import type { Processor } from '../../src/payments/processors/types.ts';
import { createReadModel } from '../../src/payments/queries.ts';
import { createQueue } from '../../src/payments/queue.ts';
import { startRetryScheduler } from '../../src/payments/retry-scheduler.ts';
import { dropKeys } from '../support/cleanup.ts';
import { API_KEY, inProcessWorker, silentLogger, simulated, testRedis, uniquePrefix, until } from './support/fixtures.ts';

const pay = (i: number) => ({ payer_id: `payer${i}`, recipient_id: `rcpt${i}`, amount: 100 + i, currency: 'USD' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('payments dead letters', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const apps: FastifyInstance[] = [];
  const fresh = (name: string) => {
    const prefix = uniquePrefix(name);
    prefixes.push(prefix);
    const app = buildApi({ redis, prefix, apiKeys: [API_KEY], logger: silentLogger, registry: createMetricsRegistry('t'), slowAfterMs: 60_000, idempotencyTtlMs: 60_000 });
    apps.push(app);
    return { prefix, app, queue: createQueue(redis, prefix), keys: paymentKeys(prefix), reads: createReadModel(redis, prefix) };
  };
  const auth = { 'x-api-key': API_KEY };

  before(() => {
    redis = testRedis();
  });
  after(async () => {
    for (const app of apps) await app.close();
    for (const p of prefixes) await dropKeys(redis, p);
    await redis.quit();
  });

  test('a requeued dead letter keeps its tracking id and idempotency key: charged once, retry budget restarted, new outcome published', async () => {
    const { prefix, app, queue, keys, reads } = fresh('requeue');
    // The processor charges on the first call, but the worker never hears back on calls 1, 2 and 3
    // (api_error): with 2 attempts the payment is dead-lettered although it was charged.
    const sim = simulated(redis, prefix);
    let calls = 0;
    const keysSeen: string[] = [];
    const lossy: Processor = {
      name: 'lossy',
      async process(request) {
        keysSeen.push(request.idempotencyKey);
        const result = await sim.process(request);
        return ++calls <= 3 ? { outcome: 'api_error', code: 'timeout', message: 'no answer' } : result;
      },
    };
    const retries = startRetryScheduler({ queue, intervalMs: 10, logger: silentLogger });
    let worker = await inProcessWorker({ redis, prefix, processor: lossy, maxAttempts: 2, retry: { baseMs: 10, capMs: 20 } });
    const id = (await queue.enqueue(pay(1))).trackingId;
    await until(async () => (await redis.hget(keys.payment(id), 'status')) === 'failed', 10_000, 'dead-lettered');
    await worker.stop();

    const dead = (await app.inject({ method: 'GET', url: '/payments/dead-letters', headers: auth })).json();
    assert.deepEqual(dead.data.map((d: { tracking_id: string; reason: string }) => [d.tracking_id, d.reason]), [[id, 'max_attempts']]);
    assert.equal((await reads.stats(undefined, undefined)).statuses.failed.count, 1);

    // Internal like every route: an API key is required.
    assert.equal((await app.inject({ method: 'POST', url: `/payments/${id}/requeue` })).statusCode, 401);
    const res = await app.inject({ method: 'POST', url: `/payments/${id}/requeue`, headers: auth });
    assert.equal(res.statusCode, 202);
    assert.deepEqual(res.json(), { tracking_id: id, status: 'queued' });
    // Only dead letters can be requeued; unknown ids are 404, bad ones 400.
    const again = await app.inject({ method: 'POST', url: `/payments/${id}/requeue`, headers: auth });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error.code, 'not_dead_lettered');
    assert.equal((await app.inject({ method: 'POST', url: '/payments/999999/requeue', headers: auth })).statusCode, 404);
    assert.equal((await app.inject({ method: 'POST', url: '/payments/abc/requeue', headers: auth })).statusCode, 400);
    // Its failed outcome is undone everywhere.
    assert.equal((await app.inject({ method: 'GET', url: '/payments/dead-letters', headers: auth })).json().total, 0);
    assert.equal(await redis.zscore(keys.outcomeSet('failed'), id), null);
    assert.equal(await redis.zscore(keys.outcomeByPayer('failed', 'payer1'), id), null);
    assert.equal((await reads.stats(undefined, undefined)).statuses.failed.count, 0);
    assert.notEqual(await redis.zscore(keys.open, id), null);

    // Call 3 is another api_error: with a fresh budget it is retried, not failed at once.
    worker = await inProcessWorker({ redis, prefix, processor: lossy, maxAttempts: 2, retry: { baseMs: 10, capMs: 20 } });
    await until(async () => (await redis.hget(keys.payment(id), 'status')) === 'succeeded', 10_000, 'succeeded after the requeue');
    await worker.stop();
    await retries.stop();

    assert.equal(calls, 4);
    assert.equal(new Set(keysSeen).size, 1, 'one idempotency key for every call');
    const ledger = await simulatedLedger(redis, prefix);
    assert.equal(ledger.charges.get(id), 1, 'charged once');
    const p = (await reads.getPayment(id))!;
    assert.equal(p.tracking_id, id);
    assert.equal(p.attempts, 4);
    assert.equal(p.requeues, 1);
    assert.equal(p.dead_letter_reason, undefined);
    assert.deepEqual(p.history.map((h) => h.status), ['queued', 'processing', 'retrying', 'queued', 'processing', 'failed', 'queued', 'processing', 'retrying', 'queued', 'processing', 'succeeded']);
    assert.equal(p.history[6]!.reason, 'requeued');
    const stats = await reads.stats(undefined, undefined);
    assert.equal(stats.statuses.failed.count, 0);
    assert.equal(stats.statuses.succeeded.count, 1);
    // Two outcomes on the outbox, the second under a new message id so deduping consumers see it.
    const outbox = (await redis.xrange(keys.outbox, '-', '+')).map(([, f]) => [f[1], JSON.parse(f[5]!).status]);
    assert.deepEqual(outbox, [[id, 'failed'], [`${id}.r1`, 'succeeded']]);
  });

  test('a poison pill — its worker dies every time it is taken — is dead-lettered after max deliveries by the reaper', async () => {
    const { app, queue, keys, reads } = fresh('poison');
    const poison = (await queue.enqueue(pay(1))).trackingId;
    const healthy = (await queue.enqueue(pay(2))).trackingId;
    for (let delivery = 1; delivery <= 3; delivery++) {
      // A worker takes it (heartbeat 50 ms) and is never heard of again.
      // Lost twice, it waits a moment (see the next test) before it is queued again.
      if (delivery === 3) {
        await sleep(120);
        assert.equal(await queue.promoteDueRetries(10), 1);
      }
      const [p] = await queue.fetch(`crashing-${delivery}`, 1, 50);
      assert.deepEqual([p!.trackingId, p!.attempt], [poison, delivery]);
      await sleep(80);
      const reaped = await queue.reap(3_600_000, 3);
      if (delivery < 3) assert.deepEqual(reaped, { moved: new Map([[`crashing-${delivery}`, 1]]), poisoned: [] });
      else assert.deepEqual(reaped, { moved: new Map(), poisoned: [poison] });
    }
    const p = (await reads.getPayment(poison))!;
    assert.equal(p.status, 'failed');
    assert.equal(p.dead_letter_reason, 'poison');
    assert.match(p.last_error!, /delivered 3 times/);
    assert.deepEqual(p.history.at(-1), { status: 'failed', at: p.history.at(-1)!.at, attempt: 3, worker: 'crashing-3', reason: 'poison', code: 'poison' });
    assert.equal(await redis.zscore(keys.open, poison), null);
    assert.notEqual(await redis.zscore(keys.outcomeSet('failed'), poison), null);
    const dead = (await app.inject({ method: 'GET', url: '/payments/dead-letters', headers: auth })).json();
    assert.deepEqual(dead.data.map((d: { tracking_id: string; reason: string }) => [d.tracking_id, d.reason]), [[poison, 'poison']]);
    const outbox = await redis.xrange(keys.outbox, '-', '+');
    assert.deepEqual(JSON.parse(outbox[0]![1][5]!).code, 'poison');
    // The queue goes on with the rest.
    assert.deepEqual((await queue.fetch('alive', 10, 5000)).map((x) => x.trackingId), [healthy]);
    assert.deepEqual(await queue.reap(3_600_000, 3), { moved: new Map(), poisoned: [] });
  });

  test('payments lost with a worker a second time wait, staggered, so they are not taken together with a poison pill again', async () => {
    const { queue, keys } = fresh('stagger');
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await queue.enqueue(pay(i))).trackingId);
    for (const worker of ['dying-1', 'dying-2']) {
      assert.equal((await queue.fetch(worker, 4, 50)).length, 4);
      await sleep(80);
      assert.deepEqual(await queue.reap(3_600_000, 10), { moved: new Map([[worker, 4]]), poisoned: [] });
    }
    // The first loss put them back at the head; the second spreads them out, a step apart.
    assert.equal(await redis.llen(keys.queue), 0);
    const flat = await redis.zrange(keys.retry, '0', '-1', 'WITHSCORES');
    const due = flat.filter((_, i) => i % 2 === 1).map(Number);
    assert.deepEqual(flat.filter((_, i) => i % 2 === 0).sort(), [...ids].sort());
    for (let i = 1; i < due.length; i++) assert.ok(due[i]! - due[i - 1]! >= 100, `due times ${due.join(', ')}`);
    for (const id of ids) assert.equal(await redis.hget(keys.payment(id), 'status'), 'retrying');
  });

  test('orphans count as deliveries and losses too; 0 means no limit; a clean stop counts as neither', async () => {
    const { queue, keys } = fresh('poison-orphan');
    const id = (await queue.enqueue(pay(1))).trackingId;
    await queue.fetch('w', 1, 5000);
    assert.deepEqual(await queue.requeue('w', 'orphaned', [id], 2), { moved: 1, poisoned: [] });
    await queue.fetch('w', 1, 5000);
    assert.equal(await queue.release('w'), 1, 'handed back at a clean stop whatever the count');
    await queue.fetch('w', 1, 5000);
    assert.deepEqual(await queue.requeue('w', 'orphaned', [id], 0), { moved: 1, poisoned: [] }, 'no limit');
    assert.equal(await redis.hget(keys.payment(id), 'status'), 'retrying', 'lost a second time: waits a step');
    await sleep(120);
    assert.equal(await queue.promoteDueRetries(10), 1);
    await queue.fetch('w', 1, 5000);
    assert.deepEqual(await queue.requeue('w', 'orphaned', [id], 2), { moved: 0, poisoned: [id] });
    assert.equal(await redis.hget(keys.payment(id), 'dead_letter_reason'), 'poison');
    assert.equal(await redis.llen(keys.queue), 0);
  });

  test('a delivery lost with its worker does not use up an api_error attempt', async () => {
    const { prefix, queue, keys } = fresh('lost-not-attempt');
    const id = (await queue.enqueue(pay(1))).trackingId;
    await queue.fetch('dying', 1, 50);
    await sleep(80);
    await queue.reap(3_600_000, 10);
    const retries = startRetryScheduler({ queue, intervalMs: 10, logger: silentLogger });
    const worker = await inProcessWorker({ redis, prefix, processor: simulated(redis, prefix, 'api_error=1'), maxAttempts: 2, retry: { baseMs: 10, capMs: 20 } });
    await until(async () => (await redis.hget(keys.payment(id), 'status')) === 'failed', 10_000, 'failed');
    await worker.stop();
    await retries.stop();
    assert.equal((await simulatedLedger(redis, prefix)).calls.get(id), 2, 'two api_errors, as --max-attempts 2 says');
    assert.equal(await redis.hget(keys.payment(id), 'attempts'), '3', 'three deliveries');
  });

  test('a processor that throws is an api_error: retried, then dead-lettered (max_attempts)', async () => {
    const { prefix, queue, keys } = fresh('throws');
    const throwing: Processor = {
      name: 'throwing',
      async process() {
        throw new TypeError('cannot read properties of undefined');
      },
    };
    const retries = startRetryScheduler({ queue, intervalMs: 10, logger: silentLogger });
    const worker = await inProcessWorker({ redis, prefix, processor: throwing, maxAttempts: 3, retry: { baseMs: 10, capMs: 20 } });
    const id = (await queue.enqueue(pay(1))).trackingId;
    await until(async () => (await redis.hget(keys.payment(id), 'status')) === 'failed', 10_000, 'failed');
    await worker.stop();
    await retries.stop();
    assert.equal(await redis.hget(keys.payment(id), 'attempts'), '3');
    assert.equal(await redis.hget(keys.payment(id), 'dead_letter_reason'), 'max_attempts');
    assert.deepEqual(await redis.lrange(keys.deadLetter, 0, -1), [id]);
  });
});
