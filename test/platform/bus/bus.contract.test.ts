// One contract for every bus engine, run unchanged against each on its real server
// (see test/support/bus-engines.ts for how the engines and servers are chosen).
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Bus, BusMessage, Subscription } from '../../../src/platform/bus/index.ts';
import { selectedEngines, startEngine, uniqueName, type BusEngine } from '../../support/bus-engines.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `ready()` holds; fails with `what` after `timeoutMs` so a broken engine cannot hang the run. */
async function waitFor(what: string, ready: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function within<T>(what: string, promise: Promise<T>, timeoutMs = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Per-key order under at-least-once: a message's handler may start only once every earlier
 * message of its key (seq 1..n-1) has been handled successfully at least once. Redeliveries of
 * earlier messages are allowed; skipping ahead or overtaking is a violation.
 */
function orderChecker() {
  const done = new Map<string, Set<number>>();
  const prefix = new Map<string, number>();
  const violations: string[] = [];
  return {
    violations,
    start(key: string, seq: number) {
      const contiguous = prefix.get(key) ?? 0;
      if (seq > contiguous + 1) violations.push(`key ${key}: seq ${seq} started before seq ${contiguous + 1} was handled`);
    },
    complete(key: string, seq: number) {
      const set = done.get(key) ?? new Set<number>();
      done.set(key, set);
      set.add(seq);
      let n = prefix.get(key) ?? 0;
      while (set.has(n + 1)) n++;
      prefix.set(key, n);
    },
  };
}

/** Publishes, retrying while the server is away; the id stays the same so redelivery is dedupable. */
async function publishWithRetry(bus: Bus, topic: string, key: string, value: unknown, id: string, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await bus.publish(topic, key, value, { id });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

interface Child {
  ready: Promise<void>;
  handling: Promise<BusMessage>;
  kill(): Promise<void>;
}

function startConsumerChild(engine: BusEngine, group: string, topic: string): Child {
  const path = fileURLToPath(new URL('../../support/bus-consumer-child.ts', import.meta.url));
  const child = fork(path, [], {
    execArgv: [],
    env: { ...process.env, BUS_CHILD_CONFIG: JSON.stringify({ bus: engine.config(uniqueName('child')), group, topic }) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  const fromChild = (type: string) =>
    new Promise<unknown>((resolve, reject) => {
      child.on('message', (m: { type: string; message?: unknown }) => m.type === type && resolve(m.message));
      void exited.then(() => reject(new Error(`consumer child exited before "${type}"`)));
    });
  const ready = fromChild('ready') as Promise<void>;
  const handling = fromChild('handling') as Promise<BusMessage>;
  ready.catch(() => {});
  handling.catch(() => {});
  return {
    ready,
    handling,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

for (const engineName of selectedEngines()) {
  describe(`bus contract: ${engineName}`, { timeout: 600_000 }, () => {
    // Every test awaits the engine, so a server that cannot be reached fails each test with the
    // reason (instead of the runner reporting them as cancelled).
    let started: Promise<BusEngine>;
    before(() => {
      started = startEngine(engineName);
      started.catch(() => {});
    });
    after(async () => {
      await (await started.catch(() => undefined))?.teardown();
    });
    const contract = (name: string, timeout: number, body: (engine: BusEngine, t: TestContext) => Promise<void>) =>
      test(name, { timeout }, async (t) => body(await started, t));

    contract('round trip keeps id, key, value and publish time; earlier messages reach a new group', 120_000, async (engine) => {
      const bus = engine.newBus('roundtrip');
      const topic = uniqueName('roundtrip');
      const sentFrom = Date.now();
      const early = await bus.publish(topic, 'customer-0', { early: true });
      const got: BusMessage[] = [];
      await bus.subscribe({ group: uniqueName('g'), topics: [topic], handler: async (m) => void got.push(m) });
      const fixed = await bus.publish(topic, 'customer-1', { amount: 1250, currency: 'usd', tags: ['a', 'b'], nested: { ok: true } }, { id: 'evt-fixed-1' });
      const generated = await bus.publish(topic, 'customer-2', 'plain string');
      const sentTo = Date.now();

      assert.equal(fixed, 'evt-fixed-1');
      assert.match(generated, /^[0-9a-f-]{36}$/);
      await waitFor('3 messages', () => got.length >= 3);
      const byId = new Map(got.map((m) => [m.id, m]));
      for (const [id, key, value] of [
        [early, 'customer-0', { early: true }],
        [fixed, 'customer-1', { amount: 1250, currency: 'usd', tags: ['a', 'b'], nested: { ok: true } }],
        [generated, 'customer-2', 'plain string'],
      ] as const) {
        const m = byId.get(id);
        assert.ok(m, `message ${id} delivered`);
        assert.deepEqual({ id: m.id, topic: m.topic, key: m.key, value: m.value, deliveryCount: m.deliveryCount }, { id, topic, key, value, deliveryCount: 1 });
        assert.ok(m.publishedAt >= sentFrom && m.publishedAt <= sentTo, `publishedAt ${m.publishedAt} within [${sentFrom}, ${sentTo}]`);
      }
      assert.equal(got.length, 3, 'each message delivered once');
    });

    contract('per-key order holds with several consumers in one group and many keys', 180_000, async (engine) => {
      const topic = uniqueName('order');
      const group = uniqueName('g');
      const publisher = engine.newBus('order-pub');
      const checker = orderChecker();
      const handledBy = new Map<string, Set<string>>(); // id -> consumers
      for (const consumer of ['c1', 'c2', 'c3']) {
        await engine.newBus(`order-${consumer}`).subscribe({
          group,
          topics: [topic],
          handler: async (m) => {
            const { seq } = m.value as { seq: number };
            checker.start(m.key, seq);
            // Slow enough that partitions move while their entries are in flight.
            await sleep(10);
            checker.complete(m.key, seq);
            handledBy.set(m.id, (handledBy.get(m.id) ?? new Set()).add(consumer));
          },
        });
      }
      const keys = Array.from({ length: 20 }, (_, i) => `acct-${i}`);
      const published: string[] = [];
      let seq = 0;
      // A burst of consecutive messages per key (keys in parallel), so reads hold several of a key.
      const round = async (burst: number) => {
        const first = seq + 1;
        seq += burst;
        const ids = await Promise.all(
          keys.map(async (key) => {
            const out: string[] = [];
            for (let s = first; s <= seq; s++) out.push(await publisher.publish(topic, key, { seq: s }));
            return out;
          }),
        );
        published.push(...ids.flat());
      };
      // Wave 1: consumers join and partitions move while messages flow (paced over a few seconds).
      for (let i = 0; i < 8; i++) {
        await round(3);
        await sleep(200);
      }
      await waitFor('wave 1 handled', () => published.every((id) => handledBy.has(id)), 60_000);
      // Wave 2: once balanced, the group shares the work.
      const wave2Start = published.length;
      const consumersInWave2 = () => new Set(published.slice(wave2Start).flatMap((id) => [...(handledBy.get(id) ?? [])]));
      const deadline = Date.now() + 60_000;
      while (consumersInWave2().size < 2 && Date.now() < deadline) {
        await round(2);
        await sleep(100);
      }
      await waitFor('wave 2 handled', () => published.every((id) => handledBy.has(id)), 90_000);

      assert.deepEqual(checker.violations, []);
      assert.ok(consumersInWave2().size >= 2, `work shared by several consumers (saw ${[...consumersInWave2()].join(', ')})`);
    });

    contract('two groups each get every message', 120_000, async (engine) => {
      const topic = uniqueName('fanout');
      const publisher = engine.newBus('fanout-pub');
      const seen = { a: new Set<string>(), b: new Set<string>() };
      for (const g of ['a', 'b'] as const) {
        await engine.newBus(`fanout-${g}`).subscribe({ group: uniqueName(`g${g}`), topics: [topic], handler: async (m) => void seen[g].add(m.id) });
      }
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push(await publisher.publish(topic, `k${i % 8}`, { i }));
      await waitFor('both groups to get all 40', () => ids.every((id) => seen.a.has(id) && seen.b.has(id)));
      assert.deepEqual([...seen.a].sort(), [...ids].sort());
      assert.deepEqual([...seen.b].sort(), [...ids].sort());
    });

    contract('a consumer killed -9 mid-handler: the message is delivered again, same id, to another consumer', 180_000, async (engine) => {
      const topic = uniqueName('kill');
      const group = uniqueName('g');
      const publisher = engine.newBus('kill-pub');
      const child = startConsumerChild(engine, group, topic);
      try {
        await within('child consumer ready', child.ready);
        const first = await publisher.publish(topic, 'acct-1', { step: 1 });
        const second = await publisher.publish(topic, 'acct-1', { step: 2 });
        const inside = await within('child inside the handler', child.handling);
        assert.equal(inside.id, first);
        await child.kill();

        const got: BusMessage[] = [];
        await engine.newBus('kill-survivor').subscribe({ group, topics: [topic], handler: async (m) => void got.push(m) });
        await waitFor('both messages at the survivor', () => got.some((m) => m.id === second), 90_000);
        const again = got.find((m) => m.id === first);
        assert.ok(again, 'the message the dead consumer was handling is delivered again');
        assert.deepEqual(again.value, { step: 1 });
        assert.ok(got.indexOf(again) < got.findIndex((m) => m.id === second), 'still before the next message of its key');
        if (engine.exactDeliveryCount) assert.ok(again.deliveryCount >= 2, `deliveryCount ${again.deliveryCount} counts the first delivery`);
      } finally {
        await child.kill();
      }
    });

    contract('a handler that throws is retried with the same message, and the key waits for it', 120_000, async (engine) => {
      const bus = engine.newBus('retry');
      const topic = uniqueName('retry');
      const events: string[] = [];
      const counts: number[] = [];
      const failing = uniqueName('charge');
      await bus.subscribe({
        group: uniqueName('g'),
        topics: [topic],
        handler: async (m) => {
          if (m.id === failing) {
            counts.push(m.deliveryCount);
            if (counts.length < 3) {
              events.push('fail');
              throw new Error('transient failure');
            }
          }
          events.push((m.value as { name: string }).name);
        },
      });
      await bus.publish(topic, 'acct-9', { name: 'charge' }, { id: failing });
      await bus.publish(topic, 'acct-9', { name: 'refund' });
      await waitFor('both messages handled', () => events.includes('refund'));
      assert.deepEqual(events, ['fail', 'fail', 'charge', 'refund']);
      assert.deepEqual(counts, [1, 2, 3]);
    });

    contract('a batch handler gets runs of a partition in order, at most maxBatch long; a throw retries the same run', 120_000, async (engine) => {
      const bus = engine.newBus('batch');
      const topic = uniqueName('batch');
      const keys = ['acct-a', 'acct-b', 'acct-c'];
      const perKey = 100;
      // A backlog, so the engine has more than one message of a partition at hand.
      for (let seq = 1; seq <= perKey; seq++) {
        await Promise.all(keys.map((key) => bus.publish(topic, key, { seq }, { id: `${key}-${seq}` })));
      }
      const order = orderChecker();
      const sizes: number[] = [];
      const handled = new Map<string, number>();
      let failedRun: string[] | undefined;
      let retriedRun: { ids: string[]; deliveryCounts: number[] } | undefined;
      await bus.subscribe({
        group: uniqueName('g'),
        topics: [topic],
        maxBatch: 40,
        batchHandler: async (messages) => {
          const ids = messages.map((m) => m.id);
          if (failedRun && !retriedRun && ids[0] === failedRun[0]) retriedRun = { ids, deliveryCounts: messages.map((m) => m.deliveryCount) };
          // A run is handled in its order (a failed run's skipping is caught by the retry check).
          for (const m of messages) {
            order.start(m.key, (m.value as { seq: number }).seq);
            order.complete(m.key, (m.value as { seq: number }).seq);
          }
          if (!failedRun && ids.includes('acct-b-50')) {
            failedRun = ids;
            throw new Error('transient failure');
          }
          sizes.push(messages.length);
          for (const m of messages) handled.set(m.id, (handled.get(m.id) ?? 0) + 1);
        },
      });
      await waitFor('every message handled', () => handled.size === keys.length * perKey);
      assert.deepEqual(order.violations, []);
      assert.ok(Math.max(...sizes) <= 40, `runs of at most maxBatch, got ${Math.max(...sizes)}`);
      assert.ok(Math.max(...sizes) > 1, 'a backlog is handed over in runs, not one message at a time');
      assert.deepEqual(retriedRun?.ids, failedRun, 'the failed run comes again, whole and in order');
      assert.ok(retriedRun?.deliveryCounts.every((n) => n >= 2));
      assert.deepEqual([...handled.values()].filter((n) => n !== 1), [], 'each message acknowledged once its run succeeds');
    });

    contract('partitions are handled concurrently: a handler stuck on one key does not hold up keys of other partitions', 120_000, async (engine) => {
      const bus = engine.newBus('lanes');
      const topic = uniqueName('lanes');
      const stuckKey = 'acct-stuck';
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const handled: string[] = [];
      await bus.subscribe({
        group: uniqueName('g'),
        topics: [topic],
        handler: async (m) => {
          if (m.key === stuckKey) await released;
          handled.push(m.key);
        },
      });
      await bus.publish(topic, stuckKey, { stuck: true });
      // Of these, 15 (Kafka's murmur2) or 17 (the Redis engine's FNV-1a) hash to another of the
      // topic's 4 partitions than the stuck key; the rest wait behind it.
      const others = Array.from({ length: 24 }, (_, i) => `acct-${i}`);
      for (const key of others) await bus.publish(topic, key, { stuck: false });
      try {
        await waitFor('messages of other partitions handled while one key is stuck', () => handled.length >= 12);
        assert.ok(!handled.includes(stuckKey));
      } finally {
        release();
      }
      await waitFor('every message handled once released', () => handled.length === others.length + 1);
    });

    contract('no message lost and order kept across a server restart while publishing and consuming', 300_000, async (engine, t) => {
      if (!engine.restart) {
        t.skip(`${engine.name}: KAFKA_BROKERS points at a broker this run does not manage, so it cannot be restarted`);
        return;
      }
      const topic = uniqueName('restart');
      const group = uniqueName('g');
      const publisher = engine.newBus('restart-pub');
      const checker = orderChecker();
      const handled = new Set<string>();
      for (const consumer of ['c1', 'c2']) {
        await engine.newBus(`restart-${consumer}`).subscribe({
          group,
          topics: [topic],
          handler: async (m) => {
            const { seq } = m.value as { seq: number };
            checker.start(m.key, seq);
            checker.complete(m.key, seq);
            handled.add(m.id);
          },
        });
      }
      const keys = Array.from({ length: 8 }, (_, i) => `acct-${i}`);
      const perKey = 40;
      const acknowledged: string[] = [];
      const publishing = Promise.all(
        keys.map(async (key) => {
          for (let seq = 1; seq <= perKey; seq++) {
            acknowledged.push(await publishWithRetry(publisher, topic, key, { seq }, `${topic}-${key}-${seq}`));
            await sleep(25);
          }
        }),
      );
      await waitFor('a third published and some handled', () => acknowledged.length >= (keys.length * perKey) / 3 && handled.size > 0);
      await within('server restart', engine.restart(), 120_000);
      await within('publishing after the restart', publishing, 180_000);
      await waitFor('every acknowledged message handled', () => acknowledged.every((id) => handled.has(id)), 180_000);

      assert.equal(acknowledged.length, keys.length * perKey);
      assert.deepEqual(checker.violations, []);
    });

    contract('close() lets the in-flight handler finish and leaves the rest for the group', 120_000, async (engine) => {
      const topic = uniqueName('close');
      const group = uniqueName('g');
      const publisher = engine.newBus('close-pub');
      const first: number[] = [];
      let closed: Promise<void> | undefined;
      const sub: Subscription = await engine.newBus('close-a').subscribe({
        group,
        topics: [topic],
        handler: async (m) => {
          const { seq } = m.value as { seq: number };
          first.push(seq);
          // Close from inside the third handler: it must still complete and be acknowledged.
          if (seq === 3) closed = sub.close();
        },
      });
      for (let seq = 1; seq <= 10; seq++) await publisher.publish(topic, 'acct-1', { seq });
      await waitFor('close() called', () => closed !== undefined);
      await within('close()', closed!);

      const later: number[] = [];
      await engine.newBus('close-b').subscribe({ group, topics: [topic], handler: async (m) => void later.push((m.value as { seq: number }).seq) });
      await waitFor('the rest handled by the next consumer', () => later.includes(10));
      assert.deepEqual(first, [1, 2, 3], 'nothing handled after close()');
      assert.deepEqual(later, [4, 5, 6, 7, 8, 9, 10], 'handled messages are not redelivered, the rest is');
    });
  });
}
