// The queue's guarantees, step by step on the real Redis: FIFO, the reaper giving a dead worker's
// payments back, outcomes recorded once (and stale attempts fenced), orphans handed back, retries
// with backoff then the dead letter, and the simulated processor's idempotency and determinism.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMetricsRegistry } from '../../src/platform/metrics.ts';
import type { Redis } from '../../src/platform/redis.ts';
import { buildApi } from '../../src/payments/api.ts';
import { paymentKeys } from '../../src/payments/keys.ts';
import { decide } from '../../src/payments/outcomes.ts';
import { simulatedLedger } from '../../src/payments/processors/simulated.ts';
import type { PaymentRequest, Processor, ProcessorResult } from '../../src/payments/processors/types.ts';
import { createReadModel } from '../../src/payments/queries.ts';
import { createQueue, type Queue } from '../../src/payments/queue.ts';
import { retryDelayMs } from '../../src/payments/retry-scheduler.ts';
import { startRetryScheduler } from '../../src/payments/retry-scheduler.ts';
import { dropKeys } from '../support/cleanup.ts';
import { API_KEY, inProcessWorker, silentLogger, simulated, testRedis, uniquePrefix, until } from './support/fixtures.ts';

const pay = (i: number) => ({ payer_id: `payer${i}`, recipient_id: `rcpt${i}`, amount: 100 + i, currency: 'USD' });

