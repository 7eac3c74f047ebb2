// A Redis restart with the append-only file on (a private redis-server): payments queued and in
// flight when Redis stops are all processed after it is back, once each, with one outcome each on
// the bus — the workers (2 processes) wait the outage out and carry on.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { createRedisStreamsBus } from '../../src/platform/bus/redis-streams-bus.ts';
import type { Bus, BusMessage } from '../../src/platform/bus/types.ts';
import type { Redis } from '../../src/platform/redis.ts';
import { FINAL_STATUSES, paymentKeys } from '../../src/payments/keys.ts';
import { OUTCOMES_TOPIC } from '../../src/payments/outcomes.ts';
import { simulatedLedger } from '../../src/payments/processors/simulated.ts';
import { createQueue } from '../../src/payments/queue.ts';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-instance.ts';
import { silentLogger, testRedis, until } from './support/fixtures.ts';

const TOTAL = 3000;
const CHILD = new URL('./support/worker-child.ts', import.meta.url).pathname;

describe('redis restart (AOF on)', { timeout: 120_000 }, () => {
  let server: PrivateRedis;
  let redis: Redis;
  let bus: Bus;
  const prefix = 'pay:';
  const children: ChildProcess[] = [];

  before(async () => {
    server = await startPrivateRedis();
    redis = testRedis(server.url);
    bus = createRedisStreamsBus({ redisUrl: server.url, prefix: 'bus:', logger: silentLogger, clientId: 'restart-test', leaseMs: 2000, blockMs: 500, retry: { baseMs: 20, maxMs: 500 } });
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await bus.close();
    redis.disconnect();
    await server.destroy();
  });

  test('queued and in-flight payments survive the restart and complete exactly once', async () => {
    const keys = paymentKeys(prefix);
    const queue = createQueue(redis, prefix);
    const received = new Map<string, number>();
    await bus.subscribe({ group: 'restart-test', topics: [OUTCOMES_TOPIC], handler: async (m: BusMessage) => void received.set(m.id, (received.get(m.id) ?? 0) + 1) });

    const ids: string[] = [];
    for (let i = 0; i < TOTAL; i++) ids.push((await queue.enqueue({ payer_id: `p${i % 31}`, recipient_id: `r${i % 17}`, amount: 100 + i, currency: 'USD' })).trackingId);
    for (let i = 0; i < 2; i++) {
      const child = spawn(
        process.execPath,
        [CHILD, '--redis-url', server.url, '--key-prefix', prefix, '--bus-prefix', 'bus:', '--concurrency', '50', '--worker-ttl', '3s', '--reap-interval', '250ms',
          '--retry-base', '20ms', '--retry-cap', '200ms', '--outbox-claim-idle', '2s',
          '--simulated-mix', 'success=0.8,insufficient_funds=0.1,api_error=0.1', '--simulated-latency', '50ms±25ms'],
        { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'error', KAFKA_BROKERS: '' } },
      );
      children.push(child);
    }
    await until(async () => (await redis.zcard(keys.outcomeSet('succeeded'))) >= 300, 30_000, 'processing under way');

    // Stop Redis mid-flight (SIGTERM: the AOF is flushed), keep it down a moment, start it again.
    const workers = await redis.zrange(keys.workers, 0, '-1');
    const before = { workers: workers.length, open: await redis.zcard(keys.open), processing: 0 };
    for (const w of workers) before.processing += await redis.llen(keys.processing(w));
    // Some payments in flight, more still queued, when Redis goes away.
    assert.ok(before.workers === 2 && before.processing > 0 && before.open > before.processing, JSON.stringify(before));
    await server.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await server.start();

    await until(async () => (await redis.zcard(keys.open)) === 0, 60_000, 'every payment final after the restart');
    const setSizes = await Promise.all(FINAL_STATUSES.map((s) => redis.zcard(keys.outcomeSet(s))));
    assert.equal(setSizes.reduce((a, b) => a + b, 0), TOTAL);
    const ledger = await simulatedLedger(redis, prefix);
    const statuses = await Promise.all(ids.map((id) => redis.hget(keys.payment(id), 'status')));
    ids.forEach((id, i) => assert.equal(ledger.charges.get(id) ?? 0, statuses[i] === 'failed' ? 0 : 1, `charges of ${id}`));
    assert.equal(await redis.llen(keys.queue), 0);
    assert.equal(await redis.zcard(keys.retry), 0);
    await until(async () => received.size === TOTAL && (await redis.xlen(keys.outbox)) === 0, 30_000, 'every outcome on the bus');
    assert.ok([...received.values()].every((n) => n >= 1));
    // AOF was on, so the worker would not have warned; the data survived the restart.
    assert.match(await redis.config('GET', 'appendonly').then((r) => String((r as string[])[1])), /yes/);
  });
});
