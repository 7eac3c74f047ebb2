// 10,000 payments through the HTTP API while 3 `ledgerline payments worker` processes are killed
// with SIGKILL, one every second, and restarted. Simulated processor with latency and api_errors.
// Every payment must end in exactly one final state, the processor's ledger must show no tracking
// id charged twice, and payments.outcomes (Redis Streams bus) must carry exactly one outcome per
// tracking id after dedupe — and nothing may be left queued, in flight or in the outbox.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createBus, type Bus, type BusMessage } from '../../src/platform/bus/index.ts';
import { createMetricsRegistry } from '../../src/platform/metrics.ts';
import type { Redis } from '../../src/platform/redis.ts';
import { buildApi } from '../../src/payments/api.ts';
import { FINAL_STATUSES, paymentKeys } from '../../src/payments/keys.ts';
import { OUTCOMES_TOPIC, type OutcomeMessage } from '../../src/payments/outcomes.ts';
import { simulatedLedger } from '../../src/payments/processors/simulated.ts';
import { dropKeys } from '../support/cleanup.ts';
import { API_KEY, postJson, REDIS_URL, silentLogger, testRedis, uniquePrefix, until } from './support/fixtures.ts';

const TOTAL = Number(process.env.CHAOS_PAYMENTS ?? 10_000);
const WORKERS = 3;
const CHILD = new URL('./support/worker-child.ts', import.meta.url).pathname;

