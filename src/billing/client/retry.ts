// Retries of a billing request that the server asked to repeat: 429 (over the rate limit), 502
// and 503 (a proxy or the service going through a deploy). Exponential backoff with full jitter
// (exponential-backoff), and a Retry-After header is a floor: the client waits it out first, then
// the jittered backoff, so clients told "1 s" do not all return on the same millisecond.
import { backOff } from 'exponential-backoff';

export const RETRIED_STATUSES = new Set([429, 502, 503]);

export class BillingHttpError extends Error {
  override name = 'BillingHttpError';
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, status: number, retryAfterMs?: number) {
    super(message);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The service could not be reached, timed out, or answered something that is not its API. */
export class BillingUnavailableError extends Error {
  override name = 'BillingUnavailableError';
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Upper bound of the first backoff (full jitter: uniform in [0, bound)); doubles per retry. */
  baseMs: number;
  maxMs: number;
  /** A longer Retry-After is cut to this (a broken header must not park a job for an hour). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseMs: 100, maxMs: 5000, maxRetryAfterMs: 30_000 };

/** Seconds (the contract's form) or an HTTP date, in milliseconds; undefined when absent or bad. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function withRetries<T>(attempt: () => Promise<T>, options: RetryOptions, onRetry?: (err: BillingHttpError, nextAttempt: number) => void): Promise<T> {
  return backOff(attempt, {
    jitter: 'full',
    numOfAttempts: options.attempts,
    startingDelay: options.baseMs,
    maxDelay: options.maxMs,
    timeMultiple: 2,
    retry: async (err: unknown, nextAttempt: number) => {
      if (!(err instanceof BillingHttpError) || !RETRIED_STATUSES.has(err.status)) return false;
      onRetry?.(err, nextAttempt);
      const floor = err.retryAfterMs;
      if (floor) await new Promise((resolve) => setTimeout(resolve, Math.min(floor, options.maxRetryAfterMs)));
      return true;
    },
  });
}
