// Runs a task every `intervalMs`, one run at a time, logging (not throwing) its errors.

export interface Periodic {
  /** Runs the task now (waiting for a run in progress first). */
  runNow(): Promise<void>;
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

export function every(intervalMs: number, task: () => Promise<void>, onError: (err: unknown) => void): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const run = () => {
    running = running.then(() => task().catch(onError));
    return running;
  };
  const tick = () => {
    void run().finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  timer = setTimeout(tick, intervalMs);
  return {
    runNow: run,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      clearTimeout(timer);
    },
  };
}
