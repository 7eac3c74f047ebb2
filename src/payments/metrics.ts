// Prometheus metrics of the payments part. Workers count what they process (outcomes, processor
// latency, end-to-end latency); the API and the monitor expose the queue as it is in Redis
// (depth, in flight, retries, dead letters, outcomes recorded), read once per scrape.
import { Counter, Gauge, Histogram, type Registry } from '../platform/metrics.ts';
import { FINAL_STATUSES } from './keys.ts';
import type { ReadModel } from './queries.ts';

export interface WorkerMetrics {
  /** A processor call ended with `outcome` after `seconds`. */
  processed(outcome: string, seconds: number): void;
  /** A final status was recorded `latencyMs` after submission. */
  recorded(status: string, latencyMs: number): void;
  setInFlight(n: number): void;
}

export function workerMetrics(registry: Registry): WorkerMetrics {
  const calls = new Counter({ name: 'payments_processor_calls_total', help: 'Processor calls by outcome', labelNames: ['outcome'], registers: [registry] });
  const processing = new Histogram({
    name: 'payments_processing_seconds',
    help: 'Processor call latency',
    labelNames: ['outcome'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const outcomes = new Counter({ name: 'payments_outcomes_total', help: 'Final outcomes recorded by this worker, by status', labelNames: ['status'], registers: [registry] });
  const endToEnd = new Histogram({
    name: 'payments_end_to_end_seconds',
    help: 'From submission to final outcome',
    labelNames: ['status'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
    registers: [registry],
  });
  const inFlight = new Gauge({ name: 'payments_worker_in_flight', help: 'Payments in flight in this worker', registers: [registry] });
  // Label values are few: bind each once rather than hashing the labels on every payment.
  const bound = <T>(make: (label: string) => T) => {
    const cache = new Map<string, T>();
    return (label: string) => cache.get(label) ?? cache.set(label, make(label)).get(label)!;
  };
  const byOutcome = bound((outcome) => ({ calls: calls.labels(outcome), processing: processing.labels(outcome) }));
  const byStatus = bound((status) => ({ outcomes: outcomes.labels(status), endToEnd: endToEnd.labels(status) }));
  return {
    processed(outcome, seconds) {
      const m = byOutcome(outcome);
      m.calls.inc();
      m.processing.observe(seconds);
    },
    recorded(status, latencyMs) {
      const m = byStatus(status);
      m.outcomes.inc();
      m.endToEnd.observe(latencyMs / 1000);
    },
    setInFlight: (n) => inFlight.set(n),
  };
}

/** Gauges read from Redis at scrape time (one overview per scrape). */
export function registerQueueGauges(registry: Registry, reads: ReadModel): void {
  let current: ReturnType<ReadModel['overview']> | undefined;
  let taken = 0;
  // Every gauge's collect() of one scrape shares one read.
  const overview = () => {
    if (!current || Date.now() - taken > 500) {
      taken = Date.now();
      current = reads.overview({ recent: 0 });
      current.catch(() => (current = undefined));
    }
    return current;
  };
  const gauge = (name: string, help: string, read: (o: Awaited<ReturnType<ReadModel['overview']>>) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(read(await overview()));
      },
    });
  gauge('payments_queue_depth', 'Payments waiting in the queue', (o) => o.queueDepth);
  gauge('payments_in_flight', 'Payments in workers’ processing lists', (o) => o.inFlight);
  gauge('payments_retry_scheduled', 'Payments waiting for an api_error retry', (o) => o.retryScheduled);
  gauge('payments_dead_letters', 'Payments on the dead letter (attempts exhausted, rejected, or poison)', (o) => o.deadLetters);
  gauge('payments_open', 'Payments not final yet', (o) => o.open);
  gauge('payments_oldest_open_age_seconds', 'Age of the oldest payment not final yet', (o) => o.oldestOpenAgeMs / 1000);
  gauge('payments_outbox_backlog', 'Final outcomes not yet relayed to the bus', (o) => o.outboxBacklog);
  gauge('payments_workers_alive', 'Workers with a live heartbeat', (o) => o.workers.filter((w) => w.alive).length);
  new Gauge({
    name: 'payments_outcomes_recorded',
    help: 'Payments in each final status (the outcome sorted sets)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const o = await overview();
      for (const status of FINAL_STATUSES) this.set({ status }, o.outcomes[status]);
    },
  });
}
