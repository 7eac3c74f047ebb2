// Every Redis key of the payments part, under one configurable prefix. The seed's model keeps its
// names (`txns`, `successful_txns`, `payments_made_by|<payer>`…); members of every sorted set are
// tracking ids and scores are UTC epoch milliseconds.

export const FINAL_STATUSES = ['succeeded', 'insufficient_funds', 'declined', 'failed'] as const;
export const OPEN_STATUSES = ['queued', 'processing', 'retrying'] as const;
export const STATUSES = [...OPEN_STATUSES, ...FINAL_STATUSES] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];
export type OpenStatus = (typeof OPEN_STATUSES)[number];
export type Status = (typeof STATUSES)[number];

export const isFinal = (status: string): status is FinalStatus => (FINAL_STATUSES as readonly string[]).includes(status);

/** Per final status: the global sorted set and the per-payer / per-recipient set names (seed's, plus declined and failed). */
export const OUTCOME_SETS: Record<FinalStatus, { all: string; payer: string; recipient: string }> = {
  succeeded: { all: 'successful_txns', payer: 'payments_made_by', recipient: 'payments_received_by' },
  insufficient_funds: { all: 'insufficient_funds_txns', payer: 'insufficient_funds_for', recipient: 'insufficient_funds_to' },
  declined: { all: 'declined_txns', payer: 'declined_for', recipient: 'declined_to' },
  failed: { all: 'failed_txns', payer: 'failed_for', recipient: 'failed_to' },
};

export type PaymentKeys = ReturnType<typeof paymentKeys>;

export function paymentKeys(prefix: string) {
  return {
    prefix,
    /** INCR counter of tracking ids (seed). */
    trackingIds: `${prefix}tracking_ids`,
    /** The queue (seed's name); the API pushes on the left, workers move from the right: FIFO. */
    queue: `${prefix}payments_to_be_processed`,
    /** A worker's in-flight payments, moved here atomically from the queue. */
    processing: (worker: string) => `${prefix}processing:${worker}`,
    /** Live workers: member = worker id, score = heartbeat expiry (Redis time, ms). */
    workers: `${prefix}workers`,
    /** Worker id → JSON {host, pid, concurrency, started_at}, for the dashboard. */
    workerInfo: `${prefix}worker_info`,
    payment: (id: string) => `${prefix}payment:${id}`,
    /** Every payment by submission time; per payer and per recipient likewise. */
    payments: `${prefix}payments`,
    byPayer: (payer: string) => `${prefix}payments_by|${payer}`,
    toRecipient: (recipient: string) => `${prefix}payments_to|${recipient}`,
    /** Payments not final yet, by submission time: what /payments/slow and the monitor read. */
    open: `${prefix}open`,
    /** api_error retries, scored by due time. */
    retry: `${prefix}retry`,
    deadLetter: `${prefix}dead_letter`,
    /** Seed: every api_error, member `<tracking id>:<attempt>`. */
    apiErrors: `${prefix}api_errors`,
    /** Seed: txn id → JSON of the payment. */
    txns: `${prefix}txns`,
    outcomeSet: (status: FinalStatus) => `${prefix}${OUTCOME_SETS[status].all}`,
    outcomeByPayer: (status: FinalStatus, payer: string) => `${prefix}${OUTCOME_SETS[status].payer}|${payer}`,
    outcomeToRecipient: (status: FinalStatus, recipient: string) => `${prefix}${OUTCOME_SETS[status].recipient}|${recipient}`,
    /** Stats buckets: per UTC minute / hour (start, epoch ms), `<status>|<currency>` → sum of amounts. */
    statsMinute: (start: number) => `${prefix}stats:m:${start}`,
    statsHour: (start: number) => `${prefix}stats:h:${start}`,
    /** Final outcomes waiting to be relayed to the bus (written in the same script as the outcome). */
    outbox: `${prefix}outbox`,
    idempotency: (scope: string, key: string) => `${prefix}idempotency:${scope}:${key}`,
    /** Random id of this keyspace, part of every processor idempotency key (see README). */
    instance: `${prefix}instance`,
    /** Condition → epoch ms of its last alert (shared by monitor replicas). */
    alerts: `${prefix}alerts`,
    /** The simulated processor's ledger. */
    simulated: {
      results: `${prefix}simulated:results`,
      calls: `${prefix}simulated:calls`,
      charges: `${prefix}simulated:charges`,
    },
  };
}