describe('chaos: workers killed -9 every second', { timeout: 180_000 }, () => {
  let redis: Redis;
  let prefix: string;
  let busPrefix: string;
  let app: FastifyInstance;
  let bus: Bus;
  const children = new Set<ChildProcess>();

  before(async () => {
    redis = testRedis();
    prefix = uniquePrefix('chaos');
    busPrefix = `${prefix}bus:`;
    app = buildApi({ redis, prefix, apiKeys: [API_KEY], logger: silentLogger, registry: createMetricsRegistry('t'), slowAfterMs: 60_000, idempotencyTtlMs: 3_600_000 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    bus = createBus({ redisUrl: REDIS_URL, prefix: busPrefix, logger: silentLogger, clientId: 'chaos-consumer', redis: { leaseMs: 2000, blockMs: 500 }, retry: { baseMs: 20, maxMs: 500 } });
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await bus.close();
    await app.close();
    await dropKeys(redis, prefix);
    await redis.quit();
  });

  function startWorker(): ChildProcess {
    const child = spawn(
      process.execPath,
      [
        CHILD,
        '--redis-url', REDIS_URL,
        '--key-prefix', prefix,
        '--bus-prefix', busPrefix,
        '--concurrency', '40',
        '--max-attempts', '5',
        '--retry-base', '20ms',
        '--retry-cap', '200ms',
        '--worker-ttl', '2s',
        '--reap-interval', '250ms',
        '--outbox-claim-idle', '2s',
        '--simulated-mix', 'success=0.7,insufficient_funds=0.1,declined=0.05,api_error=0.15',
        '--simulated-latency', '150ms±100ms',
        '--simulated-seed', '42',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'error', KAFKA_BROKERS: '' } }, // the Redis Streams bus
    );
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  }

  test('every payment ends in exactly one final state, charged at most once, one outcome each on the bus', async () => {
    const keys = paymentKeys(prefix);
    const received = new Map<string, OutcomeMessage[]>();
    const subscription = await bus.subscribe({
      group: 'chaos-test',
      topics: [OUTCOMES_TOPIC],
      handler: async (m: BusMessage) => {
        received.set(m.id, [...(received.get(m.id) ?? []), m.value as OutcomeMessage]);
      },
    });

    let workers = Array.from({ length: WORKERS }, startWorker);
    let kills = 0;
    let killing = true;
    const killer = (async () => {
      for (let i = 0; killing; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        if (!killing) break;
        const victim = workers[i % WORKERS]!;
        victim.kill('SIGKILL');
        kills++;
        workers = workers.map((w) => (w === victim ? startWorker() : w));
      }
    })();

    // Submit through the API while workers die around it.
    const address = app.server.address() as { port: number };
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < TOTAL) {
          const i = next++;
          const res = await postJson(
            address.port,
            '/payments',
            { payer_id: `payer${i % 97}`, recipient_id: `rcpt${i % 89}`, amount: 100 + i, currency: 'EUR' },
            { authorization: `Bearer ${API_KEY}`, 'idempotency-key': `chaos-${i}` },
          );
          assert.equal(res.status, 202);
          ids.push((res.json as { tracking_id: string }).tracking_id);
        }
      }),
    );
    assert.equal(new Set(ids).size, TOTAL);

    const started = Date.now();
    await until(async () => (await redis.zcard(keys.open)) === 0, 150_000, 'every payment final');
    killing = false;
    await killer;
    const processingMs = Date.now() - started;

    // Nothing stuck anywhere.
    assert.equal(await redis.llen(keys.queue), 0);
    assert.equal(await redis.zcard(keys.retry), 0);
    for (const w of await redis.zrange(keys.workers, 0, '-1')) assert.equal(await redis.llen(keys.processing(w)), 0, `processing list of ${w}`);

    // Exactly one final state each: in exactly one outcome set, matching the payment's status.
    const statuses = new Map<string, string>();
    const p = redis.pipeline();
    for (const id of ids) {
      p.hget(keys.payment(id), 'status');
      for (const s of FINAL_STATUSES) p.zscore(keys.outcomeSet(s), id);
    }
    const replies = (await p.exec())!;
    const stride = 1 + FINAL_STATUSES.length;
    ids.forEach((id, i) => {
      const status = replies[i * stride]![1] as string;
      const inSets = FINAL_STATUSES.filter((_, k) => replies[i * stride + 1 + k]![1] !== null);
      assert.deepEqual(inSets, [status], `payment ${id}`);
      statuses.set(id, status);
    });
    const setSizes = await Promise.all(FINAL_STATUSES.map((s) => redis.zcard(keys.outcomeSet(s))));
    assert.equal(setSizes.reduce((a, b) => a + b, 0), TOTAL);

    // The processor's ledger: at most one charge per tracking id; exactly one unless failed.
    const ledger = await simulatedLedger(redis, prefix);
    for (const id of ids) {
      const charges = ledger.charges.get(id) ?? 0;
      assert.equal(charges, statuses.get(id) === 'failed' ? 0 : 1, `charges of ${id} (${statuses.get(id)})`);
    }
    const retried = ids.filter((id) => (ledger.calls.get(id) ?? 0) > 1).length;

    // Crashes really happened in the middle of payments.
    const histories = await Promise.all(ids.map((id) => redis.hget(keys.payment(id), 'history')));
    const requeued = histories.filter((h) => h?.includes('worker_lost')).length;
    assert.ok(kills >= 5, `kills ${kills}`);
    assert.ok(requeued > 0, 'some payments were taken back from killed workers');

    // The bus: exactly one outcome per tracking id after dedupe, all agreeing with Redis.
    await until(async () => received.size >= TOTAL && (await redis.xlen(keys.outbox)) === 0, 60_000, 'all outcomes on the bus').catch(async (err: Error) => {
      const pending = await redis.xpending(keys.outbox, 'relay');
      throw new Error(`${err.message}: ${received.size} received, outbox ${await redis.xlen(keys.outbox)}, pending ${JSON.stringify(pending)}`);
    });
    await subscription.close();
    assert.equal(received.size, TOTAL);
    let duplicates = 0;
    for (const id of ids) {
      const messages = received.get(id) ?? [];
      assert.ok(messages.length >= 1, `outcome of ${id}`);
      duplicates += messages.length - 1;
      for (const m of messages) {
        assert.equal(m.tracking_id, id);
        assert.equal(m.status, statuses.get(id));
      }
    }
    const counts = Object.fromEntries(FINAL_STATUSES.map((s, i) => [s, setSizes[i]]));
    process.stderr.write(
      `chaos: ${TOTAL} payments, ${kills} kills, final in ${(processingMs / 1000).toFixed(1)} s after submission; ${JSON.stringify(counts)}; ` +
        `${requeued} taken back from killed workers, ${retried} called more than once, ${duplicates} duplicate bus deliveries (deduped)\n`,
    );
  });
});
