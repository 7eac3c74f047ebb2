// Outcomes are never lost while the bus is down: they wait in the outbox stream (written by the
// same script as the outcome) and the relay delivers them once the bus is back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRedisStreamsBus } from '../../src/platform/bus/redis-streams-bus.ts';
import type { BusMessage } from '../../src/platform/bus/types.ts';
import type { Redis } from '../../src/platform/redis.ts';
import { paymentKeys } from '../../src/payments/keys.ts';
import { startOutboxRelay } from '../../src/payments/outbox-relay.ts';
import { OUTCOMES_TOPIC, type OutcomeMessage } from '../../src/payments/outcomes.ts';
import { createQueue } from '../../src/payments/queue.ts';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-instance.ts';
import { dropKeys } from '../support/cleanup.ts';
import { inProcessWorker, silentLogger, simulated, testRedis, uniquePrefix, until } from './support/fixtures.ts';

describe('outbox relay', { timeout: 60_000 }, () => {
  let redis: Redis;
  let busServer: PrivateRedis;
  const prefix = uniquePrefix('outbox');

  before(async () => {
    redis = testRedis();
    busServer = await startPrivateRedis();
  });
  after(async () => {
    await dropKeys(redis, prefix);
    await redis.quit();
    await busServer.destroy();
  });

  test('outcomes recorded while the bus is down reach payments.outcomes once it is back', async () => {
    const keys = paymentKeys(prefix);
    const retry = { baseMs: 20, maxMs: 300 };
    const publisher = createRedisStreamsBus({ redisUrl: busServer.url, logger: silentLogger, clientId: 'relay', retry });
    const relay = await startOutboxRelay({ redis, prefix, bus: publisher, consumer: 'relay-1', logger: silentLogger, claimIdleMs: 500, blockMs: 200 });
    await busServer.stop();

    const queue = createQueue(redis, prefix);
    const worker = await inProcessWorker({ redis, prefix, processor: simulated(redis, prefix, 'success=0.5,insufficient_funds=0.3,declined=0.2') });
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push((await queue.enqueue({ payer_id: `p${i % 5}`, recipient_id: 'r', amount: 10 + i, currency: 'SEK' })).trackingId);
    await until(async () => (await redis.zcard(keys.open)) === 0, 10_000, 'all final');
    await worker.stop();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await redis.xlen(keys.outbox), 50, 'every outcome waits in the outbox');

    await busServer.start();
    const consumer = createRedisStreamsBus({ redisUrl: busServer.url, logger: silentLogger, clientId: 'consumer', leaseMs: 2000, blockMs: 200, retry });
    const received = new Map<string, OutcomeMessage[]>();
    const sub = await consumer.subscribe({ group: 'outbox-test', topics: [OUTCOMES_TOPIC], handler: async (m: BusMessage) => void received.set(m.id, [...(received.get(m.id) ?? []), m.value as OutcomeMessage]) });
    await until(async () => received.size === 50 && (await redis.xlen(keys.outbox)) === 0, 30_000, 'outcomes relayed');
    await relay.stop();
    await sub.close();

    for (const id of ids) {
      const [m] = received.get(id)!;
      const p = await redis.hgetall(keys.payment(id));
      assert.equal(m!.tracking_id, id);
      assert.equal(m!.status, p.status);
      assert.equal(m!.payer_id, p.payer_id);
      assert.equal(m!.amount, Number(p.amount));
      assert.equal(m!.currency, 'SEK');
      assert.equal(m!.processed_at, new Date(Number(p.processed_at)).toISOString());
      assert.ok(m!.txn_id);
    }
    await consumer.close();
    await publisher.close();
  });
});
