// The one way billing records change — the API's mutations, the payments consumer and the Stripe
// import all come here — so every change writes its event to billing.outbox in the SAME
// transaction as the record (the relay publishes it later; a rolled-back change has no event and
// a committed one cannot lose it).
//
// Order per bus key (product_gid): each write takes a transaction-scoped advisory lock on its key
// before inserting the outbox row, so a key's outbox ids follow commit order and the relay, which
// publishes in id order, never sends a key's later change first.
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Sql, TransactionSql } from '../platform/db.ts';
import { BILLING_RECORDS_TOPIC, billingRecordEventSchema, type BillingRecordEvent } from './client/events.ts';
import {
  amountSchema,
  currencySchema,
  gidSchema,
  kindSchema,
  metadataSchema,
  normalizeRow,
  RECORD_COLUMNS,
  statusSchema,
  type RecordRow,
} from './record-schema.ts';

/** Postgres NOTIFY channel the relay listens on. */
export const OUTBOX_CHANNEL = 'billing_outbox';

/** A Date, or an ISO 8601 instant with an offset (REST bodies are JSON). */
const instant = z.union([z.date(), z.iso.datetime({ offset: true, error: 'expected an ISO 8601 time with an offset, e.g. 2024-05-01T12:00:00Z' }).transform((s) => new Date(s))], {
  error: 'expected an ISO 8601 time with an offset, e.g. 2024-05-01T12:00:00Z',
});
const stripeIdSchema = z.string().regex(/^[A-Za-z0-9_]{1,255}$/, { error: 'expected a Stripe id such as in_123' });

export const recordInputSchema = z.strictObject({
  productGid: gidSchema,
  clientGid: gidSchema,
  kind: kindSchema,
  status: statusSchema,
  amount: amountSchema,
  currency: currencySchema,
  dueAt: instant.nullable().optional(),
  paidAt: instant.nullable().optional(),
  stripeId: stripeIdSchema.nullable().optional(),
  metadata: metadataSchema.optional(),
});
export type RecordInput = z.output<typeof recordInputSchema>;

export const recordPatchSchema = z
  .strictObject({
    status: statusSchema.optional(),
    amount: amountSchema.optional(),
    dueAt: instant.nullable().optional(),
    paidAt: instant.nullable().optional(),
    metadata: metadataSchema.optional(),
  })
  .refine((p) => Object.values(p).some((v) => v !== undefined), { error: 'give at least one of status, amount, dueAt, paidAt, metadata' });
export type RecordPatch = z.output<typeof recordPatchSchema>;

export const idempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,255}$/, { error: 'expected 1-255 printable characters without spaces' });

export class IdempotencyConflictError extends Error {
  override name = 'IdempotencyConflictError';
}

export class StripeIdTakenError extends Error {
  override name = 'StripeIdTakenError';
}

const RETURNING = [...RECORD_COLUMNS, 'metadata'] as const;
export type StoredRecord = RecordRow & { metadata: Record<string, unknown> };

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function eventOf(type: BillingRecordEvent['type'], r: StoredRecord): BillingRecordEvent {
  return billingRecordEventSchema.parse({
    id: randomUUID(),
    type,
    occurred_at: new Date().toISOString(),
    record: {
      id: r.id,
      gid: r.gid,
      product_gid: r.product_gid,
      client_gid: r.client_gid,
      kind: r.kind,
      status: r.status,
      amount: r.amount,
      currency: r.currency,
      due_at: iso(r.due_at),
      paid_at: iso(r.paid_at),
      created_at: iso(r.created_at),
      updated_at: iso(r.updated_at),
      stripe_id: r.stripe_id,
    },
  });
}

/** Serializes a key's writes until commit (see the header); keys in sorted order, so no deadlock. */
async function lockKeys(tx: TransactionSql, keys: string[]): Promise<void> {
  for (const key of [...new Set(keys)].sort()) await tx`select pg_advisory_xact_lock(hashtextextended(${`billing.records:${key}`}, 0))`;
}

async function writeEvent(tx: TransactionSql, type: BillingRecordEvent['type'], record: StoredRecord): Promise<void> {
  const event = eventOf(type, record);
  await tx`
    insert into billing.outbox (event_id, topic, key, value)
    values (${event.id}, ${BILLING_RECORDS_TOPIC}, ${record.product_gid}, ${tx.json(event as never)})`;
  await tx`select pg_notify(${OUTBOX_CHANNEL}, '')`;
}

