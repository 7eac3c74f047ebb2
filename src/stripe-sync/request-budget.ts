// One request budget per Stripe account, shared by every engine process through Redis
// (rate-limiter-flexible's RateLimiterRedis: a counter per one-second window). On top of it each
// process paces its own requests evenly, 1000/maxRps ms apart, and hands every admitted slot to
// the most urgent waiter: the event poller and /wait ("live") before backfill pages and upcoming
// invoices ("bulk"), so a backfill at full budget delays a poll by one slot (20 ms at 50/s) rather
// than a whole window.
//
// Why not execEvenly alone: it spaces consumptions by msBeforeNext/(remaining+2), so fifty workers
// that reach a fresh window together are admitted within its first few hundred milliseconds, a
// burst of twice the rate. Local pacing gives even spacing in one process; Redis bounds the sum of
// all processes. When Redis is unreachable an in-memory limiter with the same rate stands in
// (`insuranceLimiter`), so an outage slows nothing and never exceeds the budget of one process.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Logger } from '../platform/log.ts';
import type { Redis } from '../platform/redis.ts';

/** live: polls and /wait; serial: lists that cannot be cut into ranges (they set the backfill's end); bulk: the rest. */
export type Priority = 'live' | 'serial' | 'bulk';

export interface RequestBudget {
  /** Resolves when one request may be sent now. */
  acquire(priority?: Priority): Promise<void>;
  readonly maxRps: number;
  stats(): { granted: number; waiting: number };
  close(): void;
}

export interface BudgetOptions {
  /** Shared counter; without it the budget holds for this process only. */
  redis?: Redis;
  /** The account the budget belongs to (Stripe limits are per account); never a key. */
  key: string;
  /** Requests a second; 0 = unlimited. */
  maxRps: number;
  logger?: Logger;
  keyPrefix?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createRequestBudget(options: BudgetOptions): RequestBudget {
  const { maxRps } = options;
  let granted = 0;
  if (maxRps <= 0) {
    return {
      maxRps,
      async acquire() {
        granted++;
      },
      stats: () => ({ granted, waiting: 0 }),
      close() {},
    };
  }
  const keyPrefix = options.keyPrefix ?? 'ledgerline:stripe-sync:budget';
  const memory = new RateLimiterMemory({ points: maxRps, duration: 1, keyPrefix });
  const limiter: RateLimiterAbstract = options.redis
    ? new RateLimiterRedis({ storeClient: options.redis, points: maxRps, duration: 1, keyPrefix, rejectIfRedisNotReady: true, insuranceLimiter: memory })
    : memory;
  const spacing = 1000 / maxRps;
  const queues: Record<Priority, Array<() => void>> = { live: [], serial: [], bulk: [] };
  let running = false;
  let closed = false;
  let nextSlot = 0;
  let warned = false;

  async function loop(): Promise<void> {
    running = true;
    try {
      while (!closed && (queues.live.length || queues.serial.length || queues.bulk.length)) {
        const wait = nextSlot - performance.now();
        if (wait > 0) await sleep(wait);
        try {
          await limiter.consume(options.key, 1);
        } catch (err) {
          if (err instanceof RateLimiterRes) {
            // This window is spent (other processes share it): wait for the next one.
            await sleep(Math.max(1, err.msBeforeNext));
          } else {
            if (!warned) options.logger?.warn({ err }, 'request budget: Redis limiter failed; pacing locally');
            warned = true;
            await sleep(spacing);
          }
          continue;
        }
        nextSlot = Math.max(performance.now(), nextSlot + spacing);
        granted++;
        const next = queues.live.shift() ?? queues.serial.shift() ?? queues.bulk.shift();
        next?.();
      }
    } finally {
      running = false;
    }
  }

  return {
    maxRps,
    acquire(priority: Priority = 'bulk') {
      return new Promise<void>((resolve) => {
        queues[priority].push(resolve);
        if (!running) void loop();
      });
    },
    stats: () => ({ granted, waiting: queues.live.length + queues.serial.length + queues.bulk.length }),
    close() {
      closed = true;
      for (const q of [queues.live, queues.serial, queues.bulk]) q.splice(0).forEach((resolve) => resolve());
    },
  };
}
