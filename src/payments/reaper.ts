// The reaper: a worker killed at any instant (kill -9) leaves its payments in its processing
// list; once its heartbeat expires, the list goes back to the head of the queue, atomically
// (lua/reap.lua). A payment lost a second time waits a moment instead (staggered, so the
// payments lost together are not taken together again), and one delivered `maxDeliveries` times
// is a poison pill (it crashes whoever takes it): it goes to the dead letter instead of round
// again. It runs in every worker and in the monitor.
import type { Logger } from '../platform/log.ts';
import { every, type Periodic } from './periodic.ts';
import type { Queue } from './queue.ts';

export function startReaper(options: { queue: Queue; intervalMs: number; maxDeliveries: number; logger: Logger; graceMs?: number }): Periodic {
  const { queue, logger } = options;
  // Dead workers are remembered this long, so a payment a late BLMOVE put in one's list is still found.
  const graceMs = options.graceMs ?? 3_600_000;
  return every(
    options.intervalMs,
    async () => {
      const { moved, poisoned } = await queue.reap(graceMs, options.maxDeliveries);
      for (const [worker, payments] of moved) logger.warn({ worker, payments }, 'worker lost: its payments are back in the queue (or the retry set, if lost before)');
      if (poisoned.length) logger.error({ trackingIds: poisoned, maxDeliveries: options.maxDeliveries }, 'poison pills: payments whose workers kept dying, moved to the dead letter');
    },
    (err) => logger.warn({ err }, 'reaper pass failed; trying again'),
  );
}