const stored = (row: StoredRecord | undefined) => row && normalizeRow(row);

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: string; constraint_name?: string };
  return e.code === '23505' && e.constraint_name === constraint;
}

interface InsertFields {
  product_gid: string;
  client_gid: string;
  kind: string;
  status: string;
  amount: number;
  currency: string;
  due_at: Date | null;
  paid_at: Date | null;
  stripe_id: string | null;
  source: 'api' | 'payments' | 'stripe';
  source_id: string | null;
  metadata: Record<string, unknown>;
  created_at?: Date;
}

async function insertRecord(tx: TransactionSql, f: InsertFields): Promise<StoredRecord> {
  const { created_at, ...rest } = f;
  const row = { ...rest, metadata: tx.json(f.metadata as never), gid: `gid://billing/Record/${randomUUID()}`, ...(created_at ? { created_at, updated_at: created_at } : {}) };
  const [inserted] = await tx<StoredRecord[]>`insert into billing.records ${tx(row)} returning ${tx([...RETURNING])}`;
  return stored(inserted)!;
}

/** Key-order independent JSON (jsonb reorders keys), for comparing and hashing. */
const canonical = (value: unknown) =>
  JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) ? Object.fromEntries(Object.entries(v).sort()) : v));

const hashOf = (input: RecordInput) => createHash('sha256').update(canonical(input)).digest('hex');

export interface CreateResult {
  record: StoredRecord;
  /** True when an earlier request with the same idempotency key made it. */
  replayed: boolean;
}

/**
 * Creates a record from the API. With an idempotency key (per API client), the same key and body
 * answer the record made the first time; the same key with another body is a conflict.
 */
export async function createRecord(sql: Sql, input: RecordInput, idempotency?: { scope: string; key: string }): Promise<CreateResult> {
  try {
    return await sql.begin(async (tx) => {
      if (idempotency) {
        const [seen] = await tx<{ request_hash: string; record_id: string }[]>`
          select request_hash, record_id from billing.idempotency_keys where client_scope = ${idempotency.scope} and key = ${idempotency.key}`;
        if (seen) return replay(tx, seen, hashOf(input));
      }
      await lockKeys(tx, [input.productGid]);
      const record = await insertRecord(tx, {
        product_gid: input.productGid,
        client_gid: input.clientGid,
        kind: input.kind,
        status: input.status,
        amount: input.amount,
        currency: input.currency,
        due_at: input.dueAt ?? null,
        paid_at: input.paidAt ?? null,
        stripe_id: input.stripeId ?? null,
        source: 'api',
        source_id: null,
        metadata: input.metadata ?? {},
      });
      if (idempotency) {
        await tx`
          insert into billing.idempotency_keys (client_scope, key, request_hash, record_id)
          values (${idempotency.scope}, ${idempotency.key}, ${hashOf(input)}, ${record.id})`;
      }
      await writeEvent(tx, 'billing_record.created', record);
      return { record, replayed: false };
    });
  } catch (err) {
    if (isUniqueViolation(err, 'records_stripe_id_key')) throw new StripeIdTakenError(`stripe_id ${input.stripeId} already belongs to another record`);
    // Two requests with one key raced: the loser answers what the winner made.
    if (idempotency && isUniqueViolation(err, 'idempotency_keys_pkey')) return createRecord(sql, input, idempotency);
    throw err;
  }
}

async function replay(tx: TransactionSql, seen: { request_hash: string; record_id: string }, hash: string): Promise<CreateResult> {
  if (seen.request_hash !== hash) throw new IdempotencyConflictError('This idempotency key was used with a different input; use a new key for a new record');
  const [record] = await tx<StoredRecord[]>`select ${tx([...RETURNING])} from billing.records where id = ${seen.record_id}`;
  return { record: stored(record)!, replayed: true };
}

