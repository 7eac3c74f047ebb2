// The public client module of payments: the shape of a message on `payments.outcomes` (key =
// payer_id, message id = tracking_id), as the outbox relay publishes it (outcomes.ts,
// toOutcomeMessage). Consumers in other parts validate with this schema.
import { z } from 'zod';
import { FINAL_STATUSES } from './keys.ts';
import { OUTCOMES_TOPIC } from './outcomes.ts';

export const PAYMENT_OUTCOMES_TOPIC = OUTCOMES_TOPIC;

const instant = z.iso.datetime({ offset: true });

export const paymentOutcomeSchema = z.object({
  tracking_id: z.string().min(1),
  status: z.enum(FINAL_STATUSES),
  payer_id: z.string().min(1),
  recipient_id: z.string().min(1),
  /** Minor units, positive. */
  amount: z.number().int().positive(),
  /** ISO 4217, upper case. */
  currency: z.string().regex(/^[A-Z]{3}$/),
  txn_id: z.string().optional(),
  /** The processor's decline or error code. */
  code: z.string().optional(),
  attempts: z.number().int().nonnegative(),
  created_at: instant,
  processed_at: instant,
});

export type PaymentOutcome = z.infer<typeof paymentOutcomeSchema>;
