// A payments worker: keeps up to `concurrency` payments in flight. It moves them from the queue
// into its own processing list in batches (lua/fetch.lua), blocking on BLMOVE only when the queue
// is empty, calls the processor with an idempotency key derived from the tracking id, and records
// each outcome with one script (lua/complete.lua) that also takes the payment off its list. A
// heartbeat keeps its list its own; killed, the reaper gives the list back to the queue.
import { hostname } from 'node:os';
import type { Logger } from '../platform/log.ts';
import type { Redis } from '../platform/redis.ts';
import { redactSecrets } from '../platform/redact.ts';
import type { WorkerMetrics } from './metrics.ts';
import { decide } from './outcomes.ts';
import { sleep } from '../platform/timeout.ts';
import type { Processor, ProcessorResult } from './processors/types.ts';
import { createQueue, type QueuedPayment } from './queue.ts';
import { retryDelayMs, type RetryPolicy } from './retry-scheduler.ts';

export interface WorkerOptions {
  /** Commands; the worker duplicates it for its blocking BLMOVE. */
  redis: Redis;
  prefix: string;
  workerId: string;
  processor: Processor;
  concurrency: number;
  maxAttempts: number;
  retry: RetryPolicy;
  /** Heartbeat lifetime: past it without a heartbeat, the worker is dead to the reaper. */
  ttlMs: number;
  logger: Logger;
  metrics?: WorkerMetrics;
  /** Most payments moved per FETCH (default 100). */
  batchSize?: number;
  /** How long an idle worker blocks on the queue before looking again (default 1 s). */
  blockMs?: number;
  /** On stop, how long payments in flight may take to finish before being handed back (default 30 s). */
  stopGraceMs?: number;
}

export interface Worker {
  readonly id: string;
  inFlight(): number;
  /** Stops fetching, lets in-flight payments finish (up to the grace), hands the rest back. */
  stop(): Promise<void>;
}

const REDIS_RETRY: RetryPolicy = { baseMs: 50, capMs: 2000 };