describe('payments queue', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const fresh = (name: string) => {
    const prefix = uniquePrefix(name);
    prefixes.push(prefix);
    return { prefix, queue: createQueue(redis, prefix), keys: paymentKeys(prefix) };
  };

  before(() => {
    redis = testRedis();
  });
  after(async () => {
    for (const p of prefixes) await dropKeys(redis, p);
    await redis.quit();
  });

  const success = (worker: string, trackingId: string, attempt: number) => ({ worker, trackingId, attempt, status: 'succeeded' as const, outcome: 'success', result: { outcome: 'success' }, txnId: `txn_${trackingId}` });

  test('FIFO: workers take the oldest payment first (the seed’s RPUSH/BRPOP was LIFO)', async () => {
    const { queue } = fresh('fifo');
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await queue.enqueue(pay(i))).trackingId);
    const got = await queue.fetch('w1', 3, 5000);
    assert.deepEqual(got.map((p) => p.trackingId), ids.slice(0, 3));
    assert.equal(got[0]!.attempt, 1);
    assert.equal(got[0]!.payerId, 'payer0');
  });

  test('a dead worker’s payments go back to the head of the queue, in order, and are processed once', async () => {
    const { prefix, queue, keys } = fresh('reap');
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push((await queue.enqueue(pay(i))).trackingId);
    // Worker "dead" takes 4 and never comes back (its heartbeat lasts 600 ms).
    const taken = await queue.fetch('dead', 4, 600);
    assert.equal(taken.length, 4);
    assert.deepEqual(await queue.reap(3_600_000, 10), { moved: new Map(), poisoned: [] }, 'not reaped while its heartbeat lives');
    await new Promise((r) => setTimeout(r, 650));
    assert.deepEqual(await queue.reap(3_600_000, 10), { moved: new Map([['dead', 4]]), poisoned: [] });
    assert.equal(await redis.llen(keys.processing('dead')), 0);
    // Back at the head: the next fetch sees them first, oldest first, then the two never taken.
    const again = await queue.fetch('alive', 10, 5000);
    assert.deepEqual(again.map((p) => p.trackingId), ids);
    assert.deepEqual(again.map((p) => p.attempt), [2, 2, 2, 2, 1, 1]);
    const history = (await createReadModel(redis, prefix).getPayment(ids[0]!))!.history;
    assert.deepEqual(history.map((h) => [h.status, h.reason ?? '']), [['queued', ''], ['processing', ''], ['queued', 'worker_lost'], ['processing', '']]);
    // The dead worker stays known for the grace period, then is forgotten.
    assert.notEqual(await redis.zscore(keys.workers, 'dead'), null);
    await queue.reap(0, 10);
    assert.equal(await redis.zscore(keys.workers, 'dead'), null);
  });

  test('an outcome is recorded once, atomically, with the seed’s sets, txns and one outbox entry', async () => {
    const { queue, keys } = fresh('record');
    const id = (await queue.enqueue(pay(7))).trackingId;
    const [p] = await queue.fetch('w1', 1, 5000);
    assert.equal(await queue.complete(success('w1', id, p!.attempt)), 'recorded');
    assert.equal(await queue.complete(success('w1', id, p!.attempt)), 'duplicate');
    assert.equal(await queue.complete({ ...success('w2', id, 9), status: 'declined', outcome: 'declined' }), 'duplicate');
    assert.equal(await redis.llen(keys.processing('w1')), 0);
    assert.notEqual(await redis.zscore(keys.outcomeSet('succeeded'), id), null);
    assert.notEqual(await redis.zscore(`${keys.prefix}payments_made_by|payer7`, id), null);
    assert.notEqual(await redis.zscore(`${keys.prefix}payments_received_by|rcpt7`, id), null);
    assert.equal(await redis.zscore(keys.outcomeSet('declined'), id), null);
    assert.equal(await redis.zcard(keys.open), 0);
    const txn = JSON.parse((await redis.hget(keys.txns, `txn_${id}`))!);
    assert.equal(txn.tracking_id, id);
    assert.equal(txn.payer_id, 'payer7');
    const outbox = await redis.xrange(keys.outbox, '-', '+');
    assert.equal(outbox.length, 1);
    assert.deepEqual(outbox[0]![1].slice(0, 4), ['id', id, 'key', 'payer7']);
    // Scores are UTC epoch milliseconds.
    const score = Number(await redis.zscore(keys.outcomeSet('succeeded'), id));
    assert.ok(Math.abs(score - Date.now()) < 60_000);
  });

  test('a reaped worker’s late api_error is ignored; its late final outcome counts once', async () => {
    const { queue, keys } = fresh('fence');
    const a = (await queue.enqueue(pay(1))).trackingId;
    const b = (await queue.enqueue(pay(2))).trackingId;
    await queue.fetch('slow', 2, 50);
    await new Promise((r) => setTimeout(r, 80));
    await queue.reap(3_600_000, 10);
    const taken = await queue.fetch('fast', 2, 5000);
    assert.deepEqual(taken.map((p) => [p.trackingId, p.attempt]), [[a, 2], [b, 2]]);
    // The slow worker wakes up: its api_error for a is stale (a is attempt 2 at "fast").
    assert.equal(await queue.complete({ worker: 'slow', trackingId: a, attempt: 1, status: 'retrying', outcome: 'api_error', result: {}, retryDelayMs: 10 }), 'stale');
    assert.equal(await redis.zcard(keys.retry), 0);
    // Its success for b is the processor's answer for b's key: recorded; fast's later report is a duplicate.
    assert.equal(await queue.complete(success('slow', b, 1)), 'recorded');
    assert.equal(await queue.complete(success('fast', b, 2)), 'duplicate');
    assert.equal(await queue.complete(success('fast', a, 2)), 'recorded');
    assert.equal(await redis.llen(keys.processing('fast')), 0);
    assert.equal(await redis.xlen(keys.outbox), 2);
  });

  test('a final payment left in the queue is dropped when fetched', async () => {
    const { queue, keys } = fresh('drop');
    const id = (await queue.enqueue(pay(3))).trackingId;
    await queue.fetch('w1', 1, 5000);
    await queue.complete(success('w1', id, 1));
    await redis.rpush(keys.queue, id); // a duplicate, as a crash could leave
    assert.deepEqual(await queue.fetch('w2', 5, 5000), []);
    assert.equal(await redis.llen(keys.processing('w2')), 0);
    assert.equal(await redis.llen(keys.queue), 0);
  });

  test('a payment in a live worker’s list that it does not know about is handed back and processed', async () => {
    const { prefix, queue, keys } = fresh('orphan');
    const worker = await inProcessWorker({ redis, prefix, ttlMs: 300, workerId: 'live' });
    const id = (await queue.enqueue(pay(4))).trackingId;
    await until(async () => (await redis.zcard(keys.open)) === 0, 5000, 'first payment done');
    // As if a BLMOVE moved a payment but its reply was lost with the connection.
    const orphan = (await redis.eval(`local id = redis.call('INCR', KEYS[1]) return id`, 1, keys.trackingIds)) as number;
    await redis.hset(keys.payment(String(orphan)), { tracking_id: orphan, status: 'queued', payer_id: 'p', recipient_id: 'r', amount: 5, currency: 'USD', created_at: Date.now(), attempts: 0 });
    await redis.zadd(keys.open, Date.now(), orphan);
    await redis.lpush(keys.processing('live'), orphan);
    await until(async () => (await redis.hget(keys.payment(String(orphan)), 'status')) === 'succeeded', 5000, 'orphan processed');
    await worker.stop();
    assert.ok(id);
  });

  test('api_error is retried with backoff, then failed and dead-lettered, visible in the API', async () => {
    const { prefix, keys } = fresh('dead');
    const queue: Queue = createQueue(redis, prefix);
    const app = buildApi({ redis, prefix, apiKeys: [API_KEY], logger: silentLogger, registry: createMetricsRegistry('t'), slowAfterMs: 60_000, idempotencyTtlMs: 60_000 });
    const retries = startRetryScheduler({ queue, intervalMs: 20, logger: silentLogger });
    const worker = await inProcessWorker({ redis, prefix, processor: simulated(redis, prefix, 'api_error=1'), maxAttempts: 3, retry: { baseMs: 20, capMs: 100 } });
    const id = (await queue.enqueue(pay(5))).trackingId;
    await until(async () => (await redis.hget(keys.payment(id), 'status')) === 'failed', 10_000, 'failed');
    await worker.stop();
    await retries.stop();

    const res = await app.inject({ method: 'GET', url: `/payments/${id}`, headers: { 'x-api-key': API_KEY } });
    const p = res.json();
    assert.equal(p.status, 'failed');
    assert.equal(p.attempts, 3);
    assert.equal(p.last_error, 'simulated processor unavailable');
    assert.deepEqual(p.history.map((h: { status: string }) => h.status), ['queued', 'processing', 'retrying', 'queued', 'processing', 'retrying', 'queued', 'processing', 'failed']);
    const retrying = p.history.filter((h: { status: string }) => h.status === 'retrying');
    assert.ok(retrying.every((h: { next_attempt_at: string; code: string }) => h.next_attempt_at && h.code === 'simulated_api_error'));
    assert.deepEqual(await redis.lrange(keys.deadLetter, 0, -1), [id]);
    assert.equal(await redis.zcard(keys.apiErrors), 3);
    const dead = (await app.inject({ method: 'GET', url: '/payments/dead-letters', headers: { 'x-api-key': API_KEY } })).json();
    assert.deepEqual(dead.data.map((d: { tracking_id: string }) => d.tracking_id), [id]);
    assert.equal(dead.total, 1);
    const failed = (await app.inject({ method: 'GET', url: '/payments?status=failed', headers: { 'x-api-key': API_KEY } })).json();
    assert.deepEqual(failed.data.map((d: { tracking_id: string }) => d.tracking_id), [id]);
    const ledger = await simulatedLedger(redis, prefix);
    assert.equal(ledger.charges.get(id), undefined, 'never charged');
    assert.equal(ledger.calls.get(id), 3);
    const outbox = await redis.xrange(keys.outbox, '-', '+');
    assert.equal(JSON.parse(outbox[0]![1][5]!).status, 'failed');
    await app.close();
  });

  test('a retry that then succeeds: waits between attempts within the backoff bounds', async () => {
    const { prefix, queue, keys } = fresh('retry');
    const calls: Array<{ at: number; request: PaymentRequest }> = [];
    const flaky: Processor = {
      name: 'flaky',
      async process(request): Promise<ProcessorResult> {
        calls.push({ at: Date.now(), request });
        return calls.length < 3 ? { outcome: 'api_error', code: 'timeout', message: 'timed out' } : { outcome: 'success', txnId: 'txn_ok' };
      },
    };
    const retries = startRetryScheduler({ queue, intervalMs: 10, logger: silentLogger });
    const worker = await inProcessWorker({ redis, prefix, processor: flaky, retry: { baseMs: 200, capMs: 10_000 } });
    const id = (await queue.enqueue(pay(6))).trackingId;
    await until(async () => (await redis.hget(keys.payment(id), 'status')) === 'succeeded', 10_000, 'succeeded');
    await worker.stop();
    await retries.stop();
    assert.equal(calls.length, 3);
    // Always the same idempotency key, derived from the tracking id.
    assert.equal(new Set(calls.map((c) => c.request.idempotencyKey)).size, 1);
    assert.ok(calls[0]!.request.idempotencyKey.endsWith(`-${id}`));
    assert.deepEqual(calls.map((c) => c.request.attempt), [1, 2, 3]);
    // Full jitter: the first retry is scheduled within [0, base), the second within [0, 2·base).
    const history = (await createReadModel(redis, prefix).getPayment(id))!.history.filter((h) => h.status === 'retrying');
    const delays = history.map((h) => Date.parse(h.next_attempt_at as string) - Date.parse(h.at));
    assert.equal(delays.length, 2);
    assert.ok(delays[0]! >= 0 && delays[0]! < 200, `first delay ${delays[0]}`);
    assert.ok(delays[1]! >= 0 && delays[1]! < 400, `second delay ${delays[1]}`);
    assert.ok(calls[2]!.at - calls[0]!.at < 5000);
    assert.equal(await redis.zcard(keys.apiErrors), 2);
  });

  test('backoff: full jitter within [0, min(cap, base·2^(attempt−1))); decisions by outcome', () => {
    const policy = { baseMs: 100, capMs: 1000 };
    assert.equal(retryDelayMs(1, policy, () => 0.999), 99);
    assert.equal(retryDelayMs(3, policy, () => 0.5), 200);
    assert.equal(retryDelayMs(10, policy, () => 0.999), 999);
    assert.equal(retryDelayMs(1, policy, () => 0), 0);
    assert.deepEqual(decide({ outcome: 'success' }, 1, 5, policy), { status: 'succeeded' });
    assert.deepEqual(decide({ outcome: 'insufficient_funds' }, 1, 5, policy), { status: 'insufficient_funds' });
    assert.deepEqual(decide({ outcome: 'declined' }, 1, 5, policy), { status: 'declined' });
    assert.deepEqual(decide({ outcome: 'invalid' }, 1, 5, policy), { status: 'failed' });
    assert.deepEqual(decide({ outcome: 'api_error' }, 5, 5, policy), { status: 'failed' });
    assert.deepEqual(decide({ outcome: 'api_error' }, 2, 5, policy, () => 0.5), { status: 'retrying', retryDelayMs: 100 });
  });

  test('simulated processor: honours the idempotency key, deterministic for a seed, follows the mix', async () => {
    const a = fresh('sim-a');
    const b = fresh('sim-b');
    const request = (i: number, key = `payment-x-${i}`): PaymentRequest => ({ trackingId: String(i), payerId: 'p', recipientId: 'r', amount: 1, currency: 'USD', metadata: {}, attempt: 1, idempotencyKey: key });
    const simA = simulated(redis, a.prefix, 'success=0.5,insufficient_funds=0.3,declined=0.1,api_error=0.1', 0, 7);
    const simB = simulated(redis, b.prefix, 'success=0.5,insufficient_funds=0.3,declined=0.1,api_error=0.1', 0, 7);
    const outcomesA: string[] = [];
    const outcomesB: string[] = [];
    for (let i = 0; i < 400; i++) outcomesA.push((await simA.process(request(i))).outcome);
    for (let i = 0; i < 400; i++) outcomesB.push((await simB.process(request(i))).outcome);
    assert.deepEqual(outcomesA, outcomesB, 'same seed, same outcomes');
    const share = (o: string) => outcomesA.filter((x) => x === o).length / outcomesA.length;
    assert.ok(Math.abs(share('success') - 0.5) < 0.08, `success ${share('success')}`);
    assert.ok(Math.abs(share('insufficient_funds') - 0.3) < 0.08);
    // The same key again: the stored result, no new charge.
    const i = outcomesA.indexOf('success');
    const first = await simA.process(request(i));
    const second = await simA.process(request(i));
    assert.deepEqual(second, first);
    const ledger = await simulatedLedger(redis, a.prefix);
    assert.equal(ledger.charges.get(String(i)), 1);
    assert.equal(ledger.calls.get(String(i)), 3);
    // Another key for the same payment would charge again: what the chaos test's ledger would catch.
    await simA.process(request(i, 'another-key'));
    assert.equal((await simulatedLedger(redis, a.prefix)).charges.get(String(i)), 2);
  });

  test('a stopping worker lets payments in flight finish, or hands them back after the grace', async () => {
    const { prefix, queue, keys } = fresh('stop');
    for (let i = 0; i < 10; i++) await queue.enqueue(pay(i));
    const worker = await inProcessWorker({ redis, prefix, processor: simulated(redis, prefix, 'success=1', 2000), stopGraceMs: 100, workerId: 'stopper' });
    await until(async () => worker.inFlight() === 10, 5000, 'all in flight');
    await worker.stop();
    assert.equal(await redis.llen(keys.processing('stopper')), 0);
    assert.equal(await redis.llen(keys.queue), 10);
    assert.equal(await redis.zscore(keys.workers, 'stopper'), null);
    const first = (await createReadModel(redis, prefix).getPayment('1'))!;
    assert.equal(first.status, 'queued');
    assert.equal(first.history.at(-1)!.reason, 'worker_stopped');
  });
});
