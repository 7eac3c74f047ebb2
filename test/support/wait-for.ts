// Waiting in tests: a plain sleep, and polling a probe until it yields a value or a timeout names what never came.
import { readServicesEnv } from '../../src/platform/config.ts';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every 50 ms until it returns something other than undefined or false. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The shared Redis of this run (scripts/test and `services up` write it to .data/services.env). */
export const redisUrl = () => process.env.REDIS_URL ?? readServicesEnv().REDIS_URL ?? 'redis://127.0.0.1:6379';
