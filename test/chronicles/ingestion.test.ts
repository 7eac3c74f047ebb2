// Bus → consumer → BullMQ → worker → Postgres, on the real Redis (Redis Streams bus) and
// Postgres: valid, malformed and oversized messages, duplicates, and the mapped topics.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Queue } from 'bullmq';
import { startIngestConsumer, type IngestConsumer } from '../../src/chronicles/ingest-consumer.ts';
import { startIngestWorker, toWritePart, type IngestWorker } from '../../src/chronicles/ingest-worker.ts';
import { sequenceCodeFor } from '../../src/chronicles/message-mappings.ts';
import { ingestQueue, queueConnection, type IngestJobData } from '../../src/chronicles/queues.ts';
import { createBus, type Bus } from '../../src/platform/bus/index.ts';
import type { Sql } from '../../src/platform/db.ts';
import { testSql } from '../support/database.ts';
import { redisUrl, waitFor } from '../support/wait-for.ts';
import { billingEvent, countEntries, deleteRedisKeys, entryValue, logger, newWriter, paymentOutcome, rawMessage, unique } from './support/chronicles.ts';

const MAX_BYTES = 4096;

describe('ingestion from the bus', () => {
  let sql: Sql;
  let bus: Bus;
  let queue: Queue<IngestJobData>;
  let consumer: IngestConsumer;
  let worker: IngestWorker;
  const busPrefix = `${unique('chrtest')}:`;
  const queuePrefix = unique('chrq');

  before(async () => {
    sql = testSql(8);
    bus = createBus({ redisUrl: redisUrl(), prefix: busPrefix, logger, clientId: 'chronicles-test', partitions: 4, retry: { baseMs: 20, maxMs: 200 }, redis: { leaseMs: 2000, blockMs: 200 } });
    queue = ingestQueue(queueConnection(redisUrl(), 'chronicles-test'), queuePrefix);
    consumer = await startIngestConsumer({
      bus,
      queue,
      group: 'chronicles',
      topics: ['chronicles.entries', 'payments.outcomes', 'billing.records'],
      maxJobEntries: 50,
      maxMessageBytes: MAX_BYTES,
      logger,
    });
    worker = await startIngestWorker({
      sql,
      connection: queueConnection(redisUrl(), 'chronicles-test-worker'),
      prefix: queuePrefix,
      logger,
      concurrency: 8,
      maxBatchRows: 1000,
      lockDuration: 5000,
      stalledInterval: 2000,
      maxMessageBytes: MAX_BYTES,
      ruleCacheTtl: 0,
      maintenance: false,
    });
  });

  after(async () => {
    await consumer?.close();
    await worker?.close();
    await queue?.close();
    await bus?.close();
    await sql?.end();
    await deleteRedisKeys(busPrefix, queuePrefix);
  });

  const deadLettersOf = (ids: string[]) =>
    sql<{ message_id: string; reason: string; raw: string }[]>`select message_id, reason, raw from chronicles.dead_letters where message_id = any(${ids}::text[])`;

  test('valid messages become rows; malformed and oversized ones become dead letters and the consumer keeps going', async () => {
    const app = unique('ing');
    const ids: Record<string, string> = { notObject: randomUUID(), missing: randomUUID(), oversize: randomUUID(), badTime: randomUUID() };
    for (let i = 0; i < 20; i++) await bus.publish('chronicles.entries', `k${i}`, entryValue(app, { subject_gid: `gid://plat/Job/${i}` }));
    await bus.publish('chronicles.entries', 'bad', 'just a string', { id: ids.notObject });
    await bus.publish('chronicles.entries', 'bad', { app, subject_type: 'Job' }, { id: ids.missing });
    await bus.publish('chronicles.entries', 'bad', entryValue(app, { payload: { blob: 'x'.repeat(MAX_BYTES) } }), { id: ids.oversize });
    await bus.publish('chronicles.entries', 'bad', entryValue(app, { occurred_at: 'soon' }), { id: ids.badTime });
    // Published after the bad ones on the same key: they are handled only if the consumer went on.
    for (let i = 0; i < 10; i++) await bus.publish('chronicles.entries', 'bad', entryValue(app, { subject_gid: `gid://plat/Job/after-${i}` }));

    await waitFor('30 entries', async () => (await countEntries(sql, app)) === 30);
    const dead = await waitFor('4 dead letters', async () => {
      const rows = await deadLettersOf(Object.values(ids));
      return rows.length === 4 ? rows : undefined;
    });
    const reason = (id: string) => dead.find((d) => d.message_id === id)!;
    assert.match(reason(ids.notObject!).reason, /expected object/);
    assert.equal(reason(ids.notObject!).raw, '"just a string"');
    assert.match(reason(ids.missing!).reason, /sequence_code[^]*subject_gid[^]*action_name[^]*occurred_at/);
    assert.match(reason(ids.oversize!).reason, /^message is \d+ bytes, over the limit$/);
    assert.ok(reason(ids.oversize!).raw.length <= 1024, 'an oversize message keeps only its head');
    assert.match(reason(ids.badTime!).reason, /occurred_at/);
    // Redelivery of a dead letter does not add a second row.
    await bus.publish('chronicles.entries', 'bad', 'just a string', { id: ids.notObject });
    await bus.publish('chronicles.entries', 'bad', entryValue(app, { subject_gid: 'gid://plat/Job/sentinel' }));
    await waitFor('the sentinel', async () => (await countEntries(sql, app)) === 31);
    assert.equal((await deadLettersOf([ids.notObject!])).length, 1);
  });

  test('a repeated sequence_code is ingested once: in one batch, in later batches, in another month', async () => {
    const app = unique('dup');
    const code = randomUUID();
    const first = entryValue(app, { sequence_code: code, occurred_at: '2025-03-10T10:00:00.000Z', action_name: 'first' });
    // Same batch: one message carrying the entry three times, plus a distinct one.
    await bus.publish('chronicles.entries', 'dup', { entries: [first, { ...first, action_name: 'second' }, first, entryValue(app)] });
    await waitFor('2 entries', async () => (await countEntries(sql, app)) === 2);
    // Later batches: the same entry again, and with occurred_at in other months (other partitions).
    await bus.publish('chronicles.entries', 'dup', first);
    await bus.publish('chronicles.entries', 'dup', { ...first, occurred_at: '2025-07-01T00:00:00.000Z', action_name: 'third' });
    await bus.publish('chronicles.entries', 'dup2', { ...first, occurred_at: new Date().toISOString(), action_name: 'fourth' });
    await bus.publish('chronicles.entries', 'dup', entryValue(app, { action_name: 'sentinel' }));
    await bus.publish('chronicles.entries', 'dup2', entryValue(app, { action_name: 'sentinel' }));
    await waitFor('the sentinels', async () => (await countEntries(sql, app)) === 4);
    const rows = await sql<{ action_name: string; occurred_at: Date }[]>`select action_name, occurred_at from chronicles.entries where sequence_code = ${code}`;
    assert.deepEqual(rows.map((r) => [r.action_name, r.occurred_at.toISOString()]), [['first', '2025-03-10T10:00:00.000Z']]);
    const [codes] = await sql<{ n: number }[]>`select count(*)::int as n from chronicles.sequence_codes where sequence_code = ${code}`;
    assert.equal(codes!.n, 1);
  });

  test('concurrent writers with overlapping duplicates (in opposite orders) write each entry once', async () => {
    const app = unique('race');
    const values = Array.from({ length: 200 }, (_, i) => entryValue(app, { subject_gid: `gid://plat/Job/${i}` }));
    const writers = [newWriter(sql), newWriter(sql), newWriter(sql)];
    const results = await Promise.all(
      writers.map((w, i) => {
        const mine = i === 1 ? [...values].reverse() : values.slice(i * 50);
        return w.write(toWritePart(mine.map((v) => rawMessage(v)), { maxMessageBytes: MAX_BYTES }));
      }),
    );
    assert.equal(await countEntries(sql, app), 200);
    assert.equal(results.reduce((n, r) => n + r.inserted, 0), 200);
  });

  test('payments.outcomes and billing.records are mapped; a redelivered outcome is one entry', async () => {
    const tracking = unique('trk');
    const record = `gid://billing/BillingRecord/${unique('r')}`;
    const outcome = paymentOutcome(tracking, { processed_at: new Date().toISOString() });
    await bus.publish('payments.outcomes', tracking, outcome, { id: tracking });
    await bus.publish('payments.outcomes', tracking, outcome, { id: tracking });
    const event = billingEvent(record, { status: 'paid', amount: 10 });
    event.occurred_at = new Date().toISOString();
    await bus.publish('billing.records', event.record.product_gid, event, { id: event.id });
    const code = sequenceCodeFor('payments.outcomes', tracking);
    const payment = await waitFor('the payment entry', async () => {
      const rows = await sql<{ subject_gid: string; action_name: string; payload: Record<string, unknown> }[]>`
        select subject_gid, action_name, payload from chronicles.entries where sequence_code = ${code}`;
      return rows.length ? rows : undefined;
    });
    assert.deepEqual(payment.map((r) => [r.subject_gid, r.action_name, r.payload.amount]), [[`gid://ledgerline/Payment/${tracking}`, 'payment.succeeded', 1250]]);
    const billing = await waitFor('the billing entry', async () => {
      const rows = await sql<{ action_name: string; app: string }[]>`select app, action_name from chronicles.entries where subject_gid = ${record}`;
      return rows.length ? rows : undefined;
    });
    assert.deepEqual([...billing], [{ app: 'billing', action_name: 'billing_record.updated' }]);
    // The second delivery of the outcome arrived too, and added nothing.
    await sleepUntilQueueEmpty(queue);
    const [{ n }] = (await sql`select count(*)::int as n from chronicles.entries where sequence_code = ${code}`) as unknown as [{ n: number }];
    assert.equal(n, 1);
  });
});

async function sleepUntilQueueEmpty(queue: Queue): Promise<void> {
  await waitFor('an empty ingest queue', async () => {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed');
    return Object.values(counts).every((n) => n === 0);
  });
}
