// The payment queue: a Redis list the API pushes on and workers move from, with LMOVE, into a
// processing list of their own, so a payment is in exactly one list at every instant. Every
// state change is one Lua script (lua/*.lua, sharing lua/lib.lua), registered with ioredis
// `defineCommand` (EVALSHA, falling back to EVAL after a Redis restart).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from '../platform/redis.ts';
import { paymentKeys, type FinalStatus, type PaymentKeys, type Status } from './keys.ts';

const SCRIPTS = ['enqueue', 'fetch', 'claim', 'complete', 'heartbeat', 'requeue', 'release', 'reap', 'promote', 'requeue_dead', 'purge', 'alert', 'simulate'] as const;
type ScriptName = (typeof SCRIPTS)[number];

const read = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
const LIB = read('lib');
const SOURCES = Object.fromEntries(SCRIPTS.map((name) => [name, `${LIB}\n${read(name)}`])) as Record<ScriptName, string>;

type ScriptArg = string | number;
type ScriptFn = (...args: ScriptArg[]) => Promise<unknown>;

const defined = new WeakSet<Redis>();

/** Registers the scripts on a client (once) so they can be called, also in pipelines. */
export function defineScripts(redis: Redis): void {
  if (defined.has(redis)) return;
  for (const name of SCRIPTS) redis.defineCommand(`payments_${name}`, { numberOfKeys: 0, lua: SOURCES[name] });
  defined.add(redis);
}

export function runScript(redis: Redis, name: ScriptName, prefix: string, ...args: ScriptArg[]): Promise<unknown> {
  defineScripts(redis);
  return (redis as unknown as Record<string, ScriptFn>)[`payments_${name}`]!(prefix, ...args);
}

