// Every message shape chronicles ingests, in one module so the producers' shapes can be
// reconciled here: `chronicles.entries` (entries as the platform sends them), and the mappings
// that turn `payments.outcomes` and `billing.records` into entries. Workers validate with these
// schemas; whatever fails becomes a dead letter with the reason.
//
// payments.outcomes and billing.records are validated with the schemas their producers publish
// (each part's public client module), so a change of shape there fails here at type-check time.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { billingRecordEventSchema, BILLING_RECORDS_TOPIC } from '../billing/client/events.ts';
import { PAYMENT_OUTCOMES_TOPIC, paymentOutcomeSchema } from '../payments/client.ts';

export const ENTRIES_TOPIC = 'chronicles.entries';
export const PAYMENTS_TOPIC = PAYMENT_OUTCOMES_TOPIC;
export const BILLING_TOPIC = BILLING_RECORDS_TOPIC;
export const INGESTED_TOPICS = [ENTRIES_TOPIC, PAYMENTS_TOPIC, BILLING_TOPIC] as const;

/** A bus message as it travels in an ingest job (the consumer does not parse it further). */
export interface RawMessage {
  topic: string;
  id: string;
  key: string;
  publishedAt: number;
  value?: unknown;
  /** Set instead of `value` when the message was larger than the limit. */
  oversize?: { bytes: number; head: string };
}

/** A validated entry, ready to be written. */
export interface EntryInput {
  sequence_code: string;
  app: string;
  subject_type: string;
  subject_gid: string;
  action_name: string;
  performer_gid: string | null;
  payload: Record<string, unknown>;
  occurred_at: Date;
  feed_tags: string[];
  access_tags: string[];
}

export type Mapped = { item: number; entry: EntryInput } | { item: number; error: string };

// ---------------------------------------------------------------------------------------------
// uuid v5 (RFC 9562): a deterministic sequence_code from a producer's message id.

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

export function uuidV5(name: string, namespace: string): string {
  const hash = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';
/** The namespace of every sequence_code chronicles derives: uuidv5(URL, "urn:ledgerline:chronicles"). */
export const CHRONICLES_NAMESPACE = uuidV5('urn:ledgerline:chronicles', URL_NAMESPACE);

export const sequenceCodeFor = (topic: string, id: string) => uuidV5(`${topic}:${id}`, CHRONICLES_NAMESPACE);

// ---------------------------------------------------------------------------------------------
// Field rules shared by every shape.

const EARLIEST = Date.UTC(2000, 0, 1);
/** Clock skew tolerated for entries stamped in the future. */
const FUTURE_SLACK_MS = 24 * 3_600_000;

export const nameSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, { error: 'expected 1-64 letters, digits or _ . : -' });
export const gidSchema = z.string().regex(/^[\x21-\x7e]{1,255}$/, { error: 'expected 1-255 printable characters without spaces' });
const CONTROL = /\p{Cc}/u;
export const tagNameSchema = z
  .string()
  .min(1)
  .max(200)
  .refine((v) => !CONTROL.test(v) && v.trim() === v, { error: 'expected 1-200 characters, no control characters, no leading or trailing space' });

/** ISO 8601 with an offset, or epoch milliseconds; kept to the millisecond (the cursor's precision). */
export const instantSchema = z
  .union([z.iso.datetime({ offset: true }), z.number().int()], { error: 'expected an ISO 8601 time with an offset, or epoch milliseconds' })
  .transform((v, ctx) => {
    const date = new Date(v);
    const t = date.getTime();
    if (!Number.isFinite(t) || t < EARLIEST || t > Date.now() + FUTURE_SLACK_MS) {
      ctx.addIssue({ code: 'custom', message: 'expected a time between 2000-01-01 and tomorrow' });
      return z.NEVER;
    }
    return date;
  });

const payloadSchema = z.record(z.string(), z.unknown(), { error: 'expected a JSON object' });
const tagList = z.array(tagNameSchema).max(50).default([]);

// ---------------------------------------------------------------------------------------------
// chronicles.entries: one entry per message, or `{ "entries": [ … ] }` (up to 500) from a
// producer that records many actions at once. Each entry of a batch is validated on its own.

export const entryMessageSchema = z.strictObject({
  sequence_code: z.uuid({ error: 'expected a UUID' }),
  app: nameSchema,
  subject_type: nameSchema,
  subject_gid: gidSchema,
  action_name: nameSchema,
  performer_gid: gidSchema.nullable().default(null),
  payload: payloadSchema.default({}),
  occurred_at: instantSchema,
  feed_tags: tagList,
  access_tags: tagList,
});

const entryBatchSchema = z.strictObject({ entries: z.array(z.unknown()).min(1).max(500) });

// ---------------------------------------------------------------------------------------------

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.map(String).join('.') : '(message)'}: ${issue.message}`)
    .join('; ');
}

const asGid = (type: string, value: string | number) => (String(value).startsWith('gid://') ? String(value) : `gid://ledgerline/${type}/${value}`);

