// The bus API of billing: topic `billing.records`, key = product_gid, message id = the outbox
// event id (stable across redeliveries, so consumers dedupe on it). The server validates every
// event with this schema before writing it to its outbox; consumers parse with it. `status` stays
// a string: a status added later must not make old consumers reject (and so block) a partition.
import { z } from 'zod';

export const BILLING_RECORDS_TOPIC = 'billing.records';

const instant = z.iso.datetime({ offset: true });

export const billingRecordEventRecordSchema = z.object({
  id: z.string(),
  gid: z.string(),
  product_gid: z.string(),
  client_gid: z.string(),
  kind: z.enum(['invoice', 'payment', 'credit_note', 'refund', 'adjustment']),
  status: z.string(),
  amount: z.number().int(),
  currency: z.string().length(3),
  due_at: instant.nullable(),
  paid_at: instant.nullable(),
  created_at: instant,
  updated_at: instant,
  stripe_id: z.string().nullable(),
});

export const billingRecordEventSchema = z.object({
  id: z.uuid(),
  type: z.enum(['billing_record.created', 'billing_record.updated']),
  occurred_at: instant,
  record: billingRecordEventRecordSchema,
});

export type BillingRecordEvent = z.infer<typeof billingRecordEventSchema>;
