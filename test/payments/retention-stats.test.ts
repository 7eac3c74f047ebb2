// /payments/stats from the minute and hour buckets equals a brute-force count over the sorted
// sets, for any range, also after requeues and retention; and retention removes old final
// payments from everywhere, in batches, and nothing else.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Redis } from '../../src/platform/redis.ts';
import { FINAL_STATUSES, paymentKeys, type FinalStatus } from '../../src/payments/keys.ts';
import { createReadModel, splitRange } from '../../src/payments/queries.ts';
import { createQueue, type Queue } from '../../src/payments/queue.ts';
import { startRetention } from '../../src/payments/retention.ts';
import { dropKeys } from '../support/cleanup.ts';
import { silentLogger, testRedis, uniquePrefix } from './support/fixtures.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CURRENCIES = ['USD', 'EUR', 'JPY'];
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** Enqueues and records `n` payments with statuses and currencies cycling; returns their ids by status. */
async function record(queue: Queue, n: number, offset = 0): Promise<Map<string, FinalStatus>> {
  const ids = new Map<string, FinalStatus>();
  for (let i = offset; i < offset + n; i++) {
    await queue.enqueue({ payer_id: `payer${i % 7}`, recipient_id: `rcpt${i % 5}`, amount: 100 + i, currency: CURRENCIES[i % 3]! });
  }
  const taken = await queue.fetch('w', n, 60_000);
  for (const [k, p] of taken.entries()) {
    const status = FINAL_STATUSES[(k + offset) % FINAL_STATUSES.length]!;
    const outcome = status === 'failed' ? 'api_error' : 'success';
    await queue.complete({ worker: 'w', trackingId: p.trackingId, attempt: p.attempt, status, outcome, result: {}, ...(status === 'succeeded' ? { txnId: `txn_${p.trackingId}` } : {}) });
    ids.set(p.trackingId, status);
  }
  return ids;
}

/** The definition: every outcome set member with a score in [from, to], summed one by one. */
async function bruteForce(redis: Redis, prefix: string, from: number | undefined, to: number | undefined) {
  const keys = paymentKeys(prefix);
  const out: Record<string, { count: number; amounts: Record<string, number> }> = {};
  for (const s of FINAL_STATUSES) {
    const ids = await redis.zrangebyscore(keys.outcomeSet(s), from ?? '-inf', to ?? '+inf');
    const amounts: Record<string, number> = {};
    for (const id of ids) {
      const [amount, currency] = await redis.hmget(keys.payment(id), 'amount', 'currency');
      amounts[currency!] = (amounts[currency!] ?? 0) + Number(amount);
    }
    out[s] = { count: ids.length, amounts };
  }
  return out;
}