function mapEntry(value: unknown, item: number): Mapped {
  const parsed = entryMessageSchema.safeParse(value);
  if (!parsed.success) return { item, error: describeIssues(parsed.error) };
  return { item, entry: { ...parsed.data, sequence_code: parsed.data.sequence_code.toLowerCase() } };
}

/** payments.outcomes: a payment's final outcome; the message id is its tracking id. */
function mapPaymentOutcome(message: RawMessage): Mapped {
  const parsed = paymentOutcomeSchema.safeParse(message.value);
  if (!parsed.success) return { item: 0, error: describeIssues(parsed.error) };
  const o = parsed.data;
  return {
    item: 0,
    entry: {
      sequence_code: sequenceCodeFor(PAYMENTS_TOPIC, message.id),
      app: 'payments',
      subject_type: 'Payment',
      subject_gid: asGid('Payment', o.tracking_id),
      action_name: `payment.${o.status}`,
      performer_gid: asGid('Payer', o.payer_id),
      payload: {
        tracking_id: o.tracking_id,
        payer_id: o.payer_id,
        recipient_id: o.recipient_id,
        amount: o.amount,
        currency: o.currency,
        status: o.status,
        attempts: o.attempts,
        ...(o.code ? { code: o.code } : {}),
      },
      occurred_at: new Date(o.processed_at),
      feed_tags: [],
      access_tags: [],
    },
  };
}

/** billing.records: a record was created or changed; the event id identifies the change. */
function mapBillingRecord(message: RawMessage): Mapped {
  const parsed = billingRecordEventSchema.safeParse(message.value);
  if (!parsed.success) return { item: 0, error: describeIssues(parsed.error) };
  const { id, type, occurred_at, record: r } = parsed.data;
  return {
    item: 0,
    entry: {
      sequence_code: sequenceCodeFor(BILLING_TOPIC, id),
      app: 'billing',
      subject_type: 'BillingRecord',
      subject_gid: r.gid,
      action_name: type,
      performer_gid: null,
      payload: {
        event_id: id,
        product_gid: r.product_gid,
        client_gid: r.client_gid,
        kind: r.kind,
        status: r.status,
        amount: r.amount,
        currency: r.currency.toUpperCase(),
        ...(r.stripe_id ? { stripe_id: r.stripe_id } : {}),
      },
      occurred_at: new Date(occurred_at),
      feed_tags: [],
      access_tags: [],
    },
  };
}

/** Postgres cannot store NUL characters or unpaired surrogates in text or jsonb. */
function unstorable(value: unknown): string | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return 'contains a NUL character (\\u0000), which Postgres cannot store';
    if (!value.isWellFormed()) return 'contains an unpaired UTF-16 surrogate, which Postgres cannot store';
    return undefined;
  }
  if (Array.isArray(value)) {
    for (const v of value) {
      const problem = unstorable(v);
      if (problem) return problem;
    }
  } else if (value && typeof value === 'object' && !(value instanceof Date)) {
    for (const [k, v] of Object.entries(value)) {
      const problem = unstorable(k) ?? unstorable(v);
      if (problem) return problem;
    }
  }
  return undefined;
}

function storable(mapped: Mapped): Mapped {
  if (!('entry' in mapped)) return mapped;
  const problem = unstorable(mapped.entry);
  return problem ? { item: mapped.item, error: `the entry ${problem}` } : mapped;
}

/** Turns one bus message into entries or reasons it cannot become one (never throws). */
export function mapMessage(message: RawMessage): Mapped[] {
  return mapMessageUnchecked(message).map(storable);
}

function mapMessageUnchecked(message: RawMessage): Mapped[] {
  if (message.oversize) {
    return [{ item: 0, error: `message is ${message.oversize.bytes} bytes, over the limit` }];
  }
  switch (message.topic) {
    case ENTRIES_TOPIC: {
      const batch = entryBatchSchema.safeParse(message.value);
      if (batch.success) return batch.data.entries.map((value, i) => mapEntry(value, i));
      const looksLikeBatch = typeof message.value === 'object' && message.value !== null && 'entries' in message.value;
      if (looksLikeBatch) return [{ item: 0, error: describeIssues(batch.error) }];
      return [mapEntry(message.value, 0)];
    }
    case PAYMENTS_TOPIC:
      return [mapPaymentOutcome(message)];
    case BILLING_TOPIC:
      return [mapBillingRecord(message)];
    default:
      return [{ item: 0, error: `no mapping for topic ${message.topic}` }];
  }
}

/** The text kept in a dead letter: the raw message, or the head of an oversize one. */
export function rawText(message: RawMessage, limit: number): string {
  if (message.oversize) return message.oversize.head;
  const text = JSON.stringify(message.value) ?? 'null';
  return text.length > limit ? text.slice(0, limit) : text;
}
