// Retention: final payments recorded more than `retentionMs` ago are removed — hash, sorted
// sets, txns, dead letter, api_errors and stats buckets — in batches, each batch one script
// (lua/purge.lua) so no payment is ever half-removed and Redis is never blocked for long. Runs in
// every worker and in the monitor; concurrent runs just find less to do.
import type { Logger } from '../platform/log.ts';
import { every, type Periodic } from './periodic.ts';
import type { Queue } from './queue.ts';

export function startRetention(options: { queue: Queue; retentionMs: number; intervalMs?: number; batch?: number; logger: Logger }): Periodic {
  const { queue, retentionMs, logger } = options;
  const batch = options.batch ?? 500;
  return every(
    options.intervalMs ?? 60_000,
    async () => {
      const cutoff = (await queue.now()) - retentionMs;
      let removed = 0;
      for (let n = batch; n === batch; removed += n) n = await queue.purgeFinalBefore(cutoff, batch);
      if (removed) logger.info({ removed, before: new Date(cutoff).toISOString() }, 'retention: old final payments removed');
    },
    (err) => logger.warn({ err }, 'retention pass failed; trying again'),
  );
}
