// Postgres going away must lose nothing: a write that fails because the server is down, restarting,
// or chose this transaction as a deadlock victim is retried (exponential backoff, full jitter)
// until it commits. Each retried unit is one transaction that also moves its checkpoint, so a retry
// never writes anything twice. Errors about the data itself are not retried here.
import { backOff } from 'exponential-backoff';
import type { Logger } from '../platform/log.ts';

const RETRY_SQLSTATE = /^(08|53|57P|40001|40P01|55P03|58)/;
const RETRY_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);

export function transientDbError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return RETRY_CODES.has(code) || RETRY_SQLSTATE.test(code);
}

/** A data exception (class 22) or constraint failure a row caused: retried per row, in safe mode. */
export function dataDbError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|23502|23514)/.test(code);
}

export interface DbRetryOptions {
  logger?: Logger;
  what: string;
  signal?: AbortSignal;
  maxDelayMs?: number;
}

export async function withDbRetry<T>(fn: () => Promise<T>, options: DbRetryOptions): Promise<T> {
  let failures = 0;
  const result = await backOff(fn, {
    jitter: 'full',
    startingDelay: 200,
    maxDelay: options.maxDelayMs ?? 10_000,
    numOfAttempts: Number.MAX_SAFE_INTEGER,
    retry: (err: unknown) => {
      if (options.signal?.aborted || !transientDbError(err)) return false;
      if (failures++ === 0) options.logger?.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code }, what: options.what }, 'postgres unavailable; retrying until it is back');
      return true;
    },
  });
  if (failures) options.logger?.info({ what: options.what, failures }, 'postgres is back');
  return result;
}
