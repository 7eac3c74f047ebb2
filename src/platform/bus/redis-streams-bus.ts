// Redis Streams engine.
//
// A topic is P partition streams (`<prefix>bus:<topic>:<p>`, p = hash(key) mod P). A consumer
// group's members share the partitions through leases (one owner per partition at a time), and
// the owner handles its partition's entries one after another, so same-key messages keep their
// order even with many consumers. A new owner first claims the partition's pending entries
// (XAUTOCLAIM) and handles them before new ones: that is how a message whose consumer died
// mid-handler is delivered again. Reads and acks are Lua scripts that check the lease first, so
// a consumer that lost its lease can neither ack nor pull entries into its own pending list.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { sleep } from '../timeout.ts';
import { backoffMs, DEFAULT_RETRY, deliveryOf, encodeValue, partitionOf, type RetryPolicy } from './shared.ts';
import type { Bus, BusMessage, PublishOptions, SubscribeOptions, Subscription } from './types.ts';

export interface RedisStreamsBusOptions {
  redisUrl: string;
  /** Prepended to every key. */
  prefix?: string;
  logger: Logger;
  clientId: string;
  /** Partition streams per topic; fixed (and stored in Redis) when a topic is first used. */
  partitions?: number;
  /** Approximate cap on entries kept per partition stream (XADD MAXLEN ~). */
  maxLen?: number;
  /** Partition lease and member heartbeat lifetime; a dead consumer's partitions move after this. */
  leaseMs?: number;
  /** How long an idle partition worker blocks waiting for new entries. */
  blockMs?: number;
  /** Entries read per round trip. */
  batchSize?: number;
  /** Backoff for handler retries and Redis errors. */
  retry?: RetryPolicy;
}

interface Entry {
  streamId: string;
  fields: Record<string, string>;
}

// KEYS[1] lease; ARGV me, ttl. Takes a free lease or extends our own.
const ACQUIRE = `
local owner = redis.call('get', KEYS[1])
if owner == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
if owner then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;
// KEYS[1] lease; ARGV me, ttl. Extends our lease; 0 when it expired or someone else holds it.
const RENEW = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0`;
// KEYS[1] lease; ARGV me.
const RELEASE = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`;
// KEYS[1] lease, KEYS[2] stream; ARGV me, group, entry ids. -1 when the lease is not ours (fencing).
const ACK = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end
return redis.call('xack', KEYS[2], ARGV[2], unpack(ARGV, 3))`;
// KEYS[1] lease, KEYS[2] stream; ARGV me, group, count, entry ids. Records an in-place retry in
// the delivery count: the ids still pending (a trimmed entry is gone), nil when the lease is not ours.
const RETRY = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return false end
local ids = {unpack(ARGV, 4)}
table.insert(ids, 'RETRYCOUNT')
table.insert(ids, ARGV[3])
table.insert(ids, 'JUSTID')
return redis.call('xclaim', KEYS[2], ARGV[2], ARGV[1], 0, unpack(ids))`;
// KEYS[1] lease, KEYS[2] stream; ARGV me, group, cursor, count.
// Moves the partition's pending entries (whoever had them) to us, with their delivery counts.
// nil when the lease is not ours.
const CLAIM = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return false end
local r = redis.call('xautoclaim', KEYS[2], ARGV[2], ARGV[1], 0, ARGV[3], 'COUNT', ARGV[4])
local entries = r[2]
local pending = {}
if #entries > 0 then
  pending = redis.call('xpending', KEYS[2], ARGV[2], entries[1][1], entries[#entries][1], #entries, ARGV[1])
end
return {r[1], entries, pending, r[3] or {}}`;
// KEYS[1] lease, KEYS[2] stream; ARGV me, group, count.
// New entries: {entries}; none: {{}, last id} to block on with a plain XREAD. nil when not ours.
const READ = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return false end
local r = redis.call('xreadgroup', 'GROUP', ARGV[2], ARGV[1], 'COUNT', ARGV[3], 'STREAMS', KEYS[2], '>')
if r then return {r[1][2]} end
local last = redis.call('xrevrange', KEYS[2], '+', '-', 'COUNT', 1)[1]
return {{}, last and last[1] or '0-0'}`;
// KEYS[1] stream; ARGV group, keep. Drops group consumers with nothing pending (other than `keep`)
// so consumer names of past processes do not pile up.
const PRUNE_CONSUMERS = `
for _, c in ipairs(redis.call('xinfo', 'consumers', KEYS[1], ARGV[1])) do
  if c[2] ~= ARGV[2] and c[4] == 0 then redis.call('xgroup', 'delconsumer', KEYS[1], ARGV[1], c[2]) end
