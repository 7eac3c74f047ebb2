// Kafka engine (@platformatic/kafka).
//
// Same-key messages go to the same partition (the key is the Kafka key). A subscriber handles
// its partitions concurrently, each strictly in order with one message (or one run, for a batch
// handler) in flight: a lane per partition, as in the Redis engine, so a key's order holds across
// the group. An offset is committed only after its handler succeeds, without waiting for the
// commit before the next message: the library batches the commits, and rebalance and close wait
// for them. A consumer that dies leaves the offsets where they were (handled messages whose
// commit had not landed come again, which at-least-once allows), and the partition's next owner
// starts from there. After every rebalance we read from a fresh stream that starts at the
// committed offsets, so prefetched messages of a partition that moved are never handled out of
// order.
import { randomUUID } from 'node:crypto';
import {
  Admin,
  compatibilityPartitioner,
  Consumer,
  findErrorBy,
  Producer,
  stringDeserializers,
  stringSerializers,
  type ConsumeOptions,
  type Message,
  type MessagesStream,
} from '@platformatic/kafka';
import type { Logger } from '../log.ts';
import { sleep } from '../timeout.ts';
import { backoffMs, DEFAULT_RETRY, deliveryOf, encodeValue, type RetryPolicy } from './shared.ts';
import type { Bus, BusMessage, PublishOptions, SubscribeOptions, Subscription } from './types.ts';

export interface KafkaBusOptions {
  /** Comma-separated host:port list (KAFKA_BROKERS). */
  brokers: string;
  /** Prepended to topic names and group ids. Kafka names allow only [a-zA-Z0-9._-]. */
  prefix?: string;
  logger: Logger;
  clientId: string;
  /** Partitions of topics the bus creates. */
  partitions?: number;
  /** Replication factor of topics the bus creates; -1 = the broker's default. */
  replicationFactor?: number;
  /** A consumer that stops heartbeating loses its partitions after this long. */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Backoff for handler retries and reconnects. */
  retry?: RetryPolicy;
}

type KMessage = Message<string, string, string, string>;
type KStream = MessagesStream<string, string, string, string>;

/** One consumer stream's partitions in flight; `live` turns false when they must stop. */
interface Round {
  consumer: Consumer<string, string, string, string>;
  generation: number;
  live: boolean;
  lanes: Map<string, Lane>;
  /** Resolves when the consumer rejoins the group (its partitions may have moved). */
  rejoined: Promise<typeof REJOINED>;
  dispose(): void;
}

/** A partition's fetched messages, handled one after another. */
interface Lane {
  queue: KMessage[];
  running: Promise<void> | undefined;
  /** Wakes the reader waiting for room in a full queue. */
  room: (() => void) | undefined;
}

/** Fetched messages held per partition before the reader waits for that partition. */
const LANE_CAPACITY = 256;

const REJOINED = Symbol('rejoined');
const ID_HEADER = 'bus-id';
const PUBLISHED_AT_HEADER = 'bus-published-at';