export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const { redis, workerId: id, processor, concurrency, ttlMs, metrics } = options;
  const log = options.logger.child({ worker: id });
  const batchSize = options.batchSize ?? 100;
  const blockSeconds = (options.blockMs ?? 1000) / 1000;
  const queue = createQueue(redis, options.prefix);
  const namespace = await queue.instanceId();
  await queue.registerWorker(id, { host: hostname(), pid: process.pid, concurrency, processor: processor.name, started_at: new Date().toISOString() });
  await queue.heartbeat(id, ttlMs);

  // BLMOVE blocks its connection: it gets one of its own.
  const blocking = redis.duplicate({ connectionName: `${id}:blmove`, enableAutoPipelining: false });
  blocking.on('error', () => {}); // the command connection reports outages

  const inFlight = new Map<string, Promise<void>>();
  /** Ids a BLMOVE delivered whose claim is under way. */
  const claiming = new Set<string>();
  let stopping = false;
  let abandoned = false;
  let wakeFetcher: (() => void) | undefined;
  const abort = new AbortController();
  const stoppedSignal = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));

  async function record(payment: QueuedPayment, result: ProcessorResult): Promise<void> {
    const decision = decide(result, payment.attempt, options.maxAttempts, options.retry);
    for (let attempt = 0; !abandoned; attempt++) {
      try {
        const recorded = await queue.complete({
          worker: id,
          trackingId: payment.trackingId,
          attempt: payment.attempt,
          status: decision.status,
          outcome: result.outcome,
          result: { processor: processor.name, outcome: result.outcome, txn_id: result.txnId, code: result.code, message: result.message },
          txnId: result.txnId,
          retryDelayMs: decision.retryDelayMs,
          code: result.code,
          message: result.message,
        });
        if (recorded === 'recorded' && decision.status !== 'retrying') metrics?.recorded(decision.status, Date.now() - payment.createdAt);
        if (recorded === 'stale') log.info({ trackingId: payment.trackingId }, 'api_error of an attempt that was taken over: ignored');
        return;
      } catch (err) {
        // Not recorded: the payment stays in our list; keep trying (the script is idempotent).
        log.warn({ err, trackingId: payment.trackingId }, 'could not record the outcome; retrying');
        await sleep(retryDelayMs(attempt + 1, REDIS_RETRY));
      }
    }
  }

  async function handle(payment: QueuedPayment): Promise<void> {
    const started = performance.now();
    let result: ProcessorResult;
    try {
      result = await processor.process({
        trackingId: payment.trackingId,
        payerId: payment.payerId,
        recipientId: payment.recipientId,
        amount: payment.amount,
        currency: payment.currency,
        description: payment.description,
        metadata: payment.metadata,
        attempt: payment.attempt,
        idempotencyKey: `payment-${namespace}-${payment.trackingId}`,
      });
    } catch (err) {
      result = { outcome: 'api_error', code: 'processor_error', message: redactSecrets((err as Error).message ?? String(err)) };
    }
    metrics?.processed(result.outcome, (performance.now() - started) / 1000);
    await record(payment, result);
  }

  function start(payment: QueuedPayment): void {
    const done = handle(payment)
      .catch((err: unknown) => log.error({ err, trackingId: payment.trackingId }, 'payment handler failed'))
      .finally(() => {
        inFlight.delete(payment.trackingId);
        metrics?.setInFlight(inFlight.size);
        const wake = wakeFetcher;
        wakeFetcher = undefined;
        wake?.();
      });
    inFlight.set(payment.trackingId, done);
    metrics?.setInFlight(inFlight.size);
  }

  async function fetchLoop(): Promise<void> {
    for (let errors = 0; !stopping; ) {
      // One FETCH at a time, for all the free slots: under load the slots freed while a FETCH
      // travels make the next batch, so batches grow with the load by themselves.
      const room = concurrency - inFlight.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => (wakeFetcher = resolve));
        continue;
      }
      try {
        const payments = await queue.fetch(id, Math.min(room, batchSize), ttlMs);
        for (const p of payments) start(p);
        if (payments.length === 0 && !stopping) await waitForPayment();
        errors = 0;
      } catch (err) {
        if (stopping) break;
        log.warn({ err }, 'could not fetch payments; retrying');
        await sleep(retryDelayMs(++errors, REDIS_RETRY), abort.signal);
      }
    }
  }

  /** The queue is empty: block until a payment arrives (moved straight into our list). */
  async function waitForPayment(): Promise<void> {
    const move = blocking.blmove(queue.keys.queue, queue.keys.processing(id), 'RIGHT', 'LEFT', blockSeconds);
    move.catch(() => {});
    const trackingId = await Promise.race([move, stoppedSignal.then(() => null)]);
    if (!trackingId) return;
    claiming.add(trackingId);
    try {
      const payment = await queue.claim(id, trackingId, ttlMs);
      if (payment) start(payment);
    } finally {
      claiming.delete(trackingId);
    }
  }

  // Heartbeat; payments in our list we do not know we hold (a reply lost with a connection) are
  // handed back once seen twice in a row, so one still on its way to us is not.
  let suspects = new Set<string>();
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let heartbeating: Promise<void> = Promise.resolve();
  const heartbeat = async () => {
    const listed = await queue.heartbeat(id, ttlMs);
    const unknown = listed.filter((t) => !inFlight.has(t) && !claiming.has(t));
    const orphans = unknown.filter((t) => suspects.has(t));
    suspects = new Set(unknown.filter((t) => !suspects.has(t)));
    if (orphans.length && !stopping) {
      const moved = await queue.requeue(id, 'orphaned', orphans);
      log.warn({ payments: moved }, 'payments held in redis but unknown to this worker: handed back to the queue');
    }
  };
  const beat = () => {
    heartbeating = heartbeat()
      .catch((err: unknown) => log.warn({ err }, 'heartbeat failed'))
      .finally(() => {
        if (!abandoned) heartbeatTimer = setTimeout(beat, ttlMs / 3);
      });
  };
  heartbeatTimer = setTimeout(beat, ttlMs / 3);

  const loop = fetchLoop().catch((err: unknown) => log.error({ err }, 'fetch loop crashed'));
  log.info({ concurrency, processor: processor.name }, 'payments worker started');

  let stopping$: Promise<void> | undefined;
  return {
    id,
    inFlight: () => inFlight.size,
    stop() {
      stopping$ ??= (async () => {
        stopping = true;
        abort.abort();
        wakeFetcher?.();
        blocking.disconnect();
        await loop;
        const grace = options.stopGraceMs ?? 30_000;
        let graceTimer: NodeJS.Timeout | undefined;
        const drained = await Promise.race([
          Promise.allSettled(inFlight.values()).then(() => true),
          new Promise<false>((resolve) => (graceTimer = setTimeout(() => resolve(false), grace))),
        ]);
        clearTimeout(graceTimer);
        if (!drained) log.warn({ payments: inFlight.size }, 'payments still in flight at shutdown: handing them back');
        abandoned = true;
        clearTimeout(heartbeatTimer);
        await heartbeating;
        clearTimeout(heartbeatTimer);
        try {
          const moved = await queue.release(id);
          log.info({ handedBack: moved }, 'payments worker stopped');
        } catch (err) {
          log.warn({ err }, 'could not hand back payments at shutdown; the reaper will');
        }
      })();
      return stopping$;
    },
  };
}
