// The pieces around requests: the sliding-window limiter shared by processes (two real child
// processes on the real Redis), the jittered scheduler, and the last-record cache fed by a real
// billing.records bus message.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { BILLING_RECORDS_TOPIC, billingRecordEventSchema, createBillingClient, createLastRecordCache, jitteredDelayMs, planSpread, scheduleJittered, type BillingRecordEvent } from '../../../src/billing/client/index.ts';
import { createBus, type Bus } from '../../../src/platform/bus/index.ts';
import { createLogger } from '../../../src/platform/log.ts';
import { Registry } from '../../../src/platform/metrics.ts';
import { redisUrl } from '../../support/wait-for.ts';
import { eventually, metricCount, seedFixture, type Fixture } from './support/harness.ts';

describe('shared limiter', () => {
  test('two processes sharing a 4/s limiter draw on one budget: 16 slots take at least 3 s, not 1', async () => {
    const perSecond = 4;
    const count = 8;
    const env = { ...process.env, REDIS_URL: redisUrl(), LIMITER_NAME: `test-${randomBytes(4).toString('hex')}`, PER_SECOND: String(perSecond), COUNT: String(count) };
    const child = fileURLToPath(new URL('./support/limiter-child.ts', import.meta.url));
    const children = [fork(child, { env }), fork(child, { env })];
    try {
      await Promise.all(children.map((c) => once(c, 'message')));
      const reports = children.map((c) => once(c, 'message').then(([times]) => times as number[]));
      for (const c of children) c.send('go');
      const times = (await Promise.all(reports)).flat().sort((a, b) => a - b);
      assert.equal(times.length, 2 * count);
      // 16 slots at 4 per moving second: the last is at least 3 s after the first (each slot is
      // reused once a second). Two independent 4/s limiters would finish in about 1 s. Only a
      // lower bound is asserted, which a slow machine cannot break; 2.5 s leaves room for the
      // time between Redis granting a slot and the child reading its clock.
      const span = times.at(-1)! - times[0]!;
      assert.ok(span >= 2500, `16 slots took ${span} ms`);
    } finally {
      for (const c of children) c.kill();
    }
  });
});

describe('jittered scheduler', () => {
  test('jobs due together start spread over the window around their due time', async () => {
    const due = Date.now();
    assert.equal(jitteredDelayMs(due, 120_000, due, () => 0), 0, 'the earliest start is half a window early, which has no delay once due');
    assert.equal(jitteredDelayMs(due + 60_000, 120_000, due, () => 0), 0);
    assert.equal(jitteredDelayMs(due + 60_000, 120_000, due, () => 0.5), 60_000);
    assert.equal(jitteredDelayMs(due + 60_000, 120_000, due, () => 0.999), 119_880);

    const randoms = [0.9, 0.1, 0.5];
    const order: number[] = [];
    const scheduled = scheduleJittered(
      randoms.map((_, i) => ({ dueAt: Date.now() + 30, run: async () => (order.push(i), i) })),
      { windowMs: 60, requestMs: 0, random: () => randoms.shift()! },
    );
    const results = await scheduled.done;
    assert.deepEqual(results.map((r) => r.status === 'fulfilled' && r.value), [0, 1, 2]);
    assert.deepEqual(order, [1, 2, 0], 'started in the order of their jittered times');
  });

  test('starts leave the limiter wait and one request before the window closes, so the last job ends inside it', () => {
    // The Sunday burst: window 16:59–17:01, two processes sharing an 8/s limiter.
    const plan = planSpread({ windowMs: 120_000, limiter: { perSecond: 8, processes: 2 }, requestMs: 250 });
    // Up to 1 - 7/16 s for a slot (both processes' 8 grants can fall within 7/16 s), then 250 ms.
    assert.deepEqual(plan, { spreadMs: 120_000 - 562.5 - 250, drainMs: 812.5, fits: true });
    const due = Date.now() + 60_000;
    const latestStart = due + jitteredDelayMs(due, 120_000, due, () => 0.99999, plan.spreadMs);
    assert.ok(latestStart + plan.drainMs <= due + 60_000, 'the latest start plus its drain is within 17:01');
    assert.ok(latestStart > due + 60_000 - plan.drainMs - 10, 'and the spread uses the rest of the window');

    const scheduled = scheduleJittered([{ dueAt: due, run: async () => 0 }], { windowMs: 120_000, limiter: { perSecond: 8, processes: 2 } });
    scheduled.cancel();
    assert.equal(scheduled.plan.spreadMs, 120_000 - 562.5 - 250, 'the scheduler uses that plan (default request time 250 ms)');
    assert.equal(planSpread({ windowMs: 120_000, limiter: { perSecond: 8 } }).drainMs, 125 + 250, 'one process waits at most its own spacing');
  });

  test('a window too short for the requests at the limiter rate is reported, not hidden', () => {
    assert.equal(planSpread({ windowMs: 2000, limiter: { perSecond: 8, processes: 2 }, requests: 9 }).fits, true, '1.125 s of requests + 0.8125 s drain');
    assert.equal(planSpread({ windowMs: 2000, limiter: { perSecond: 8, processes: 2 }, requests: 10 }).fits, false);
    assert.equal(planSpread({ windowMs: 200, requestMs: 250 }).fits, false);
    assert.equal(planSpread({ windowMs: 200, requestMs: 250 }).spreadMs, 0);
  });

  test('cancel drops jobs that have not started', async () => {
    let ran = 0;
    const scheduled = scheduleJittered([{ dueAt: Date.now() + 60_000, run: async () => ran++ }], { windowMs: 1000 });
    scheduled.cancel();
    const [result] = await scheduled.done;
    assert.equal(result!.status, 'rejected');
    assert.equal(ran, 0);
  });
});