export interface NewPayment {
  payer_id: string;
  recipient_id: string;
  amount: number;
  currency: string;
  description?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

export type EnqueueResult =
  | { result: 'created'; trackingId: string; createdAt: number }
  | { result: 'replayed' | 'conflict'; trackingId: string };

/** A payment as a worker receives it from FETCH/CLAIM. */
export interface QueuedPayment {
  trackingId: string;
  payerId: string;
  recipientId: string;
  amount: number;
  currency: string;
  description: string | undefined;
  metadata: Record<string, string>;
  createdAt: number;
  /** Deliveries so far, this one included (the processor's attempt number). */
  attempt: number;
  /** api_errors so far (since it was last requeued from the dead letter): the retry budget. */
  apiErrors: number;
}

export interface Completion {
  worker: string;
  trackingId: string;
  attempt: number;
  status: FinalStatus | 'retrying';
  /** The processor's outcome (success, insufficient_funds, declined, api_error, invalid). */
  outcome: string;
  result: unknown;
  txnId?: string | undefined;
  retryDelayMs?: number;
  code?: string | undefined;
  message?: string | undefined;
}

/** recorded: the outcome is the payment's; retrying: scheduled; duplicate: it was final already; stale: ignored api_error of a reaped attempt. */
export type CompletionResult = 'recorded' | 'retrying' | 'duplicate' | 'stale' | 'unknown';

function toPayment(row: string[]): QueuedPayment {
  const [trackingId, payerId, recipientId, amount, currency, description, metadata, createdAt, attempt, apiErrors] = row;
  return {
    trackingId: trackingId!,
    payerId: payerId!,
    recipientId: recipientId!,
    amount: Number(amount),
    currency: currency!,
    description: description || undefined,
    metadata: metadata ? (JSON.parse(metadata) as Record<string, string>) : {},
    createdAt: Number(createdAt),
    attempt: Number(attempt),
    apiErrors: Number(apiErrors),
  };
}

export type Queue = ReturnType<typeof createQueue>;

export function createQueue(redis: Redis, prefix: string) {
  defineScripts(redis);
  const keys: PaymentKeys = paymentKeys(prefix);
  const run = (name: ScriptName, ...args: ScriptArg[]) => runScript(redis, name, prefix, ...args);

  return {
    keys,
    redis,

    async enqueue(payment: NewPayment, idempotency?: { key: string; bodyHash: string; ttlMs: number }): Promise<EnqueueResult> {
      const [result, trackingId, createdAt] = (await run(
        'enqueue',
        idempotency?.key ?? '',
        idempotency?.bodyHash ?? '',
        idempotency?.ttlMs ?? 0,
        payment.payer_id,
        payment.recipient_id,
        payment.amount,
        payment.currency,
        payment.description ?? '',
        payment.metadata && Object.keys(payment.metadata).length ? JSON.stringify(payment.metadata) : '',
      )) as [EnqueueResult['result'], string, string?];
      return result === 'created' ? { result, trackingId, createdAt: Number(createdAt) } : { result, trackingId };
    },

    async fetch(worker: string, max: number, ttlMs: number): Promise<QueuedPayment[]> {
      return ((await run('fetch', worker, max, ttlMs)) as string[][]).map(toPayment);
    },

    async claim(worker: string, trackingId: string, ttlMs: number): Promise<QueuedPayment | undefined> {
      const row = (await run('claim', worker, trackingId, ttlMs)) as string[] | null;
      return row ? toPayment(row) : undefined;
    },

    async complete(c: Completion): Promise<CompletionResult> {
      return (await run(
        'complete',
        c.worker,
        c.trackingId,
        c.attempt,
        c.status,
        c.outcome,
        JSON.stringify(c.result ?? null),
        c.txnId ?? '',
        c.retryDelayMs ?? 0,
        c.code ?? '',
        c.message ?? '',
      )) as CompletionResult;
    },

    /** Extends the heartbeat; returns the worker's processing list. */
    async heartbeat(worker: string, ttlMs: number): Promise<string[]> {
      return (await run('heartbeat', worker, ttlMs)) as string[];
    },

    /** Hands payments of a live worker's list back; those past `maxDeliveries` (0: no limit) are dead-lettered as poison. */
    async requeue(worker: string, reason: string, ids: string[], maxDeliveries: number): Promise<{ moved: number; poisoned: string[] }> {
      if (!ids.length) return { moved: 0, poisoned: [] };
      const [moved, poisoned] = (await run('requeue', worker, reason, maxDeliveries, ...ids)) as [number, string[]];
      return { moved: Number(moved), poisoned };
    },

    async release(worker: string): Promise<number> {
      return Number(await run('release', worker));
    },

    /**
     * Moves the processing lists of dead workers back to the queue: worker → payments moved. A
     * payment delivered `maxDeliveries` times (0: no limit) is dead-lettered instead: `poisoned`.
     */
    async reap(graceMs: number, maxDeliveries: number): Promise<{ moved: Map<string, number>; poisoned: string[] }> {
      const [flat, poisoned] = (await run('reap', graceMs, maxDeliveries)) as [Array<string | number>, string[]];
      const moved = new Map<string, number>();
      for (let i = 0; i + 1 < flat.length; i += 2) moved.set(String(flat[i]), Number(flat[i + 1]));
      return { moved, poisoned };
    },

    async promoteDueRetries(max: number): Promise<number> {
      return Number(await run('promote', max));
    },

    /** Takes a payment off the dead letter and queues it again; otherwise says why not (its status). */
    async requeueDeadLetter(trackingId: string): Promise<'requeued' | 'unknown' | Status> {
      return (await run('requeue_dead', trackingId)) as 'requeued' | 'unknown' | Status;
    },

    /** Removes up to `batch` final payments recorded before `cutoffMs`, each entirely; returns how many. */
    async purgeFinalBefore(cutoffMs: number, batch: number): Promise<number> {
      return Number(await run('purge', cutoffMs, batch));
    },

    /** Redis' clock (epoch ms), the one every score is in. */
    async now(): Promise<number> {
      const [seconds, micros] = await redis.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    },

    async registerWorker(worker: string, info: Record<string, unknown>): Promise<void> {
      await redis.hset(keys.workerInfo, worker, JSON.stringify(info));
    },

    /** Random id of this keyspace (created once), part of every processor idempotency key. */
    async instanceId(): Promise<string> {
      const fresh = randomBytes(6).toString('hex');
      await redis.set(keys.instance, fresh, 'NX');
      return (await redis.get(keys.instance)) ?? fresh;
    },
  };
}
