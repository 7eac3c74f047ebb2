// Spreading jobs that are all due at one instant (the article's 17:00 notifications) over a window
// around it: each job starts at a uniformly random moment in [due - window/2, due + window/2). The
// jitter spreads the load coarsely; the shared limiter then holds the exact rate (the article
// needed both: jitter alone still clustered, the limiter alone would queue a whole burst).

export interface JitteredJob<T> {
  dueAt: Date | number;
  run: () => Promise<T>;
}

/** How long from `now` until a job due at `dueAt` should start (0 when that moment has passed). */
export function jitteredDelayMs(dueAt: Date | number, windowMs: number, now = Date.now(), random = Math.random): number {
  return Math.max(0, Number(dueAt) - windowMs / 2 + random() * windowMs - now);
}

export interface ScheduledJobs<T> {
  /** Every job's outcome, in input order, once every job has run or been cancelled. */
  done: Promise<Array<PromiseSettledResult<T>>>;
  /** Drops the jobs that have not started; `done` then settles with what ran. */
  cancel(): void;
}

export function scheduleJittered<T>(jobs: ReadonlyArray<JitteredJob<T>>, options: { windowMs: number; random?: () => number }): ScheduledJobs<T> {
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
        timers.push(setTimeout(start, jitteredDelayMs(job.dueAt, options.windowMs, Date.now(), options.random)));
        cancels.push(() => {
          if (!started) reject(new Error('cancelled before it started'));
        });
      }),
  );
  return {
    done: Promise.allSettled(runs),
    cancel() {
      for (const t of timers) clearTimeout(t);
      for (const c of cancels) c();
    },
  };
}