describe('event-fed last-record cache', () => {
  let fx: Fixture;
  let bus: Bus;
  before(async () => {
    fx = await seedFixture(3, 1);
    bus = createBus({ redisUrl: redisUrl(), prefix: `test-${randomBytes(4).toString('hex')}:`, logger: createLogger({ name: 'bus', level: 'silent' }), clientId: 'billing-cache-test' });
  });
  after(async () => {
    await bus.close();
    await fx.close();
  });

  test('a billing.records message moves a cached date forward without asking billing', async () => {
    const registry = new Registry();
    const client = createBillingClient({ sql: fx.sql, methods: { findRecords: 'direct', recordsForProducts: 'direct', lastCreatedAt: 'direct' }, registry });
    const cache = await createLastRecordCache({ client, bus, group: `cache-${process.pid}` });
    try {
      const [gid, other] = fx.products as [string, string];
      const [first, second] = await Promise.all([cache.get(gid), cache.get(other)]);
      assert.deepEqual(first, fx.newest.get(gid));
      assert.deepEqual(second, fx.newest.get(other));
      assert.equal(await metricCount(registry, 'billing_client_request_duration_seconds', {}), 1, 'both misses in one lookup');

      const createdAt = new Date(Date.now() + 1000);
      const event: BillingRecordEvent = {
        id: randomUUID(),
        type: 'billing_record.created',
        occurred_at: createdAt.toISOString(),
        record: {
          id: '1',
          gid: `gid://billing/Record/${randomUUID()}`,
          product_gid: gid,
          client_gid: 'gid://test/Client/1',
          kind: 'invoice',
          status: 'open',
          amount: 500,
          currency: 'usd',
          due_at: null,
          paid_at: null,
          created_at: createdAt.toISOString(),
          updated_at: createdAt.toISOString(),
          stripe_id: null,
        },
      };
      billingRecordEventSchema.parse(event);
      await bus.publish(BILLING_RECORDS_TOPIC, gid, event, { id: event.id });
      // An older record's update must not move the date back.
      const stale = { ...event, id: randomUUID(), type: 'billing_record.updated', record: { ...event.record, product_gid: other, created_at: '2001-01-01T00:00:00.000Z' } };
      await bus.publish(BILLING_RECORDS_TOPIC, other, stale, { id: stale.id });
      await bus.publish(BILLING_RECORDS_TOPIC, gid, { not: 'an event' });

      await eventually(() => cache.peek(gid)?.getTime() === createdAt.getTime(), 'the cache to take the new date');
      assert.deepEqual(await cache.get(gid), createdAt);
      assert.deepEqual(await cache.get(other), fx.newest.get(other));
      assert.equal(await metricCount(registry, 'billing_client_request_duration_seconds', {}), 1, 'no further lookups');
    } finally {
      await cache.close();
    }
  });
});

describe('shared limiter while connecting', () => {
  test('processes that start into a burst wait for Redis rather than each spending a private budget', async () => {
    const { createSlidingWindowLimiter } = await import('../../../src/billing/client/limiter.ts');
    const { createRedis } = await import('../../../src/platform/redis.ts');
    const name = `connect-${randomBytes(4).toString('hex')}`;
    const clients = [createRedis(redisUrl(), { name: 'limiter-a' }), createRedis(redisUrl(), { name: 'limiter-b' })];
    try {
      // Acquired at once, before either connection is ready: 6 slots of a 3/s limiter.
      const limiters = clients.map((redis) => createSlidingWindowLimiter({ redis, perSecond: 3, name }));
      const times = (await Promise.all(limiters.flatMap((l) => [1, 2, 3].map(() => l.acquire().then(() => Date.now()))))).sort((a, b) => a - b);
      // Shared: the last three wait for slots to free (1 s). Each in memory: all six at once.
      assert.ok(times.at(-1)! - times[0]! >= 500, `6 slots of 3/s took ${times.at(-1)! - times[0]!} ms`);
    } finally {
      for (const redis of clients) redis.disconnect();
    }
  });
});
