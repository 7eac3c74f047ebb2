// Kafka engine (@platformatic/kafka).
//
// Same-key messages go to the same partition (the key is the Kafka key), and each consumer
// handles its messages one after another, so a key's order holds across the group. Offsets are
// committed only after the handler succeeds; a consumer that dies leaves the offset where it
// was, and the partition's next owner starts from there. After every rebalance we read from a
// fresh stream that starts at the committed offsets, so prefetched messages of a partition that
// moved are never handled out of order.
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
import { backoffMs, DEFAULT_RETRY, encodeValue, type RetryPolicy } from './shared.ts';
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

  async function subscribe({ group, topics, handler }: SubscribeOptions): Promise<Subscription> {
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

    async function commit(c: Consumer<string, string, string, string>, m: KMessage): Promise<void> {
      for (let attempt = 0; ; attempt++) {
        try {
          await c.commit({ offsets: [{ topic: m.topic, partition: m.partition, offset: m.offset + 1n, leaderEpoch: m.leaderEpoch }] });
          return;
        } catch (err) {
          // Not committed: the message comes again from the partition's next reader.
          if (closing || c.generationId !== generation) return;
          slog.warn({ err, topic: m.topic, partition: m.partition }, 'commit failed; retrying');
          await sleep(backoffMs(attempt, retry), abort.signal);
        }
      }
    }

    /** Runs the handler until it succeeds (no skipping ahead in the partition), then commits. */
    async function deliver(c: Consumer<string, string, string, string>, m: KMessage): Promise<void> {
      const id = m.headers.get(ID_HEADER) ?? `${m.topic}:${m.partition}:${m.offset}`;
      for (let attempt = 0; ; attempt++) {
        // Closing, or the partition may have moved: leave the message uncommitted.
        if (closing || c.generationId !== generation) return;
        try {
          const message: BusMessage = {
            id,
            topic: m.topic.slice(prefix.length),
            key: m.key ?? '',
            value: JSON.parse(m.value ?? 'null'),
            publishedAt: Number(m.headers.get(PUBLISHED_AT_HEADER) ?? m.timestamp),
            deliveryCount: attempt + 1,
          };
          await handler(message);
        } catch (err) {
          slog.warn({ err, id, attempt }, 'handler failed; will retry');
          await sleep(backoffMs(attempt, retry), abort.signal);
          continue;
        }
        return commit(c, m);
      }
    }

    async function pump(): Promise<void> {
      const c = consumer;
      if (!c || !stream) throw new Error('consumer not open');
      let messages = stream[Symbol.asyncIterator]();
      while (!closing) {
        const next = await messages.next();
        if (closing) return;
        if (next.done) throw new Error('message stream ended');
        if (c.generationId !== generation) {
          // Rebalanced: drop the prefetched messages and restart from the committed offsets.
          // The new stream is opened before the old one closes so the group is not rejoined.
          slog.debug({ generation: c.generationId }, 'rebalanced; restarting from the committed offsets');
          const fresh = await c.consume(consumeOptions);
          stream.destroy();
          stream = fresh;
          generation = c.generationId;
          messages = stream[Symbol.asyncIterator]();
          continue;
        }
        await deliver(c, next.value);
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
