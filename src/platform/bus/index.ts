// The event bus: Kafka when brokers are configured (KAFKA_BROKERS), Redis Streams otherwise.
// The chosen engine's module is imported on first use, not here: the Kafka client alone takes
// about half a second to load, which a process that uses Redis Streams (or no bus at all, or one
// restarted after a crash) should not pay.
import type { Logger } from '../log.ts';
import type { RetryPolicy } from './shared.ts';
import type { Bus } from './types.ts';

export type { BatchHandler, Bus, BusMessage, MessageHandler, PublishOptions, SubscribeOptions, Subscription } from './types.ts';
export type { RetryPolicy } from './shared.ts';

export interface CreateBusOptions {
  /** Comma-separated host:port list; selects the Kafka engine when non-empty. */
  kafkaBrokers?: string;
  redisUrl: string;
  /** Prepended to every stream key, topic and group (e.g. to isolate tests). */
  prefix?: string;
  logger: Logger;
  clientId: string;
  /** Partitions of topics created by the bus (default 4). */
  partitions?: number;
  /** Backoff for handler retries and reconnects. */
  retry?: RetryPolicy;
  /** Redis engine: partition lease lifetime (default 10 s) and stream cap (default 1,000,000). */
  redis?: { leaseMs?: number; blockMs?: number; maxLen?: number };
  /** Kafka engine: consumer session timeout (default 30 s). */
  kafka?: { sessionTimeoutMs?: number; heartbeatIntervalMs?: number; replicationFactor?: number };
}

export function createBus(options: CreateBusOptions): Bus {
  const { kafkaBrokers, redisUrl, prefix, logger, clientId, partitions, retry } = options;
  if (kafkaBrokers?.trim()) {
    return lazyBus('kafka', async () => (await import('./kafka-bus.ts')).createKafkaBus({ brokers: kafkaBrokers, prefix, logger, clientId, partitions, retry, ...options.kafka }));
  }
  return lazyBus('redis', async () => (await import('./redis-streams-bus.ts')).createRedisStreamsBus({ redisUrl, prefix, logger, clientId, partitions, retry, ...options.redis }));
}

/** A bus whose engine is created (its module imported) by the first call that needs it. */
function lazyBus(engine: Bus['engine'], load: () => Promise<Bus>): Bus {
  let loading: Promise<Bus> | undefined;
  const bus = () => (loading ??= load());
  return {
    engine,
    publish: async (topic, key, value, publishOptions) => (await bus()).publish(topic, key, value, publishOptions),
    subscribe: async (subscribeOptions) => (await bus()).subscribe(subscribeOptions),
    ping: async () => (await bus()).ping(),
    // Nothing to close when nothing was used.
    close: async () => (loading ? (await loading).close() : undefined),
  };
}
