// Stripe-like rate limits: a token bucket per API key for reads and another for writes (25/s
// each in test mode), and an optional cap on requests in flight per key. No library fitted
// (Fastify's rate limiter counts fixed windows, not buckets), and a bucket is a few lines.

export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly rate: number;
  readonly capacity: number;

  /** `rate` tokens a second, holding at most `capacity` (a one-second burst by default). */
  constructor(rate: number, capacity = rate, now = performance.now()) {
    this.rate = rate;
    this.capacity = capacity;
    this.tokens = capacity;
    this.last = now;
  }

  take(now = performance.now()): boolean {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export type LimitReason = 'global-rate' | 'global-concurrency';

export interface RateLimiterOptions {
  /** Requests a second per key, for reads and for writes separately; 0 turns rate limits off. */
  rate: number;
  /** Requests in flight per key; 0 means no limit. */
  concurrency: number;
}

export class RateLimiter {
  private readonly keys = new Map<string, { read: TokenBucket; write: TokenBucket; inFlight: number }>();
  readonly options: RateLimiterOptions;

  constructor(options: RateLimiterOptions) {
    this.options = options;
  }

  private state(key: string) {
    let s = this.keys.get(key);
    if (!s) this.keys.set(key, (s = { read: new TokenBucket(this.options.rate), write: new TokenBucket(this.options.rate), inFlight: 0 }));
    return s;
  }

  /** Admits a request (returning undefined) or says why not. An admitted request must call `release`. */
  admit(key: string, write: boolean, now = performance.now()): LimitReason | undefined {
    const { rate, concurrency } = this.options;
    if (rate <= 0 && concurrency <= 0) return undefined;
    const s = this.state(key);
    if (concurrency > 0 && s.inFlight >= concurrency) return 'global-concurrency';
    if (rate > 0 && !(write ? s.write : s.read).take(now)) return 'global-rate';
    s.inFlight++;
    return undefined;
  }

  release(key: string): void {
    const s = this.keys.get(key);
    if (s && s.inFlight > 0) s.inFlight--;
  }
}
