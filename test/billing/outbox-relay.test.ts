// The transactional outbox and its relay on the real database and bus (Redis Streams engine):
// every change is published in id order per key, once per relay holding the lock, and a relay
// killed with SIGKILL mid-stream loses nothing after a restart (duplicates only as redeliveries of
// the same event id).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { billingRecordEventSchema, BILLING_RECORDS_TOPIC } from '../../src/billing/client/events.ts';
import { startOutboxRelay } from '../../src/billing/outbox-relay.ts';
import { createRecord, updateRecord } from '../../src/billing/records-writer.ts';
import { createBus, type Bus, type BusMessage } from '../../src/platform/bus/index.ts';
import type { Sql } from '../../src/platform/db.ts';
import { testDatabaseUrl, testSql } from '../support/database.ts';
import { redisUrl, waitFor } from '../support/wait-for.ts';
import { logger, recordInput, unique } from './support/billing.ts';

const { NODE_TEST_CONTEXT: _, ...baseEnv } = process.env;
const cli = fileURLToPath(new URL('./support/cli.ts', import.meta.url));

let sql: Sql;
const buses: Bus[] = [];

before(async () => {
  sql = testSql();
  // Other test files leave unpublished rows (no relay runs there): this file's relays start clean.
  await sql`update billing.outbox set published_at = now() where published_at is null`;
});

after(async () => {
  await Promise.allSettled(buses.map((b) => b.close()));
  await sql.end();
});

function newBus(prefix: string): Bus {
  const bus = createBus({ redisUrl: redisUrl(), prefix, logger, clientId: unique('billing-test-'), redis: { leaseMs: 2000, blockMs: 200 } });
  buses.push(bus);
  return bus;
}

async function collect(bus: Bus): Promise<BusMessage[]> {
  const received: BusMessage[] = [];
  await bus.subscribe({ group: unique('g'), topics: [BILLING_RECORDS_TOPIC], handler: async (m) => void received.push(m) });
  return received;
}

/** Writes `n` changes over `products`: creates, then updates of some of them. Returns their outbox rows. */
async function writeChanges(products: string[], n: number): Promise<Array<{ event_id: string; key: string }>> {
  const [start] = await sql<{ id: string }[]>`select coalesce(max(id), 0) as id from billing.outbox`;
  const gids: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 4 === 3) await updateRecord(sql, gids[gids.length - 2]!, { amount: i });
    else gids.push((await createRecord(sql, recordInput(products[i % products.length]!, { amount: i }))).record.gid);
  }
  return sql<Array<{ event_id: string; key: string }>>`select event_id, key from billing.outbox where id > ${start!.id} order by id`;
}

/** Per key: event ids in the order first received must equal the outbox order; every message is valid. */
function assertOrderedAndComplete(expected: Array<{ event_id: string; key: string }>, received: BusMessage[]) {
  const wanted = new Set(expected.map((e) => e.event_id));
  const firstSeen = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const m of received) {
    if (!wanted.has(m.id)) continue;
    const event = billingRecordEventSchema.parse(m.value);
    assert.equal(event.id, m.id, 'the message id is the event id');
    assert.equal(event.record.product_gid, m.key, 'the key is the product gid');
    if (seen.has(m.id)) continue;
    seen.add(m.id);
    firstSeen.set(m.key, [...(firstSeen.get(m.key) ?? []), m.id]);
  }
  assert.equal(seen.size, wanted.size, `${wanted.size - seen.size} events never arrived`);
  for (const key of new Set(expected.map((e) => e.key))) {
    assert.deepEqual(firstSeen.get(key), expected.filter((e) => e.key === key).map((e) => e.event_id), `order of ${key}`);
  }
}

describe('billing relay', () => {
  test('publishes every change in order per key; with two relays only the lock holder publishes', async () => {
    const prefix = `${unique('billingtest')}:`;
    const received = await collect(newBus(prefix));
    const relays = [
      await startOutboxRelay({ sql, bus: newBus(prefix), logger, batchSize: 7, pollIntervalMs: 200 }),
      await startOutboxRelay({ sql, bus: newBus(prefix), logger, batchSize: 7, pollIntervalMs: 200 }),
    ];
    try {
      const products = [unique('gid://test/Product/o'), unique('gid://test/Product/o')];
      const expected = await writeChanges(products, 40);
      await waitFor('every event on the bus', async () => new Set(received.map((m) => m.id)).size >= expected.length);
      assertOrderedAndComplete(expected, received);
      assert.equal(received.length, expected.length, 'no duplicates while both relays are healthy');
      const [left] = await sql<{ n: number }[]>`select count(*)::int as n from billing.outbox where event_id = any(${expected.map((e) => e.event_id)}::uuid[]) and published_at is null`;
      assert.equal(left!.n, 0);
    } finally {
      for (const r of relays) await r.stop();
    }
  });

  test('idempotency keys older than their retention are pruned: a later repeat creates anew, a recent one still replays', async () => {
    const scope = unique('scope');
    const product = unique('gid://test/Product/i');
    const oldKey = { scope, key: unique('old') };
    const newKey = { scope, key: unique('new') };
    const first = (await createRecord(sql, recordInput(product), oldKey)).record;
    await createRecord(sql, recordInput(product), newKey);
    await sql`update billing.idempotency_keys set created_at = now() - interval '25 hours' where client_scope = ${scope} and key = ${oldKey.key}`;
    const relay = await startOutboxRelay({ sql, bus: newBus(`${unique('billingtest')}:`), logger, pollIntervalMs: 100, pruneIntervalMs: 100 });
    try {
      await waitFor('the old key to be pruned', async () => {
        const [row] = await sql<{ n: number }[]>`select count(*)::int as n from billing.idempotency_keys where client_scope = ${scope} and key = ${oldKey.key}`;
        return row!.n === 0;
      });
    } finally {
      await relay.stop();
    }
    const again = await createRecord(sql, recordInput(product), oldKey);
    assert.equal(again.replayed, false);
    assert.notEqual(again.record.gid, first.gid, 'a new record: the key was forgotten after 24 h');
    assert.equal((await createRecord(sql, recordInput(product), newKey)).replayed, true, 'a key within its 24 h still replays');
  });

  test('a relay killed with SIGKILL mid-stream loses nothing after a restart', async () => {
    const prefix = `${unique('billingtest')}:`;
    const received = await collect(newBus(prefix));
    const products = [unique('gid://test/Product/k'), unique('gid://test/Product/k'), unique('gid://test/Product/k')];
    const expected = await writeChanges(products, 240);
    const env = {
      ...baseEnv,
      DATABASE_URL: testDatabaseUrl(),
      REDIS_URL: redisUrl(),
      KAFKA_BROKERS: '',
      BUS_PREFIX: prefix,
      BILLING_RELAY_BATCH: '5',
      BILLING_RELAY_POLL: '200ms',
      LOG_LEVEL: process.env.CHILD_LOG_LEVEL ?? 'warn',
    };
    const startRelay = () => spawn(process.execPath, [cli, 'billing', 'relay'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    let child: ChildProcess = startRelay();
    try {
      await waitFor('the relay to be mid-stream', async () => received.length >= 20);
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      const before = new Set(received.map((m) => m.id)).size;
      assert.ok(before < expected.length, `the relay finished (${before}) before it could be killed`);
      child = startRelay();
      await waitFor('every event after the restart', async () => new Set(received.map((m) => m.id)).size >= expected.length, 60_000);
      assertOrderedAndComplete(expected, received);
    } finally {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});
