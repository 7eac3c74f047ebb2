// `ledgerline billing consumer`, part one: payments.outcomes → one `payment` record per tracking
// id (source 'payments', source_id = tracking id), through the writer, so every change also
// reaches billing.records. Redeliveries and replays change nothing (upsertFromSource compares).
//
// Mapping (the outcome carries no metadata, so the parties are the gids):
//   payer_id → client_gid;  recipient_id → product_gid (what was paid for / to);
//   succeeded → status paid, paid_at = processed_at;  insufficient_funds | declined | failed →
//   status failed;  amount (minor units) and currency (lower-cased) as given;  created_at = the
//   payment's created_at;  metadata = {tracking_id, txn_id?, code?, attempts}.
import { PAYMENT_OUTCOMES_TOPIC, paymentOutcomeSchema, type PaymentOutcome } from '../payments/client.ts';
import type { Bus, Subscription } from '../platform/bus/index.ts';
import type { Sql } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import { upsertFromSource, type SourceFields, type UpsertChange } from './records-writer.ts';

export function recordOfOutcome(o: PaymentOutcome): SourceFields {
  const paid = o.status === 'succeeded';
  return {
    product_gid: o.recipient_id,
    client_gid: o.payer_id,
    kind: 'payment',
    status: paid ? 'paid' : 'failed',
    amount: o.amount,
    currency: o.currency.toLowerCase(),
    due_at: null,
    paid_at: paid ? new Date(o.processed_at) : null,
    created_at: new Date(o.created_at),
    metadata: { tracking_id: o.tracking_id, attempts: o.attempts, ...(o.txn_id ? { txn_id: o.txn_id } : {}), ...(o.code ? { code: o.code } : {}) },
  };
}

export interface PaymentsConsumerOptions {
  sql: Sql;
  bus: Bus;
  group: string;
  logger: Logger;
  onChange?: (change: UpsertChange | 'invalid') => void;
}

export function startPaymentsConsumer(options: PaymentsConsumerOptions): Promise<Subscription> {
  const log = options.logger.child({ component: 'payments-consumer' });
  return options.bus.subscribe({
    group: options.group,
    topics: [PAYMENT_OUTCOMES_TOPIC],
    handler: async (message) => {
      const parsed = paymentOutcomeSchema.safeParse(message.value);
      if (!parsed.success) {
        // Retrying cannot fix a malformed message and would block its partition: log and skip.
        log.error({ messageId: message.id, issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }, 'skipped an invalid payments.outcomes message');
        options.onChange?.('invalid');
        return;
      }
      const { change } = await upsertFromSource(options.sql, { source: 'payments', sourceId: parsed.data.tracking_id }, recordOfOutcome(parsed.data));
      options.onChange?.(change);
    },
  });
}