/** Resolves with the promise, or rejects after `ms` so shutdown cannot hang on a dead broker. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createKafkaBus(options: KafkaBusOptions): Bus {
  const { prefix = '', clientId } = options;
  const bootstrapBrokers = options.brokers.split(',').map((b) => b.trim()).filter(Boolean);
  const partitions = options.partitions ?? 4;
  const replicas = options.replicationFactor ?? -1;
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
  const heartbeatInterval = options.heartbeatIntervalMs ?? Math.min(3_000, Math.floor(sessionTimeout / 3));
  const retry = options.retry ?? DEFAULT_RETRY;
  const log = options.logger.child({ component: 'bus', engine: 'kafka' });
  const base = { clientId, bootstrapBrokers, retries: 5, retryDelay: 500 };

  const producer = new Producer({
    ...base,
    // Idempotence makes the broker drop retried duplicates and keep per-partition order; it implies acks=all.
    idempotent: true,
    serializers: stringSerializers,
    // Same key -> partition mapping as the Java client.
    partitioner: compatibilityPartitioner,
  });
  const admin = new Admin(base);
  for (const client of [producer, admin]) client.on('error', (err: Error) => log.warn({ err }, 'kafka client error'));

  const kafkaTopic = (topic: string) => `${prefix}${topic}`;
  const ensured = new Map<string, Promise<void>>();
  function ensureTopic(topic: string): Promise<void> {
    let done = ensured.get(topic);
    if (!done) {
      done = admin.createTopics({ topics: [topic], partitions, replicas }).then(
        () => undefined,
        (err: unknown) => {
          if (findErrorBy(err as Error, 'apiId', 'TOPIC_ALREADY_EXISTS')) return;
          ensured.delete(topic);
          throw err;
        },
      );
      ensured.set(topic, done);
    }
    return done;
  }

  const subscriptions = new Set<Subscription>();

  async function subscribe(options: SubscribeOptions): Promise<Subscription> {
    const { group, topics } = options;
    const { handle, maxBatch } = deliveryOf(options);
    const names = topics.map(kafkaTopic);
    await Promise.all(names.map(ensureTopic));
    const slog = log.child({ group });
    const consumeOptions: ConsumeOptions<string, string, string, string> = {
      topics: names,
      // Committed offsets, or the beginning for a new group: nothing published earlier is missed.
      mode: 'committed',
      fallbackMode: 'earliest',
      autocommit: false,
      sessionTimeout,
      heartbeatInterval,
      rebalanceTimeout: sessionTimeout * 2,
    };
    const abort = new AbortController();
    let closing = false;
    let consumer: Consumer<string, string, string, string> | undefined;
    let stream: KStream | undefined;
    /** Group generation the current stream's offsets belong to. */
    let generation = -1;

    async function open(): Promise<void> {
      const c = new Consumer({
        ...base,
        clientId: `${clientId}-${randomUUID().slice(0, 8)}`,
        groupId: `${prefix}${group}`,
        deserializers: stringDeserializers,
        autocommit: false,
        sessionTimeout,
        heartbeatInterval,
        rebalanceTimeout: sessionTimeout * 2,
        maxWaitTime: 1_000,
        highWaterMark: 128,
      });
      // A failed rejoin is reported here; end the stream so the loop rebuilds the consumer.
      c.on('error', (err: Error) => {
        slog.warn({ err }, 'consumer error');
        if (consumer === c) stream?.destroy(err);
      });
      consumer = c;
      try {
        stream = await c.consume(consumeOptions);
        generation = c.generationId;
      } catch (err) {
        await shut();
        throw err;
      }
    }

    async function shut(): Promise<void> {
      const c = consumer;
      consumer = undefined;
      stream?.destroy();
      stream = undefined;
      // force: close our streams and leave the group so the partitions move at once.
      if (c) await within(c.close(true), 10_000, 'consumer close').catch((err: unknown) => slog.warn({ err }, 'consumer close failed'));
    }

    /** Commits are not awaited by the lane (that would cost a round trip per message); close and rebalance wait for them. */
    const commits = new Set<Promise<void>>();
    let round: Round | undefined;

    /**
     * Queues the offset after `m` for commit. The library coalesces the commits of a stream: one
     * request in flight, and every offset queued meanwhile (the highest per partition) goes in the
     * next one. A failed commit is not retried here: the offset stays queued in the library for the
     * next flush, or the message comes again from the partition's next reader (at-least-once).
     */
    function commit(m: KMessage): void {
      const done: Promise<void> = Promise.resolve(m.commit())
        .catch((err: unknown) => slog.warn({ err, topic: m.topic, partition: m.partition }, 'commit failed'))
        .finally(() => commits.delete(done));
      commits.add(done);
    }

    /** Runs the handler over a partition's consecutive messages until it succeeds (no skipping ahead); false = stopped. */
    async function deliver(r: Round, run: KMessage[]): Promise<boolean> {
      const ids = run.map((m) => m.headers.get(ID_HEADER) ?? `${m.topic}:${m.partition}:${m.offset}`);
      for (let attempt = 0; ; attempt++) {
        // Closing, or the partition may have moved: leave the messages uncommitted.
        if (!live(r)) return false;
        try {
          const messages = run.map(
            (m, i): BusMessage => ({
              id: ids[i]!,
              topic: m.topic.slice(prefix.length),
              key: m.key ?? '',
              value: JSON.parse(m.value ?? 'null'),
              publishedAt: Number(m.headers.get(PUBLISHED_AT_HEADER) ?? m.timestamp),
              deliveryCount: attempt + 1,
            }),
          );
          await handle(messages);
        } catch (err) {
          slog.warn({ err, ids, attempt }, 'handler failed; will retry');
          await sleep(backoffMs(attempt, retry), abort.signal);
          continue;
        }
        return true;
      }
    }

    const live = (r: Round) => r.live && !closing && r.consumer.generationId === r.generation;

    /** Handles a partition's queued messages in order, up to maxBatch at a time; drops the rest once stopped. */
    async function drain(r: Round, lane: Lane): Promise<void> {
      while (lane.queue.length) {
        const run = lane.queue.slice(0, maxBatch);
        const handled = await deliver(r, run);
        lane.queue.splice(0, run.length);
        lane.room?.();
        if (!handled) break;
        // The last offset covers the run: Kafka commits a position, not single messages.
        commit(run.at(-1)!);
      }
      lane.queue.length = 0;
    }

    /** Lanes stop before their next message; a reader waiting for room wakes. */
    function halt(r: Round): void {
      r.live = false;
      for (const lane of r.lanes.values()) lane.room?.();
    }

    /** Stops the round's partitions: waits for in-flight handlers to finish and their commits to land. */
    async function stop(r: Round): Promise<void> {
      halt(r);
      r.dispose();
      await Promise.all([...r.lanes.values()].map((lane) => lane.running));
      await within(Promise.all(commits), 10_000, 'commits').catch((err: unknown) => slog.warn({ err }, 'commits did not land; their messages may come again'));
    }

    function startRound(c: Consumer<string, string, string, string>): Round {
      let onJoin!: () => void;
      const rejoined = new Promise<typeof REJOINED>((resolve) => (onJoin = () => resolve(REJOINED)));
      c.once('consumer:group:join', onJoin);
      return (round = { consumer: c, generation, live: true, lanes: new Map(), rejoined, dispose: () => c.off('consumer:group:join', onJoin) });
    }

    /**
     * Reads the stream and hands each message to its partition's lane: partitions are handled
     * concurrently, each strictly in order with one message in flight (like the Redis engine).
     */
    async function pump(): Promise<void> {
      const c = consumer;
      if (!c || !stream) throw new Error('consumer not open');
      let messages = stream[Symbol.asyncIterator]();
      let r = startRound(c);
      let reading: Promise<IteratorResult<KMessage>> | undefined;
      try {
        while (!closing) {
          // A rejoin wakes the reader even when no message comes (the lanes may hold messages
          // they dropped when the generation changed).
          reading ??= messages.next();
          const next = await Promise.race([reading, r.rejoined]);
          if (closing) return;
          if (next !== REJOINED) {
            reading = undefined;
            if (next.done) throw new Error('message stream ended');
          }
          if (next === REJOINED || c.generationId !== generation) {
            // Rebalanced: finish what is in flight, drop the prefetched messages and restart from
            // the committed offsets. The new stream is opened before the old one closes so the
            // group is not rejoined.
            slog.debug({ generation: c.generationId }, 'rebalanced; restarting from the committed offsets');
            await stop(r);
            const fresh = await c.consume(consumeOptions);
            reading?.catch(() => {});
            reading = undefined;
            stream.destroy();
            stream = fresh;
            generation = c.generationId;
            messages = stream[Symbol.asyncIterator]();
            r = startRound(c);
            continue;
          }
          const m = next.value;
          const key = `${m.topic}:${m.partition}`;
          let lane = r.lanes.get(key);
          if (!lane) r.lanes.set(key, (lane = { queue: [], running: undefined, room: undefined }));
          // A partition stuck on a failing message holds up the others only once its queue is full.
          while (lane.queue.length >= LANE_CAPACITY && r.live && !closing) await new Promise<void>((wake) => (lane.room = wake));
          if (!r.live || closing) return;
          lane.queue.push(m);
          const started = lane;
          started.running ??= drain(r, started).finally(() => (started.running = undefined));
        }
      } finally {
        reading?.catch(() => {});
        await stop(r);
      }
    }

    await open();
    const running = (async () => {
      for (let errors = 0; !closing; ) {
        try {
          if (!consumer) await open();
          await pump();
          errors = 0;
        } catch (err) {
          if (closing) break;
          slog.warn({ err }, 'consumer failed; reconnecting');
          await shut();
          await sleep(backoffMs(errors++, retry), abort.signal);
        }
      }
    })();

    const subscription: Subscription = {
      async close() {
        if (closing) return;
        closing = true;
        abort.abort();
        if (round) halt(round);
        // Wakes a loop waiting for messages; an in-flight handler still finishes and commits.
        stream?.destroy();
        await running;
        await shut();
        subscriptions.delete(subscription);
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  return {
    engine: 'kafka',
    async publish(topic: string, key: string, value: unknown, publishOptions?: PublishOptions): Promise<string> {
      const id = publishOptions?.id ?? randomUUID();
      const name = kafkaTopic(topic);
      await ensureTopic(name);
      await producer.send({
        messages: [{ topic: name, key, value: encodeValue(value), headers: { [ID_HEADER]: id, [PUBLISHED_AT_HEADER]: String(Date.now()) } }],
      });
      return id;
    },
    subscribe,
    async ping() {
      await admin.metadata({ topics: [] });
    },
    async close() {
      await Promise.all([...subscriptions].map((s) => s.close()));
      await Promise.allSettled([within(producer.close(), 10_000, 'producer close'), within(admin.close(), 10_000, 'admin close')]);
    },
  };
}
