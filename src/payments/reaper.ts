// The reaper: a worker killed at any instant (kill -9) leaves its payments in its processing
// list; once its heartbeat expires, the list goes back to the head of the queue, atomically
// (lua/reap.lua). It runs in every worker and in the monitor.
import type { Logger } from '../platform/log.ts';
import { every, type Periodic } from './periodic.ts';
import type { Queue } from './queue.ts';

export function startReaper(options: { queue: Queue; intervalMs: number; logger: Logger; graceMs?: number }): Periodic {
  const { queue, logger } = options;
  // Dead workers are remembered this long, so a payment a late BLMOVE put in one's list is still found.
  const graceMs = options.graceMs ?? 3_600_000;
  return every(
    options.intervalMs,
    async () => {
      for (const [worker, payments] of await queue.reap(graceMs)) {
        logger.warn({ worker, payments }, 'worker lost: its payments are back in the queue');
      }
    },
    (err) => logger.warn({ err }, 'reaper pass failed; trying again'),
  );
}