describe('payments stats and retention', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const fresh = (name: string) => {
    const prefix = uniquePrefix(name);
    prefixes.push(prefix);
    return { prefix, queue: createQueue(redis, prefix), keys: paymentKeys(prefix), reads: createReadModel(redis, prefix) };
  };

  before(() => {
    redis = testRedis();
  });
  after(async () => {
    for (const p of prefixes) await dropKeys(redis, p);
    await redis.quit();
  });

  test('splitRange: whole hours, whole minutes and short edges cover exactly [lo, hi], once', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const base = Date.UTC(2024, 0, 31, 22, 0, 0);
    const cases: Array<[number, number]> = [[base, base + HOUR - 1], [base, base], [base + 1, base + MINUTE], [base - 1, base + 2 * HOUR], [base + 5, base + 3]];
    for (let i = 0; i < 500; i++) {
      const lo = base + Math.floor(random() * 3 * HOUR) - HOUR;
      cases.push([lo, lo + Math.floor(random() * (random() < 0.3 ? 2 * MINUTE : 5 * HOUR))]);
    }
    for (const [lo, hi] of cases) {
      const { hours, minutes, scans } = splitRange(lo, hi);
      const pieces = [...hours.map((h) => [h, h + HOUR - 1]), ...minutes.map((m) => [m, m + MINUTE - 1]), ...scans].sort((a, b) => a[0]! - b[0]!);
      if (lo > hi) {
        assert.deepEqual(pieces, []);
        continue;
      }
      let next = lo;
      for (const [a, b] of pieces) {
        assert.equal(a, next, `[${lo}, ${hi}]: contiguous`);
        next = b! + 1;
      }
      assert.equal(next, hi + 1, `[${lo}, ${hi}]: up to hi`);
      for (const [a, b] of scans) assert.ok(b - a < 2 * MINUTE);
      assert.ok(hours.every((h) => h % HOUR === 0) && minutes.every((m) => m % MINUTE === 0));
      assert.ok(minutes.length < 2 * 60);
    }
  });

  test('stats from the buckets equal a brute-force count for any range, also after a requeue', async () => {
    const { prefix, queue, reads } = fresh('stats');
    await record(queue, 40);
    await sleep(15);
    const more = await record(queue, 40, 40);
    // Undo one failed outcome: its bucket share goes with it.
    const failed = [...more].find(([, s]) => s === 'failed')![0];
    assert.equal(await queue.requeueDeadLetter(failed), 'requeued');
    const scores = (await Promise.all(FINAL_STATUSES.map((s) => redis.zrange(paymentKeys(prefix).outcomeSet(s), '0', '-1', 'WITHSCORES'))))
      .flatMap((flat) => flat.filter((_, i) => i % 2 === 1).map(Number));
    const [min, max] = [Math.min(...scores), Math.max(...scores)];
    const minuteOf = (t: number) => Math.floor(t / MINUTE) * MINUTE;
    const ranges: Array<[number | undefined, number | undefined]> = [
      [undefined, undefined], // open: whole hours
      [min - 2 * 86_400_000, max + 2 * 86_400_000],
      [minuteOf(min), minuteOf(max) + MINUTE - 1], // whole minutes
      [min, max],
      [min + 1, max - 1],
      [Math.floor((min + max) / 2), undefined],
      [undefined, Math.floor((min + max) / 2)],
      [max + 1, undefined],
      [max, min],
    ];
    for (const [from, to] of ranges) {
      const got = await reads.stats(from, to);
      assert.deepEqual(got.statuses, await bruteForce(redis, prefix, from, to), `range [${from}, ${to}]`);
    }
    const all = await reads.stats(undefined, undefined);
    assert.equal(all.statuses.failed.count, 19);
    assert.equal(all.statuses.succeeded.count, 20);
    assert.equal(all.api_errors, 20);
  });

  test('retention removes final payments recorded before the cutoff from everywhere, in batches, and nothing else', async () => {
    const { prefix, queue, keys, reads } = fresh('retention');
    const old = await record(queue, 6);
    await sleep(20);
    const kept = await record(queue, 3, 6);
    const open = (await queue.enqueue({ payer_id: 'payer0', recipient_id: 'rcpt0', amount: 5, currency: 'USD' })).trackingId;
    const scoreOf = async (id: string, s: FinalStatus) => Number(await redis.zscore(keys.outcomeSet(s), id));
    const cutoff = Math.max(...(await Promise.all([...old].map(([id, s]) => scoreOf(id, s))))) + 1;
    assert.ok(Math.min(...(await Promise.all([...kept].map(([id, s]) => scoreOf(id, s))))) >= cutoff);

    const batches = [];
    for (let n = -1; n !== 0; ) batches.push((n = await queue.purgeFinalBefore(cutoff, 4)));
    assert.deepEqual(batches, [4, 2, 0]);

    for (const [id, status] of old) {
      assert.equal(await redis.exists(keys.payment(id)), 0, `hash of ${id}`);
      const n = Number(id) - 1;
      const memberships = await Promise.all(
        [keys.payments, keys.byPayer(`payer${n % 7}`), keys.toRecipient(`rcpt${n % 5}`), keys.outcomeSet(status), keys.outcomeByPayer(status, `payer${n % 7}`), keys.outcomeToRecipient(status, `rcpt${n % 5}`)].map((k) => redis.zscore(k, id)),
      );
      assert.deepEqual(memberships, [null, null, null, null, null, null], `sets of ${id}`);
      assert.equal(await redis.hexists(keys.txns, `txn_${id}`), 0);
      assert.equal(await redis.zscore(keys.apiErrors, `${id}:1`), null);
    }
    assert.deepEqual(await redis.lrange(keys.deadLetter, 0, -1), [...kept].filter(([, s]) => s === 'failed').map(([id]) => id));
    for (const [id] of kept) assert.equal(await redis.hget(keys.payment(id), 'tracking_id'), id);
    assert.equal(await redis.hget(keys.payment(open), 'status'), 'queued');
    // The buckets lost exactly what was removed.
    const stats = await reads.stats(undefined, undefined);
    assert.deepEqual(stats.statuses, await bruteForce(redis, prefix, undefined, undefined));
    assert.equal(Object.values(stats.statuses).reduce((sum, s) => sum + s.count, 0), 3);

    // The periodic job: everything final older than its retention goes; the open payment stays.
    await sleep(5);
    const job = startRetention({ queue, retentionMs: 1, intervalMs: 3_600_000, batch: 2, logger: silentLogger });
    await job.runNow();
    await job.stop();
    for (const [id] of kept) assert.equal(await redis.exists(keys.payment(id)), 0);
    assert.equal(await redis.hget(keys.payment(open), 'status'), 'queued');
    assert.deepEqual((await reads.stats(undefined, undefined)).statuses, await bruteForce(redis, prefix, undefined, undefined));
    const buckets = await redis.keys(`${prefix}stats:*`);
    assert.deepEqual(buckets, [], 'empty buckets are gone');
  });
});
