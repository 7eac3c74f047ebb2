// What a billing record is: its kinds, statuses, public columns and the field rules shared by the
// query and write paths (zod at every boundary; errors name the field and what it expects).
import { z } from 'zod';

export const KINDS = ['invoice', 'payment', 'credit_note', 'refund', 'adjustment'] as const;
export const STATUSES = ['open', 'paid', 'failed', 'void', 'refunded', 'pending'] as const;
export type Kind = (typeof KINDS)[number];
export type Status = (typeof STATUSES)[number];

/** Columns a reader may ask for, in table order (metadata is write-only through the API). */
export const RECORD_COLUMNS = ['id', 'gid', 'product_gid', 'client_gid', 'kind', 'status', 'amount', 'currency', 'due_at', 'paid_at', 'created_at', 'updated_at', 'stripe_id'] as const;
export type RecordColumn = (typeof RECORD_COLUMNS)[number];

/** A record as read: `id` is the bigint as a string, `amount` a number (minor units). */
export interface RecordRow {
  id: string;
  gid: string;
  product_gid: string;
  client_gid: string;
  kind: Kind;
  status: Status;
  amount: number;
  currency: string;
  due_at: Date | null;
  paid_at: Date | null;
  created_at: Date;
  updated_at: Date;
  stripe_id: string | null;
}

/** Postgres bigint arrives as a string; amounts are within the safe-integer range by validation. */
export function normalizeRow<T extends Partial<RecordRow>>(row: T): T {
  if (row.amount !== undefined && typeof row.amount !== 'number') row.amount = Number(row.amount);
  if (row.id !== undefined) row.id = String(row.id);
  return row;
}

export const gidSchema = z.string({ error: 'expected a string' }).regex(/^[\x21-\x7e]{1,255}$/, { error: 'expected 1-255 printable characters without spaces' });
export const kindSchema = z.enum(KINDS, { error: `expected one of ${KINDS.join(', ')}` });
export const statusSchema = z.enum(STATUSES, { error: `expected one of ${STATUSES.join(', ')}` });
const CURRENCIES = new Set(Intl.supportedValuesOf('currency').map((c) => c.toLowerCase()));
export const currencySchema = z
  .string({ error: 'expected an ISO 4217 currency code such as usd' })
  .transform((c) => c.toLowerCase())
  .refine((c) => CURRENCIES.has(c), { error: 'expected an ISO 4217 currency code such as usd or eur' });
/** Minor units; bigint in Postgres, kept to what a JSON number carries exactly. */
export const amountSchema = z.number({ error: 'expected an integer amount in minor units' }).int({ error: 'expected an integer amount in minor units' }).refine(Number.isSafeInteger, {
  error: 'must be within ±9007199254740991',
});
export const metadataSchema = z
  .record(z.string().max(40, { error: 'keys are at most 40 characters' }), z.unknown(), { error: 'expected a JSON object' })
  .refine((m) => JSON.stringify(m).length <= 8192, { error: 'at most 8 KB of JSON' });
