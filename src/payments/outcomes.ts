// From a processor's answer to the payment's next status, and the shape of the final outcome
// published on the bus. The recording itself is one script, lua/complete.lua (see queue.ts).
import type { FinalStatus } from './keys.ts';
import type { ProcessorResult } from './processors/types.ts';
import { retryDelayMs, type RetryPolicy } from './retry-scheduler.ts';

export const OUTCOMES_TOPIC = 'payments.outcomes';

export interface Decision {
  status: FinalStatus | 'retrying';
  retryDelayMs?: number;
}

const FINAL_BY_OUTCOME = { success: 'succeeded', insufficient_funds: 'insufficient_funds', declined: 'declined', invalid: 'failed' } as const;

/** api_error number `attempt` is retried with backoff up to `maxAttempts`, then failed (dead letter). */
export function decide(result: ProcessorResult, attempt: number, maxAttempts: number, policy: RetryPolicy, random?: () => number): Decision {
  if (result.outcome !== 'api_error') return { status: FINAL_BY_OUTCOME[result.outcome] };
  if (attempt >= maxAttempts) return { status: 'failed' };
  return { status: 'retrying', retryDelayMs: retryDelayMs(attempt, policy, random) };
}

/** A message on payments.outcomes (key = payer_id, message id = tracking_id). */
export interface OutcomeMessage {
  tracking_id: string;
  status: FinalStatus;
  payer_id: string;
  recipient_id: string;
  amount: number;
  currency: string;
  txn_id?: string;
  code?: string;
  attempts: number;
  created_at: string;
  processed_at: string;
}

/** The outbox entry (written by lua/complete.lua, times in epoch ms) as published. */
export function toOutcomeMessage(json: string): OutcomeMessage {
  const r = JSON.parse(json) as Omit<OutcomeMessage, 'created_at' | 'processed_at'> & { created_at: number; processed_at: number };
  return { ...r, tracking_id: String(r.tracking_id), created_at: new Date(r.created_at).toISOString(), processed_at: new Date(r.processed_at).toISOString() };
}
