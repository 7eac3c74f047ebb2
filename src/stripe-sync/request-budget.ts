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
  // Slots a late loop may take at once: a fifth of a second's worth.
  const catchUp = Math.max(1, Math.round(maxRps / 5));
  const queues: Record<Priority, Array<() => void>> = { live: [], serial: [], bulk: [] };
  const waiting = () => queues.live.length + queues.serial.length + queues.bulk.length;
  let running = false;
  let closed = false;
  let nextSlot = 0;
  let warned = false;

  async function loop(): Promise<void> {
    running = true;
    // An idle budget saves up no slots.
    nextSlot = Math.max(nextSlot, performance.now());
    try {
      while (!closed && waiting()) {
        const wait = nextSlot - performance.now();
        if (wait > 0) await sleep(wait);
        // On a busy machine timers fire late and Redis answers late: the slots that passed
        // meanwhile are taken together (up to `catchUp`), so the rate holds. One slot a turn
        // would lose every slot the turn overran.
        const due = Math.min(waiting(), catchUp, 1 + Math.floor((performance.now() - nextSlot) / spacing));
        const results = await Promise.allSettled(Array.from({ length: due }, () => limiter.consume(options.key, 1)));
        let admitted = 0;
        let windowSpentMs = 0;
        for (const r of results) {
          if (r.status === 'fulfilled') admitted++;
          else if (r.reason instanceof RateLimiterRes) windowSpentMs = Math.max(windowSpentMs, r.reason.msBeforeNext);
          else if (!warned) {
            options.logger?.warn({ err: r.reason }, 'request budget: Redis limiter failed; pacing locally');
            warned = true;
          }
        }
        for (let i = 0; i < admitted; i++) (queues.live.shift() ?? queues.serial.shift() ?? queues.bulk.shift())?.();
        granted += admitted;
        nextSlot = Math.max(nextSlot + due * spacing, performance.now() - catchUp * spacing);
        if (windowSpentMs > 0) {
          // This window is spent (other processes share it): wait for the next one.
          await sleep(Math.max(1, windowSpentMs));
          nextSlot = performance.now();
        } else if (admitted < due) {
          await sleep(spacing);
        }
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
    stats: () => ({ granted, waiting: waiting() }),
    close() {
      closed = true;
      for (const q of [queues.live, queues.serial, queues.bulk]) q.splice(0).forEach((resolve) => resolve());
    },
  };
}
