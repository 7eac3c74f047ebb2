// Spreading jobs that are all due at one instant (the article's 17:00 notifications) over a window
// around it, [due - window/2, due + window/2) — and finishing them inside it. The jitter spreads the
// load coarsely; the shared limiter then holds the exact rate (the article needed both: jitter
// alone still clustered, the limiter alone would queue a whole burst). But a job started at the
// window's last moment still waits for a limiter slot and then for its request, so it would end
// after the window: starts are spread over the window minus that drain time instead.
//
// The drain: the limiter (limiter.ts) lets N requests go in any moving second and spaces each
// process's own grants 1/N s apart. With P processes busy, the N grants of a second can all fall
// within (N-1)/(P·N) s, and the next slot frees one second after the first of them: a job that
// just missed them waits up to 1 - (N-1)/(P·N) s (1/N s for one process; 0.56 s for the Sunday
// burst's two at 8/s, where the first bench saw its jobs end up to 0.2 s late with no drain and
// 0.14 s late with 0.5 s), then one request. When the jobs need more requests (R, all processes
// together) than the limiter lets through in the window, the last one ends R/N s + drain after
// the window opened wherever the starts are: `fits` is false (the jobs still all run).

export interface JitteredJob<T> {
  dueAt: Date | number;
  run: () => Promise<T>;
}

export interface SpreadOptions {
  /** The window around the due time, e.g. 120_000 for 16:59–17:01. */
  windowMs: number;
  /** The limiter the jobs' requests go through: its rate across processes, and how many processes share it. */
  limiter?: { perSecond: number; processes?: number };
  /** Requests all jobs due at one instant send, across processes (fewer than jobs when batched); checks `fits`. */
  requests?: number;
  /** How long one request takes at the tail (default 250 ms). */
  requestMs?: number;
}

export interface SpreadPlan {
  /** Starts fall in [due - window/2, due - window/2 + spreadMs). */
  spreadMs: number;
  /** Time kept free at the window's end for the last jobs' limiter wait and request. */
  drainMs: number;
  /** Whether the last job is expected to end inside the window. */
  fits: boolean;
}

const DEFAULT_REQUEST_MS = 250;

export function planSpread(options: SpreadOptions): SpreadPlan {
  const { windowMs, limiter } = options;
  if (!(windowMs >= 0)) throw new Error('windowMs must be a number ≥ 0');
  if (limiter && !(limiter.perSecond > 0)) throw new Error('limiter.perSecond must be > 0');
  const n = limiter?.perSecond ?? 0;
  const slotWaitMs = limiter ? 1000 * (1 - (n - 1) / ((limiter.processes ?? 1) * n)) : 0;
  const drainMs = slotWaitMs + (options.requestMs ?? DEFAULT_REQUEST_MS);
  const throughLimiterMs = limiter && options.requests !== undefined ? (1000 * options.requests) / limiter.perSecond : 0;
  return { spreadMs: Math.max(0, windowMs - drainMs), drainMs, fits: drainMs < windowMs && throughLimiterMs + drainMs <= windowMs };
}

/**
 * How long from `now` until a job due at `dueAt` should start (0 when that moment has passed):
 * a uniform moment in [due - window/2, due - window/2 + spreadMs).
 */
export function jitteredDelayMs(dueAt: Date | number, windowMs: number, now = Date.now(), random = Math.random, spreadMs = windowMs): number {
  return Math.max(0, Number(dueAt) - windowMs / 2 + random() * spreadMs - now);
}

export interface ScheduledJobs<T> {
  /** Every job's outcome, in input order, once every job has run or been cancelled. */
  done: Promise<Array<PromiseSettledResult<T>>>;
  /** Drops the jobs that have not started; `done` then settles with what ran. */
  cancel(): void;
  plan: SpreadPlan;
}

export function scheduleJittered<T>(jobs: ReadonlyArray<JitteredJob<T>>, options: SpreadOptions & { random?: () => number }): ScheduledJobs<T> {
  const plan = planSpread(options);
  const timers: NodeJS.Timeout[] = [];
  const cancels: Array<() => void> = [];
  const runs = jobs.map(
    (job) =>
      new Promise<T>((resolve, reject) => {
        let started = false;
        const start = () => {
          started = true;
          job.run().then(resolve, reject);
        };
        timers.push(setTimeout(start, jitteredDelayMs(job.dueAt, options.windowMs, Date.now(), options.random, plan.spreadMs)));
        cancels.push(() => {
          if (!started) reject(new Error('cancelled before it started'));
        });
      }),
  );
  return {
    done: Promise.allSettled(runs),
    plan,
    cancel() {
      for (const t of timers) clearTimeout(t);
      for (const c of cancels) c();
    },
  };
}