end
return 0`;
// KEYS[1] stream; ARGV group, me. Removes us from the group when nothing of ours is pending.
const LEAVE = `
if #redis.call('xpending', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('xgroup', 'delconsumer', KEYS[1], ARGV[1], ARGV[2])
end
return 0`;
// KEYS[1] topics hash; ARGV topic, default partitions.
const PARTITIONS = `
redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2])
return redis.call('hget', KEYS[1], ARGV[1])`;

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

function toFields(flat: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!Array.isArray(flat)) return fields;
  for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
  return fields;
}

function toEntries(raw: unknown): Entry[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((e) => {
    const [streamId, flat] = e as [string, unknown];
    return { streamId: String(streamId), fields: toFields(flat) };
  });
}

export function createRedisStreamsBus(options: RedisStreamsBusOptions): Bus {
  const { prefix = '', clientId } = options;
  const defaultPartitions = options.partitions ?? 4;
  const maxLen = options.maxLen ?? 1_000_000;
  const leaseMs = options.leaseMs ?? 10_000;
  const blockMs = options.blockMs ?? 2_000;
  const batchSize = options.batchSize ?? 50;
  const retry = options.retry ?? DEFAULT_RETRY;
  const log = options.logger.child({ component: 'bus', engine: 'redis' });

  // Commands only; every blocking read gets its own connection (see startWorker).
  const redis = new Redis(options.redisUrl, { connectionName: `${clientId}:bus` });
  // ioredis reconnects by itself; report an outage once, not every reconnect attempt.
  let connected = false;
  let lost = false;
  redis.on('ready', () => {
    if (lost) log.info('reconnected to redis');
    connected = true;
    lost = false;
  });
  redis.on('error', (err) => {
    if (connected) log.warn({ err }, 'redis connection lost; reconnecting');
    else log.debug({ err }, 'redis connection error');
    lost ||= connected;
    connected = false;
  });

  const streamKey = (topic: string, p: number) => `${prefix}bus:${topic}:${p}`;
  const leaseKey = (topic: string, p: number, group: string) => `${prefix}bus:${topic}:${p}:lease:${group}`;
  const membersKey = (topic: string, group: string) => `${prefix}bus:${topic}:members:${group}`;
  const topicsKey = `${prefix}bus:topics`;

  const partitionCounts = new Map<string, Promise<number>>();
  function partitionsOf(topic: string): Promise<number> {
    let count = partitionCounts.get(topic);
    if (!count) {
      count = redis.eval(PARTITIONS, 1, topicsKey, topic, defaultPartitions).then(Number);
      count.catch(() => partitionCounts.delete(topic));
      partitionCounts.set(topic, count);
    }
    return count;
  }

  async function ensureGroup(stream: string, group: string): Promise<void> {
    // From id 0: messages published before the group's first subscriber are not lost.
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM').catch((err: unknown) => {
      if (!errorText(err).includes('BUSYGROUP')) throw err;
    });
  }

  const subscriptions = new Set<Subscription>();

  async function subscribe(options: SubscribeOptions): Promise<Subscription> {
    const { group, topics } = options;
    const { handle, maxBatch } = deliveryOf(options);
    const me = `${clientId}:${randomUUID().slice(0, 8)}`;
    const slog = log.child({ group, consumer: me });
    const counts = new Map<string, number>();
    for (const topic of topics) {
      const n = await partitionsOf(topic);
      counts.set(topic, n);
      for (let p = 0; p < n; p++) await ensureGroup(streamKey(topic, p), group);
    }

    interface Worker {
      topic: string;
      p: number;
      /** Local bound on the lease: past it another consumer may own the partition. */
      validUntil: number;
      stopping: boolean;
      stop(reason: string): void;
      done: Promise<void>;
    }
    const workers = new Map<string, Worker>();
    let closing = false;

    function startWorker(topic: string, p: number, validUntil: number): Worker {
      const stream = streamKey(topic, p);
      const lease = leaseKey(topic, p, group);
      const wlog = slog.child({ topic, partition: p });
      const abort = new AbortController();
      // XREAD BLOCK would stall every other command on a shared connection.
      const blocking = redis.duplicate({ connectionName: `${clientId}:bus:block` });
      blocking.on('error', () => {}); // reported by the command connection

      const worker: Worker = {
        topic,
        p,
        validUntil,
        stopping: false,
        stop(reason) {
          if (worker.stopping) return;
          wlog.debug({ reason }, 'stopping partition worker');
          worker.stopping = true;
          abort.abort();
          blocking.disconnect();
        },
        done: Promise.resolve(),
      };
      const stopped = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
      const canRun = () => !worker.stopping && !closing && Date.now() < worker.validUntil;

      async function ack(entries: Entry[]): Promise<boolean> {
        for (let attempt = 0; ; attempt++) {
          try {
            const acked = await redis.eval(ACK, 2, lease, stream, me, group, ...entries.map((e) => e.streamId));
            if (acked === -1) worker.stop('lease lost before ack');
            return acked !== -1;
          } catch (err) {
            if (worker.stopping) return false;
            wlog.warn({ err, streamIds: entries.map((e) => e.streamId) }, 'ack failed; retrying');
            await sleep(backoffMs(attempt, retry), abort.signal);
          }
        }
      }

      /**
       * Runs the handler over consecutive entries until it succeeds (partition order: no skipping
       * ahead), then acknowledges them. false = stop.
       */
      async function deliver(run: Entry[], countOf: (streamId: string) => number): Promise<boolean> {
        let entries = run;
        for (let attempt = 0; ; attempt++) {
          if (!canRun()) return false;
          if (attempt > 0) {
            // So a later owner sees the true count. Best effort: a Redis error does not stop the retry.
            const ids = entries.map((e) => e.streamId);
            const still = await redis.eval(RETRY, 2, lease, stream, me, group, countOf(ids[0]!) + attempt, ...ids).catch(() => ids);
            if (still === null) {
              worker.stop('lease lost');
              return false;
            }
            if (Array.isArray(still) && still.length < entries.length) {
              const pending = new Set(still.map(String));
              wlog.error({ streamIds: ids.filter((id) => !pending.has(id)) }, 'pending entries were trimmed before they could be handled');
              entries = entries.filter((e) => pending.has(e.streamId));
              if (entries.length === 0) return true;
            }
          }
          try {
            const messages = entries.map(
              (entry): BusMessage => ({
                id: entry.fields.id ?? entry.streamId,
                topic,
                key: entry.fields.key ?? '',
                value: JSON.parse(entry.fields.value ?? 'null'),
                publishedAt: Number(entry.fields.publishedAt),
                deliveryCount: countOf(entry.streamId) + attempt,
              }),
            );
            await handle(messages);
          } catch (err) {
            wlog.warn({ err, ids: entries.map((e) => e.fields.id), attempt }, 'handler failed; will retry');
            await sleep(backoffMs(attempt, retry), abort.signal);
            continue;
          }
          return ack(entries);
        }
      }

      /** Hands the entries over in runs of at most maxBatch. false = stop. */
      async function deliverAll(entries: Entry[], countOf: (streamId: string) => number): Promise<boolean> {
        for (let i = 0; i < entries.length; i += maxBatch) {
          if (!(await deliver(entries.slice(i, i + maxBatch), countOf))) return false;
        }
        return true;
      }

      async function run(): Promise<void> {
        // Claim phase (cursor set): take over pending entries first; then new entries.
        let cursor: string | undefined = '0-0';
        for (let errors = 0; !worker.stopping; ) {
          if (!canRun()) return worker.stop('lease not renewed in time');
          try {
            if (cursor !== undefined) {
              const r = (await redis.eval(CLAIM, 2, lease, stream, me, group, cursor, Math.max(batchSize, maxBatch))) as
                | [string, unknown[], [string, string, number, number][], string[]]
                | null;
              if (!r) return worker.stop('lease lost');
              const [next, raw, pending, deleted] = r;
              if (deleted.length) wlog.error({ streamIds: deleted }, 'pending entries were trimmed before they were handled');
              const counts = new Map(pending.map(([id, , , n]) => [id, Number(n)]));
              if (!(await deliverAll(toEntries(raw), (id) => counts.get(id) ?? 1))) return;
              cursor = next === '0-0' ? undefined : next;
              if (cursor === undefined) await redis.eval(PRUNE_CONSUMERS, 1, stream, group, me);
            } else {
              const r = (await redis.eval(READ, 2, lease, stream, me, group, Math.max(batchSize, maxBatch))) as [unknown[], string?] | null;
              if (!r) return worker.stop('lease lost');
              const [raw, lastId] = r;
              const entries = toEntries(raw);
              if (!(await deliverAll(entries, () => 1))) return;
              if (entries.length === 0 && canRun()) {
                // Raced with stop: ioredis never settles a command queued while it reconnects
                // if the connection is then closed.
                const wait = blocking.xread('BLOCK', blockMs, 'STREAMS', stream, lastId ?? '$');
                wait.catch(() => {});
                await Promise.race([wait, stopped]);
              }
            }
            errors = 0;
          } catch (err) {
            if (worker.stopping) return;
            wlog.warn({ err }, 'partition worker error; retrying');
            if (errorText(err).includes('NOGROUP')) await ensureGroup(stream, group).catch(() => {});
            // After an error we cannot know what the last read delivered: start over from pending.
            cursor = '0-0';
            await sleep(backoffMs(errors++, retry), abort.signal);
          }
        }
      }

      worker.done = run()
        .catch((err: unknown) => wlog.error({ err }, 'partition worker crashed'))
        .finally(async () => {
          worker.stopping = true;
          blocking.disconnect();
          try {
            await redis.eval(LEAVE, 1, stream, group, me);
            await redis.eval(RELEASE, 1, lease, me);
          } catch (err) {
            wlog.warn({ err }, 'could not release partition lease (it will expire)');
          }
          workers.delete(`${topic}:${p}`);
        });
      return worker;
    }

    /** Heartbeat, renew our leases, shed partitions above our share, take free ones up to it. */
    async function balance(): Promise<void> {
      for (const topic of topics) {
        const n = counts.get(topic) ?? 1;
        const started = Date.now();
        const members = membersKey(topic, group);
        const replies = await redis
          .multi()
          .zadd(members, started + leaseMs, me)
          .zremrangebyscore(members, '-inf', started)
          .zcard(members)
          .exec();
        const live = Math.max(1, Number(replies?.[2]?.[1] ?? 1));
        const share = Math.ceil(n / live);

        const mine = [...workers.values()].filter((w) => w.topic === topic);
        for (const w of mine) {
          const renewed = await redis.eval(RENEW, 1, leaseKey(topic, w.p, group), me, leaseMs);
          if (renewed === 1) w.validUntil = started + leaseMs;
          else w.stop('lease expired');
        }
        const active = mine.filter((w) => !w.stopping);
        for (const w of active.slice(share)) w.stop('rebalance');

        let owned = Math.min(active.length, share);
        const offset = partitionOf(me, n);
        for (let i = 0; i < n && owned < share && !closing; i++) {
          const p = (offset + i) % n;
          if (workers.has(`${topic}:${p}`)) continue;
          if ((await redis.eval(ACQUIRE, 1, leaseKey(topic, p, group), me, leaseMs)) !== 1) continue;
          workers.set(`${topic}:${p}`, startWorker(topic, p, started + leaseMs));
          owned++;
        }
      }
    }

    let timer: NodeJS.Timeout | undefined;
    let balancing: Promise<void> = Promise.resolve();
    const tick = () => {
      balancing = balance()
        .catch((err: unknown) => slog.warn({ err }, 'partition balancing failed; retrying'))
        .finally(() => {
          if (!closing) timer = setTimeout(tick, leaseMs / 3);
        });
    };
    tick();
    await balancing;

    const subscription: Subscription = {
      async close() {
        if (closing) return;
        closing = true;
        clearTimeout(timer);
        await balancing;
        clearTimeout(timer);
        const all = [...workers.values()];
        for (const w of all) w.stop('close');
        // In-flight handlers finish (and ack); entries read but not handled stay pending.
        await Promise.all(all.map((w) => w.done));
        await Promise.all(topics.map((t) => redis.zrem(membersKey(t, group), me))).catch((err: unknown) =>
          slog.warn({ err }, 'could not leave the member set (it will expire)'),
        );
        subscriptions.delete(subscription);
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  return {
    engine: 'redis',
    async publish(topic: string, key: string, value: unknown, publishOptions?: PublishOptions): Promise<string> {
      const id = publishOptions?.id ?? randomUUID();
      const p = partitionOf(key, await partitionsOf(topic));
      await redis.xadd(streamKey(topic, p), 'MAXLEN', '~', maxLen, '*', 'id', id, 'key', key, 'value', encodeValue(value), 'publishedAt', Date.now());
      return id;
    },
    subscribe,
    async ping() {
      await redis.ping();
    },
    async close() {
      await Promise.all([...subscriptions].map((s) => s.close()));
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
