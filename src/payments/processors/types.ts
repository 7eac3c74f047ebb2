// The one interface every payment processor implements. A processor is always called with an
// idempotency key derived from the tracking id, and must honour it: a second call with the key
// never charges again.

export interface PaymentRequest {
  trackingId: string;
  payerId: string;
  recipientId: string;
  /** Minor units. */
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
  description?: string | undefined;
  metadata: Record<string, string>;
  /** 1 on the first attempt. */
  attempt: number;
  idempotencyKey: string;
}

/**
 * success, insufficient_funds and declined are final; api_error is retried (network errors, 5xx,
 * rate limits); invalid is a request the processor will never accept (failed, dead-lettered).
 */
export type ProcessorOutcome = 'success' | 'insufficient_funds' | 'declined' | 'api_error' | 'invalid';

export interface ProcessorResult {
  outcome: ProcessorOutcome;
  /** The processor's id of the charge (PaymentIntent id, simulated txn id). */
  txnId?: string | undefined;
  /** Decline or error code. */
  code?: string | undefined;
  message?: string | undefined;
}

export interface Processor {
  readonly name: string;
  process(request: PaymentRequest): Promise<ProcessorResult>;
  close?(): Promise<void>;
}
