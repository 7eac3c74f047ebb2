// A payments worker: keeps up to `concurrency` payments at the processor. It moves them from the
// queue into its own processing list in batches (lua/fetch.lua), a `prefetch` ahead, blocking on
// BLMOVE only when the queue is empty, calls the processor with an idempotency key derived from
// the tracking id, and records each outcome with one script (lua/complete.lua) that also takes the
// payment off its list. Neither FETCH nor the recording waits between two processor calls of a
// slot. A heartbeat keeps its list its own; killed, the reaper gives the list back to the queue.
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
  /** Orphaned payments (see the heartbeat) past this many deliveries are dead-lettered as poison (0: no limit). */
  maxDeliveries?: number;
  retry: RetryPolicy;
  /** Heartbeat lifetime: past it without a heartbeat, the worker is dead to the reaper. */
  ttlMs: number;
  logger: Logger;
  metrics?: WorkerMetrics;
  /** Most payments moved per FETCH (default 100). */
  batchSize?: number;
  /**
   * Payments fetched ahead, beyond `concurrency`, so a slot that frees starts the next payment at
   * once instead of after a FETCH round trip (default: `concurrency`). They wait in the worker's
   * processing list like the rest: a crash hands them back too.
   */
  prefetch?: number;
  /** How long an idle worker blocks on the queue before looking again (default 1 s). */
  blockMs?: number;
  /** On stop, how long payments in flight may take to finish before being handed back (default 30 s). */
  stopGraceMs?: number;
}

export interface Worker {
  readonly id: string;
  inFlight(): number;
  /** Stops fetching, lets in-flight payments finish (up to the grace), hands the rest (and those not started) back. */
  stop(): Promise<void>;
}

const REDIS_RETRY: RetryPolicy = { baseMs: 50, capMs: 2000 };

export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const { redis, workerId: id, processor, concurrency, ttlMs, metrics } = options;
  const log = options.logger.child({ worker: id });
  const batchSize = options.batchSize ?? 100;
  const prefetch = options.prefetch ?? concurrency;
  const blockSeconds = (options.blockMs ?? 1000) / 1000;
  const queue = createQueue(redis, options.prefix);
  const namespace = await queue.instanceId();
  await queue.registerWorker(id, { host: hostname(), pid: process.pid, concurrency, processor: processor.name, started_at: new Date().toISOString() });
  await queue.heartbeat(id, ttlMs);

  // BLMOVE blocks its connection: it gets one of its own.
  const blocking = redis.duplicate({ connectionName: `${id}:blmove`, enableAutoPipelining: false });
  blocking.on('error', () => {}); // the command connection reports outages

  // Every payment this worker holds (in its processing list): waiting in `ready`, at the
  // processor (`running` of them, at most `concurrency`), or having its outcome recorded. A slot
  // frees when the processor answers, so recording (a round trip) overlaps the next payment.
  const held = new Map<string, Promise<void>>();
  const ready: QueuedPayment[] = [];
  let running = 0;
  /** Ids a BLMOVE delivered whose claim is under way. */
  const claiming = new Set<string>();
  let stopping = false;
  let abandoned = false;
  let wakeFetcher: (() => void) | undefined;
  const abort = new AbortController();
  const stoppedSignal = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));

  async function record(payment: QueuedPayment, result: ProcessorResult): Promise<void> {
    // The retry budget counts api_errors, not deliveries: a payment lost with a worker (or handed
    // back unstarted) has not used an attempt; lost deliveries are bounded by the poison limit.
    const decision = decide(result, payment.apiErrors + 1, options.maxAttempts, options.retry);
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
    } finally {
      running--;
      startReady();
    }
    metrics?.processed(result.outcome, (performance.now() - started) / 1000);
    await record(payment, result);
  }

  function wake(): void {
    const resolve = wakeFetcher;
    wakeFetcher = undefined;
    resolve?.();
  }

  /** Starts waiting payments while there are free slots (not once stopping: those are handed back). */
  function startReady(): void {
    while (running < concurrency && ready.length && !stopping) {
      const payment = ready.shift()!;
      running++;
      const done = handle(payment)
        .catch((err: unknown) => log.error({ err, trackingId: payment.trackingId }, 'payment handler failed'))
        .finally(() => {
          held.delete(payment.trackingId);
          metrics?.setInFlight(held.size);
          wake();
        });
      held.set(payment.trackingId, done);
    }
  }

  function take(payment: QueuedPayment): void {
    held.set(payment.trackingId, Promise.resolve());
    ready.push(payment);
    metrics?.setInFlight(held.size);
    startReady();
  }

  async function fetchLoop(): Promise<void> {
    for (let errors = 0; !stopping; ) {
      // One FETCH at a time, for all the free room: under load the room freed while a FETCH
      // travels makes the next batch, so batches grow with the load by themselves.
      const room = concurrency + prefetch - held.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => (wakeFetcher = resolve));
        continue;
      }
      try {
        const payments = await queue.fetch(id, Math.min(room, batchSize), ttlMs);
        for (const p of payments) take(p);
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
      if (payment) take(payment);
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
    const unknown = listed.filter((t) => !held.has(t) && !claiming.has(t));
    const orphans = unknown.filter((t) => suspects.has(t));
    suspects = new Set(unknown.filter((t) => !suspects.has(t)));
    if (orphans.length && !stopping) {
      const { moved, poisoned } = await queue.requeue(id, 'orphaned', orphans, options.maxDeliveries ?? 0);
      log.warn({ payments: moved }, 'payments held in redis but unknown to this worker: handed back to the queue');
      if (poisoned.length) log.error({ trackingIds: poisoned }, 'poison pills: orphaned too often, moved to the dead letter');
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
    inFlight: () => held.size,
    stop() {
      stopping$ ??= (async () => {
        stopping = true;
        abort.abort();
        wakeFetcher?.();
        blocking.disconnect();
        await loop;
        const grace = options.stopGraceMs ?? 30_000;
        let graceTimer: NodeJS.Timeout | undefined;
        // Payments not started stay in our list: release() hands them back.
        for (const p of ready.splice(0)) held.delete(p.trackingId);
        const drained = await Promise.race([
          Promise.allSettled(held.values()).then(() => true),
          new Promise<false>((resolve) => (graceTimer = setTimeout(() => resolve(false), grace))),
        ]);
        clearTimeout(graceTimer);
        if (!drained) log.warn({ payments: held.size }, 'payments still in flight at shutdown: handing them back');
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
