// The outbox relay: final outcomes are written to the `outbox` stream by the same script that
// records them, and relayed from there to the bus topic payments.outcomes (key = payer_id,
// message id = tracking_id). A consumer group shares the stream among the relays of every worker;
// an entry is acknowledged and deleted only after the bus accepted it, so a relay that crashes
// after publishing re-sends (consumers dedupe on the message id) and a bus that is down only
// delays outcomes. Entries of a dead relay are claimed by the others after `claimIdleMs`.
import type { Bus } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { Redis } from '../platform/redis.ts';
import { paymentKeys } from './keys.ts';
import { OUTCOMES_TOPIC, toOutcomeMessage } from './outcomes.ts';
import { sleep } from '../platform/timeout.ts';
import { retryDelayMs } from './retry-scheduler.ts';

export interface OutboxRelayOptions {
  redis: Redis;
  prefix: string;
  bus: Bus;
  /** Unique per process (the worker id). */
  consumer: string;
  logger: Logger;
  batchSize?: number;
  /** Pending entries idle this long belong to a dead relay and are taken over (default 30 s). */
  claimIdleMs?: number;
  blockMs?: number;
}

export interface OutboxRelay {
  stop(): Promise<void>;
}

const GROUP = 'relay';

// KEYS[1] stream; ARGV group, me, idle ms. Forgets consumers of past processes with nothing pending.
const PRUNE = `
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info.name ~= ARGV[2] and info.pending == 0 and info.idle > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info.name)
  end
end
return 0`;

type Entry = [id: string, fields: string[]];

export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { redis, bus, consumer } = options;
  const log = options.logger.child({ component: 'outbox-relay' });
  const stream = paymentKeys(options.prefix).outbox;
  const batchSize = options.batchSize ?? 500;
  const claimIdleMs = options.claimIdleMs ?? 30_000;
  const blockMs = options.blockMs ?? 1000;
  const blocking = redis.duplicate({ connectionName: `${consumer}:outbox`, enableAutoPipelining: false });
  blocking.on('error', () => {});

  await redis.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM').catch((err: Error) => {
    if (!err.message.includes('BUSYGROUP')) throw err;
  });

  let stopping = false;
  const abort = new AbortController();
  const stoppedSignal = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));

  /** Publishes a batch in order and then acknowledges it; throws (nothing acked) if the bus refuses. */
  async function relay(entries: Entry[]): Promise<void> {
    if (!entries.length) return;
    await Promise.all(
      entries.map(([, flat]) => {
        const f: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
        return bus.publish(OUTCOMES_TOPIC, f.key ?? '', toOutcomeMessage(f.value ?? '{}'), { id: f.id });
      }),
    );
    const ids = entries.map(([id]) => id);
    await redis.multi().xack(stream, GROUP, ...ids).xdel(stream, ...ids).exec();
  }

  async function claimAbandoned(): Promise<void> {
    for (let cursor = '0-0'; ; ) {
      const [next, entries] = (await redis.xautoclaim(stream, GROUP, consumer, claimIdleMs, cursor, 'COUNT', batchSize)) as [string, Entry[]];
      await relay(entries.filter((e) => e[1]));
      if (next === '0-0' || stopping) break;
      cursor = next;
    }
    await redis.eval(PRUNE, 1, stream, GROUP, consumer, 600_000);
  }

  async function run(): Promise<void> {
    // After an error we do not know what was acknowledged: our own pending entries go first.
    let ownPendingFirst = true;
    let lastClaim = 0;
    for (let errors = 0; !stopping; ) {
      try {
        if (Date.now() - lastClaim > claimIdleMs / 2) {
          await claimAbandoned();
          lastClaim = Date.now();
        }
        if (ownPendingFirst) {
          const r = (await redis.xreadgroup('GROUP', GROUP, consumer, 'COUNT', batchSize, 'STREAMS', stream, '0')) as [string, Entry[]][] | null;
          const entries = (r?.[0]?.[1] ?? []).filter((e) => e[1]);
          await relay(entries);
          if (entries.length < batchSize) ownPendingFirst = false;
        } else {
          const read = blocking.xreadgroup('GROUP', GROUP, consumer, 'COUNT', batchSize, 'BLOCK', blockMs, 'STREAMS', stream, '>') as Promise<[string, Entry[]][] | null>;
          read.catch(() => {});
          const r = await Promise.race([read, stoppedSignal.then(() => null)]);
          if (stopping) break;
          await relay(r?.[0]?.[1] ?? []);
        }
        errors = 0;
      } catch (err) {
        if (stopping) break;
        ownPendingFirst = true;
        const wait = retryDelayMs(++errors, { baseMs: 100, capMs: 10_000 });
        log.warn({ err, retryInMs: Math.round(wait) }, 'could not relay outcomes to the bus; they stay in the outbox');
        await sleep(wait, abort.signal);
      }
    }
  }

  const done = run().catch((err: unknown) => log.error({ err }, 'outbox relay crashed'));
  return {
    async stop() {
      stopping = true;
      abort.abort();
      blocking.disconnect();
      await done;
    },
  };
}
