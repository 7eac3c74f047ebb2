// Shared helpers of the chronicles tests: the test database (migrated by scripts/test or
// `ledgerline migrate`), unique names so files never see each other's rows, message factories,
// and cleanup of the Redis keys a test used.
import type { BillingRecordEvent } from '../../../src/billing/client/events.ts';
import type { PaymentOutcome } from '../../../src/payments/client.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Sql } from '../../../src/platform/db.ts';
import { createLogger } from '../../../src/platform/log.ts';
import { EntryWriter, type EntryWriterOptions } from '../../../src/chronicles/entry-writer.ts';
import { PartitionCache } from '../../../src/chronicles/partitions.ts';
import { RuleCache, TagDirectory } from '../../../src/chronicles/tag-rules.ts';
import type { RawMessage } from '../../../src/chronicles/message-mappings.ts';
import { dropKeys } from '../../support/cleanup.ts';
import { redisUrl } from '../../support/wait-for.ts';

export const logger = createLogger({ name: 'chronicles-test', level: process.env.LOG_LEVEL ?? 'error' });

export const unique = (name: string) => `${name}${randomBytes(4).toString('hex')}`;

/** A valid chronicles.entries message value. */
export function entryValue(app: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sequence_code: randomUUID(),
    app,
    subject_type: 'Job',
    subject_gid: 'gid://plat/Job/1',
    action_name: 'updated',
    performer_gid: 'gid://plat/User/1',
    payload: {},
    occurred_at: new Date().toISOString(),
    ...overrides,
  };
}

let counter = 0;
export function rawMessage(value: unknown, topic = 'chronicles.entries', id = `m-${++counter}-${randomUUID()}`): RawMessage {
  return { topic, id, key: id, publishedAt: Date.now(), value };
}

export function newWriter(sql: Sql, options: Partial<EntryWriterOptions> = {}): EntryWriter {
  return new EntryWriter({
    sql,
    rules: new RuleCache(sql, 0),
    tags: new TagDirectory(sql),
    partitions: new PartitionCache(sql),
    maxBatchRows: 5000,
    ...options,
  });
}

/** Deletes every Redis key under these prefixes (bus streams, BullMQ queues). */
export async function deleteRedisKeys(...prefixes: string[]): Promise<void> {
  const redis = new Redis(redisUrl());
  try {
    await dropKeys(redis, ...prefixes);
  } finally {
    redis.disconnect();
  }
}

export async function countEntries(sql: Sql, app: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from chronicles.entries where app = ${app}`;
  return row!.n;
}

/** A `payments.outcomes` message as payments publishes it (src/payments/client.ts). */
export function paymentOutcome(trackingId: string, overrides: Record<string, unknown> = {}): PaymentOutcome & Record<string, unknown> {
  return {
    tracking_id: trackingId,
    status: 'succeeded',
    payer_id: 'alice',
    recipient_id: 'bob',
    amount: 1250,
    currency: 'USD',
    attempts: 1,
    created_at: '2024-05-01T00:00:00.000Z',
    processed_at: '2024-05-01T00:00:01.000Z',
    ...overrides,
  };
}

/** A `billing.records` event as billing publishes it (src/billing/client/events.ts). */
export function billingEvent(gid: string, record: Partial<BillingRecordEvent['record']> = {}): BillingRecordEvent {
  const at = '2024-05-02T00:00:00.000Z';
  return {
    id: randomUUID(),
    type: 'billing_record.updated',
    occurred_at: at,
    record: {
      id: '7', gid, product_gid: 'gid://billing/Product/1', client_gid: 'gid://app/Client/1', kind: 'invoice', status: 'open',
      amount: 1000, currency: 'eur', due_at: null, paid_at: null, created_at: at, updated_at: at, stripe_id: null, ...record,
    },
  };
}
