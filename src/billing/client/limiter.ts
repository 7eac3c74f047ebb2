// The client's shared request limiter: at most `perSecond` billing requests in ANY one-second
// window, across every process that names the same limiter (the article's Sidekiq::Limiter
// "window" limiter: 8 requests per moving second, under the server's 10/s).
//
// rate-limiter-flexible has no sliding window: its Redis limiter is a fixed window that opens at
// the first hit and whose duration is whole seconds, so 8 points per 1 s lets 8 requests through
// at the end of one window and 8 more at the start of the next (16 in a moving second). A sliding
// window of N per second is exactly N slots that are each reusable one second after their last
// use: a request may go iff fewer than N went in the last second, iff some slot is free. So the
// limiter is N RateLimiterRedis keys of 1 point per 1 s (the library's atomic Lua, Redis' single
// clock for every process); a slot's key expires one second after it was taken.
// While Redis is unreachable each process falls back to the same slots in memory (the library's
// insurance limiter), so the bound becomes N per second per process rather than failing requests.
// Not while the connection is first being made, though: a process starting into a burst would
// otherwise spend its whole private budget before Redis counts anything.
// Each process also spaces its own grants 1/N s apart. The window alone allows N at once and then
// none for a second; a server that stalls briefly then receives two such bursts inside one of its
// windows (and answers 429). Spaced, a stall can only push a few requests together.
import { once } from 'node:events';
import pLimit from 'p-limit';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from '../../platform/redis.ts';

/** How long the first request waits for Redis to connect before falling back to memory. */
const FIRST_CONNECT_WAIT_MS = 5000;

export interface RequestLimiter {
  /** Resolves when a request may be sent (one slot taken). */
  acquire(): Promise<void>;
}

export interface SlidingWindowLimiterOptions {
  redis: Redis;
  perSecond: number;
  /** Processes using the same name share the budget (e.g. one per billing API key). */
  name: string;
}

export function createSlidingWindowLimiter(options: SlidingWindowLimiterOptions): RequestLimiter {
  const { perSecond } = options;
  if (!Number.isInteger(perSecond) || perSecond < 1) throw new Error('limiter.perSecond must be a positive integer');
  const slots = new RateLimiterRedis({
    storeClient: options.redis,
    keyPrefix: `billing-client:limiter:${options.name}`,
    points: 1,
    duration: 1,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ points: 1, duration: 1 }),
  });
  // One waiter per process asks Redis; the others queue here instead of polling it too.
  const oneAtATime = pLimit(1);
  let next = 0;
  let connected = false;
  const spacingMs = 1000 / perSecond;
  let lastGrant = 0;

  async function takeSlot(): Promise<void> {
    if (!connected && options.redis.status !== 'ready') {
      await Promise.race([once(options.redis, 'ready'), new Promise((resolve) => setTimeout(resolve, FIRST_CONNECT_WAIT_MS).unref())]);
    }
    connected = true;
    const early = lastGrant + spacingMs - Date.now();
    if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
    for (;;) {
      let waitMs = 1000;
      for (let i = 0; i < perSecond; i++) {
        const slot = (next + i) % perSecond;
        try {
          await slots.consume(String(slot));
          next = slot + 1;
          lastGrant = Date.now();
          return;
        } catch (res) {
          if (!(res instanceof RateLimiterRes)) throw res;
          waitMs = Math.min(waitMs, res.msBeforeNext);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, waitMs)));
    }
  }

  return { acquire: () => oneAtATime(takeSlot) };
}
