// Every message shape chronicles ingests, in one module so the producers' shapes can be
// reconciled here: `chronicles.entries` (entries as the platform sends them), and the mappings
// that turn `payments.outcomes` and `billing.records` into entries. Workers validate with these
// schemas; whatever fails becomes a dead letter with the reason.
//
// payments.outcomes and billing.records are read leniently (extra fields are ignored, a few
// aliases are accepted) because their producers are still being built (issues 5 and 6): what
// chronicles needs from each is listed in its schema.
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const ENTRIES_TOPIC = 'chronicles.entries';
export const PAYMENTS_TOPIC = 'payments.outcomes';
export const BILLING_TOPIC = 'billing.records';
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
// payments.outcomes (issue 5): a payment's final outcome. The message id is the tracking id.

const amountSchema = z.union([z.number().finite(), z.string().regex(/^-?\d{1,18}(\.\d{1,8})?$/)]);
const optionalInstant = instantSchema.optional();

export const paymentOutcomeSchema = z.looseObject({
  tracking_id: z.union([z.string().min(1).max(100), z.number().int()]).optional(),
  payer: z.string().min(1).max(255),
  recipient: z.string().min(1).max(255),
  amount: amountSchema,
  currency: z.string().regex(/^[A-Za-z]{3}$/, { error: 'expected a 3-letter currency code' }),
  status: z.string().regex(/^[a-z_]{1,40}$/, { error: 'expected a lower-case status such as succeeded' }),
  occurred_at: optionalInstant,
  finished_at: optionalInstant,
  completed_at: optionalInstant,
});

// ---------------------------------------------------------------------------------------------
// billing.records (issue 6): a billing record was created or changed. The event id (or the bus
// message id) identifies the change.

export const billingRecordSchema = z
  .looseObject({
    event_id: z.string().min(1).max(100).optional(),
    event: nameSchema.optional(),
    record_gid: gidSchema.optional(),
    billing_record_gid: gidSchema.optional(),
    product_gid: gidSchema.nullable().optional(),
    kind: z.string().min(1).max(64),
    status: z.string().min(1).max(64),
    amount: amountSchema,
    currency: z.string().regex(/^[A-Za-z]{3}$/).optional(),
    actor_gid: gidSchema.nullable().optional(),
    occurred_at: optionalInstant,
  })
  .refine((v) => v.record_gid ?? v.billing_record_gid, { error: 'record_gid (or billing_record_gid) is required', path: ['record_gid'] });

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

function mapPaymentOutcome(message: RawMessage): Mapped {
  const parsed = paymentOutcomeSchema.safeParse(message.value);
  if (!parsed.success) return { item: 0, error: describeIssues(parsed.error) };
  const o = parsed.data;
  const trackingId = String(o.tracking_id ?? message.id);
  return {
    item: 0,
    entry: {
      sequence_code: sequenceCodeFor(PAYMENTS_TOPIC, message.id),
      app: 'payments',
      subject_type: 'Payment',
      subject_gid: asGid('Payment', trackingId),
      action_name: `payment.${o.status}`,
      performer_gid: asGid('Payer', o.payer),
      payload: { tracking_id: trackingId, payer: o.payer, recipient: o.recipient, amount: o.amount, currency: o.currency.toUpperCase(), status: o.status },
      occurred_at: o.occurred_at ?? o.finished_at ?? o.completed_at ?? new Date(message.publishedAt),
      feed_tags: [],
      access_tags: [],
    },
  };
}

function mapBillingRecord(message: RawMessage): Mapped {
  const parsed = billingRecordSchema.safeParse(message.value);
  if (!parsed.success) return { item: 0, error: describeIssues(parsed.error) };
  const r = parsed.data;
  const eventId = r.event_id ?? message.id;
  return {
    item: 0,
    entry: {
      sequence_code: sequenceCodeFor(BILLING_TOPIC, eventId),
      app: 'billing',
      subject_type: 'BillingRecord',
      subject_gid: (r.record_gid ?? r.billing_record_gid)!,
      action_name: r.event ?? `billing_record.${r.status}`,
      performer_gid: r.actor_gid ?? null,
      payload: {
        event_id: eventId,
        product_gid: r.product_gid ?? null,
        kind: r.kind,
        status: r.status,
        amount: r.amount,
        ...(r.currency ? { currency: r.currency.toUpperCase() } : {}),
      },
      occurred_at: r.occurred_at ?? new Date(message.publishedAt),
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
