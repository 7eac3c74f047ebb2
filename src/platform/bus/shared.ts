// Small helpers shared by the bus engines.
import type { BusMessage, SubscribeOptions } from './types.ts';
//
// Handler and reconnect retries run until they succeed or the subscription closes, and close()
// must not wait out a 30 s backoff: exponential-backoff (used for HTTP retries elsewhere) cannot
// abort its sleeps, so the bus keeps this formula and sleeps with the abortable platform sleep.

export interface RetryPolicy {
  /** First retry waits up to this long (ms). */
  baseMs: number;
  /** Upper bound of a single wait (ms). */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 100, maxMs: 30_000 };

/** Exponential backoff with full jitter: uniform in [0, min(max, base * 2^attempt)). */
export function backoffMs(attempt: number, policy: RetryPolicy): number {
  return Math.random() * Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
}

/** Stable partition for a key (FNV-1a over UTF-8), the same in every process and version. */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

/** JSON text of a payload; `undefined` becomes null so every message has a value. */
export function encodeValue(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

/**
 * What an engine runs for a run of one partition's messages, and how long a run may be: a
 * one-message handler takes runs of one, so each message is acknowledged on its own.
 */
export function deliveryOf(options: SubscribeOptions): { handle: (messages: BusMessage[]) => Promise<void>; maxBatch: number } {
  if ('batchHandler' in options) return { handle: options.batchHandler, maxBatch: Math.max(1, options.maxBatch ?? 100) };
  const { handler } = options;
  return { handle: (messages) => handler(messages[0]!), maxBatch: 1 };
}
