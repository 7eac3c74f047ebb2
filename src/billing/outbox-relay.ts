// `ledgerline billing relay`: publishes billing.outbox to the bus in id order, at least once.
//
// - One publisher at a time: the relay holds a session advisory lock on a reserved connection and
//   reads, publishes and marks through that same connection, so if the connection (and with it
//   the lock) is lost, its next statement fails and it goes back to waiting for the lock. Other
//   relays wait as hot standbys.
// - A row is marked published only after the bus acknowledged it; a relay killed in between
//   publishes it again with the same message id (the event id), which consumers dedupe on.
// - Within a batch, each key's events are published one after another in id order (keys in
//   parallel); the writer makes a key's ids follow commit order (records-writer.ts).
// - Wakes on NOTIFY billing_outbox (sent by every write) with a poll as fallback; published rows
//   are deleted after `retentionMs`, API idempotency keys after `idempotencyKeyRetentionMs` (the
//   relay is the billing role that runs once and periodically).
import type { Bus } from '../platform/bus/index.ts';
import type { Sql } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import { Counter, type Registry } from '../platform/metrics.ts';
import { sleep } from '../platform/timeout.ts';
import { OUTBOX_CHANNEL } from './records-writer.ts';

/** The relay's advisory lock is hashtext() of this name. */
const RELAY_LOCK = 'billing.outbox.relay';

export interface OutboxRelayOptions {
  sql: Sql;
  bus: Bus;
  logger: Logger;
  registry?: Registry;
  batchSize?: number;
  /** Fallback poll when no NOTIFY arrives (default 1 s); also how often a standby tries the lock. */
  pollIntervalMs?: number;
  /** Published rows older than this are deleted (default 24 h). */
  retentionMs?: number;
  /** Idempotency keys older than this are deleted (default 24 h): a later repeat creates anew. */
  idempotencyKeyRetentionMs?: number;
  pruneIntervalMs?: number;
}

export interface OutboxRelay {
  stop(): Promise<void>;
}

interface OutboxRow {
  id: string;
  event_id: string;
  topic: string;
  key: string;
  value: unknown;
}

export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { sql, bus } = options;
  const log = options.logger.child({ component: 'billing-relay' });
  const batchSize = options.batchSize ?? 500;
  const pollMs = options.pollIntervalMs ?? 1000;
  const retentionMs = options.retentionMs ?? 24 * 3_600_000;
  const keyRetentionMs = options.idempotencyKeyRetentionMs ?? 24 * 3_600_000;
  const pruneEveryMs = options.pruneIntervalMs ?? 60_000;
  const published = new Counter({ name: 'billing_outbox_published_total', help: 'outbox events published to the bus', registers: options.registry ? [options.registry] : [] });

  let stopping = false;
  const abort = new AbortController();
  // A NOTIFY that arrives while the relay is busy is remembered, so the nap after it is skipped.
  let notified = false;
  let wakeUp = () => {};
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      if (notified || stopping) {
        notified = false;
        return resolve();
      }
      const done = () => {
        clearTimeout(timer);
        abort.signal.removeEventListener('abort', done);
        wakeUp = () => {};
        notified = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakeUp = done;
      abort.signal.addEventListener('abort', done, { once: true });
    });
  const listener = await sql.listen(OUTBOX_CHANNEL, () => {
    notified = true;
    wakeUp();
  });

  async function publish(rows: OutboxRow[]): Promise<void> {
    const byKey = new Map<string, OutboxRow[]>();
    for (const row of rows) byKey.set(row.key, [...(byKey.get(row.key) ?? []), row]);
    await Promise.all(
      [...byKey.values()].map(async (keyed) => {
        for (const row of keyed) await bus.publish(row.topic, row.key, row.value, { id: row.event_id });
      }),
    );
  }

  async function holdAndRelay(): Promise<void> {
    const conn = await sql.reserve();
    try {
      while (!stopping) {
        const [got] = await conn<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtext(${RELAY_LOCK})) as ok`;
        if (got!.ok) break;
        await nap(pollMs);
      }
      if (stopping) return;
      log.info('holding the outbox lock: relaying');
      let lastPrune = 0;
      while (!stopping) {
        const rows = await conn<OutboxRow[]>`
          select id, event_id, topic, key, value from billing.outbox where published_at is null order by id limit ${batchSize}`;
        if (rows.length) {
          await publish(rows);
          await conn`update billing.outbox set published_at = now() where id = any(${rows.map((r) => r.id)}::bigint[])`;
          published.inc(rows.length);
          continue;
        }
        if (Date.now() - lastPrune > pruneEveryMs) {
          await conn`delete from billing.outbox where published_at < now() - ${`${retentionMs} milliseconds`}::interval`;
          await conn`delete from billing.idempotency_keys where created_at < now() - ${`${keyRetentionMs} milliseconds`}::interval`;
          lastPrune = Date.now();
        }
        await nap(pollMs);
      }
    } finally {
      // Unlocking is a courtesy (closing the connection releases it too); a dead connection cannot.
      await conn`select pg_advisory_unlock(hashtext(${RELAY_LOCK}))`.catch(() => {});
      conn.release();
    }
  }

  const done = (async () => {
    for (let errors = 0; !stopping; ) {
      try {
        await holdAndRelay();
        errors = 0;
      } catch (err) {
        if (stopping) break;
        const wait = Math.min(10_000, 100 * 2 ** Math.min(++errors, 10)) * Math.random();
        log.warn({ err, retryInMs: Math.round(wait) }, 'could not relay the outbox; events stay there');
        await sleep(wait, abort.signal);
      }
    }
  })();

  return {
    async stop() {
      stopping = true;
      abort.abort();
      await done;
      await listener.unlisten();
    },
  };
}