/** Applies a patch; undefined when no record has that gid. A patch that changes nothing writes no event. */
export async function updateRecord(sql: Sql, gid: string, patch: RecordPatch): Promise<StoredRecord | undefined> {
  return sql.begin(async (tx) => {
    const [current] = await tx<{ product_gid: string }[]>`select product_gid from billing.records where gid = ${gid}`;
    if (!current) return undefined;
    await lockKeys(tx, [current.product_gid]);
    const [before] = await tx<StoredRecord[]>`select ${tx([...RETURNING])} from billing.records where gid = ${gid} for update`;
    return applyChanges(tx, stored(before)!, {
      ...(patch.status !== undefined ? { status: patch.status } : {}),
      ...(patch.amount !== undefined ? { amount: patch.amount } : {}),
      ...(patch.dueAt !== undefined ? { due_at: patch.dueAt } : {}),
      ...(patch.paidAt !== undefined ? { paid_at: patch.paidAt } : {}),
      ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
    });
  });
}

type Changes = Partial<Pick<InsertFields, 'product_gid' | 'client_gid' | 'status' | 'amount' | 'currency' | 'due_at' | 'paid_at' | 'stripe_id' | 'metadata'>>;

const same = (a: unknown, b: unknown) =>
  a instanceof Date || b instanceof Date ? (a as Date | null)?.getTime() === (b as Date | null)?.getTime() : canonical(a) === canonical(b);

/** Writes only the fields that differ (and an `updated` event); nothing at all when none do. */
async function applyChanges(tx: TransactionSql, before: StoredRecord, changes: Changes): Promise<StoredRecord> {
  const diff: Record<string, unknown> = Object.fromEntries(Object.entries(changes).filter(([k, v]) => !same(before[k as keyof StoredRecord], v)));
  if (!Object.keys(diff).length) return before;
  if (diff.metadata) diff.metadata = tx.json(diff.metadata as never);
  const [after] = await tx<StoredRecord[]>`
    update billing.records set ${tx({ ...diff, updated_at: new Date() })} where id = ${before.id} returning ${tx([...RETURNING])}`;
  const record = stored(after)!;
  await writeEvent(tx, 'billing_record.updated', record);
  return record;
}

/** A record owned by another system: the payments outcome (tracking id) or the Stripe invoice. */
export type SourceMatch = { source: 'payments'; sourceId: string } | { source: 'stripe'; stripeId: string };

export interface SourceFields {
  product_gid: string;
  client_gid: string;
  kind: 'invoice' | 'payment';
  status: string;
  amount: number;
  currency: string;
  due_at: Date | null;
  paid_at: Date | null;
  created_at: Date;
  metadata: Record<string, unknown>;
}

export type UpsertChange = 'created' | 'updated' | 'unchanged';

/**
 * Creates or updates the record of an outside source. Idempotent: replaying the same message or
 * row changes nothing and writes no event. Stripe invoices are keyed by stripe_id (whoever made
 * the record), payments outcomes by (source 'payments', tracking id).
 */
export async function upsertFromSource(sql: Sql, match: SourceMatch, fields: SourceFields): Promise<{ record: StoredRecord; change: UpsertChange }> {
  return sql.begin(async (tx) => {
    const find = () =>
      match.source === 'stripe'
        ? tx<StoredRecord[]>`select ${tx([...RETURNING])} from billing.records where stripe_id = ${match.stripeId} for update`
        : tx<StoredRecord[]>`select ${tx([...RETURNING])} from billing.records where source = 'payments' and source_id = ${match.sourceId} for update`;
    const [peek] = await tx<{ product_gid: string }[]>`
      select product_gid from billing.records
      where ${match.source === 'stripe' ? tx`stripe_id = ${match.stripeId}` : tx`source = 'payments' and source_id = ${match.sourceId}`}`;
    await lockKeys(tx, peek ? [peek.product_gid, fields.product_gid] : [fields.product_gid]);
    const [before] = await find();
    if (!before) {
      const record = await insertRecord(tx, {
        ...fields,
        stripe_id: match.source === 'stripe' ? match.stripeId : null,
        source: match.source,
        source_id: match.source === 'stripe' ? match.stripeId : match.sourceId,
      });
      await writeEvent(tx, 'billing_record.created', record);
      return { record, change: 'created' as const };
    }
    const { kind: _kind, created_at: _created, ...changes } = fields;
    const record = await applyChanges(tx, stored(before)!, changes);
    return { record, change: record === before ? ('unchanged' as const) : ('updated' as const) };
  });
}
