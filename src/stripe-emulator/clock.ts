// The emulator's clock: real time from a chosen start, moved forward by POST /_emulator/clock.
// It stamps `created` on new objects and bounds the 30-day window of /v1/events. Like Stripe's
// test clocks it only moves forward, so new objects are always the newest.
import { invalid } from './errors.ts';

export interface Clock {
  /** Unix seconds. */
  now(): number;
  advance(seconds: number): number;
  set(unixSeconds: number): number;
}

export function createClock(start: number = Math.floor(Date.now() / 1000), realNow: () => number = Date.now): Clock {
  const realStart = realNow();
  let offset = 0;
  const now = () => Math.floor(start + offset + (realNow() - realStart) / 1000);
  return {
    now,
    advance(seconds) {
      if (!Number.isFinite(seconds) || seconds < 0) throw invalid('advance_seconds must be a non-negative number', 'advance_seconds');
      offset += Math.floor(seconds);
      return now();
    },
    set(unixSeconds) {
      if (!Number.isInteger(unixSeconds)) throw invalid('now must be a unix timestamp in seconds', 'now');
      const current = now();
      if (unixSeconds < current) throw invalid(`The clock only moves forward: ${unixSeconds} is before ${current}`, 'now');
      offset += unixSeconds - current;
      return now();
    },
  };
}
