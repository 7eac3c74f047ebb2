// The event bus: Kafka when brokers are configured (KAFKA_BROKERS), Redis Streams otherwise.
import type { Logger } from '../log.ts';
import { createKafkaBus } from './kafka-bus.ts';
import { createRedisStreamsBus } from './redis-streams-bus.ts';
import type { RetryPolicy } from './shared.ts';
import type { Bus } from './types.ts';

export type { Bus, BusMessage, MessageHandler, PublishOptions, SubscribeOptions, Subscription } from './types.ts';
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
    return createKafkaBus({ brokers: kafkaBrokers, prefix, logger, clientId, partitions, retry, ...options.kafka });
  }
  return createRedisStreamsBus({ redisUrl, prefix, logger, clientId, partitions, retry, ...options.redis });
}
