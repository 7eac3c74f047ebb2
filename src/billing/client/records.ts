// What the client hands back, whichever transport answered: camelCase records with Dates, holding
// only the fields asked for (the article's under-fetching: 3-5 fields, not 20). GraphQL answers
// camelCase with ISO strings, REST snake_case with ISO strings, `direct` snake_case with Dates;
// all three become the same shape here.
import { z } from 'zod';
import { KINDS, type Kind } from '../record-schema.ts';

export const RECORD_FIELDS = ['id', 'gid', 'productGid', 'clientGid', 'kind', 'status', 'amount', 'currency', 'dueAt', 'paidAt', 'createdAt', 'updatedAt', 'stripeId'] as const;
export type RecordField = (typeof RECORD_FIELDS)[number];

export interface BillingRecord {
  id: string;
  gid: string;
  productGid: string;
  clientGid: string;
  kind: Kind;
  status: string;
  amount: number;
  currency: string;
  dueAt: Date | null;
  paidAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  stripeId: string | null;
}

const DATE_FIELDS = new Set<RecordField>(['dueAt', 'paidAt', 'createdAt', 'updatedAt']);
const snake = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
export const columnOf = (field: RecordField) => snake(field) as import('../record-schema.ts').RecordColumn;

const instant = z.union([z.date(), z.string()]).transform((v) => (v instanceof Date ? v : new Date(v)));

/** The filter a caller gives; times as Dates or ISO strings. An empty filter matches nothing. */
export const filterSchema = z.strictObject({
  productGids: z.array(z.string()).optional(),
  clientGids: z.array(z.string()).optional(),
  kinds: z.array(z.enum(KINDS)).optional(),
  statuses: z.array(z.string()).optional(),
  createdAfter: instant.optional(),
  createdBefore: instant.optional(),
  dueAfter: instant.optional(),
  dueBefore: instant.optional(),
  paidAfter: instant.optional(),
  paidBefore: instant.optional(),
  amountMin: z.number().int().optional(),
  amountMax: z.number().int().optional(),
  currency: z.string().optional(),
});
export type BillingRecordFilter = z.input<typeof filterSchema>;
export type ParsedFilter = z.output<typeof filterSchema>;

/** A row from any transport (either key style; times as Date or string) → a BillingRecord's fields. */
export function toRecord(row: Record<string, unknown>, fields: readonly RecordField[]): Partial<BillingRecord> {
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const value = field in row ? row[field] : row[snake(field)];
    if (value === undefined) continue;
    if (DATE_FIELDS.has(field)) out[field] = value === null ? null : value instanceof Date ? value : new Date(String(value));
    else if (field === 'amount') out[field] = Number(value);
    else if (field === 'id') out[field] = String(value);
    else out[field] = value;
  }
  return out as Partial<BillingRecord>;
}
