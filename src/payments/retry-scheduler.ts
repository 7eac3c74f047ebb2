// api_error retries: a payment waits in the `retry` sorted set, scored by when it is due, and is
// queued again once due (lua/promote.lua), by every worker and the monitor.
import type { Logger } from '../platform/log.ts';
import { every, type Periodic } from './periodic.ts';
import type { Queue } from './queue.ts';

export interface RetryPolicy {
  /** The first retry waits up to this long (ms). */
  baseMs: number;
  /** No wait is longer than this (ms). */
  capMs: number;
}

/** Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^(attempt − 1))). */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40)));
}

export function startRetryScheduler(options: { queue: Queue; intervalMs: number; logger: Logger; batch?: number }): Periodic {
  const { queue, logger } = options;
  const batch = options.batch ?? 1000;
  return every(
    options.intervalMs,
    async () => {
      // Drain everything due, a batch at a time.
      while ((await queue.promoteDueRetries(batch)) === batch);
    },
    (err) => logger.warn({ err }, 'could not queue due retries; trying again'),
  );
}
