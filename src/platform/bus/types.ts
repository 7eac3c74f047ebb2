// The event bus contract every engine implements (Kafka, Redis Streams).
// Delivery is at-least-once: a message is acknowledged only after its handler resolves, so a
// consumer that dies mid-handler gets the message again. Messages with the same key keep their
// publish order. `id` is stable across redeliveries so consumers can dedupe.

export interface BusMessage {
  /** Stable id for dedupe (given by the publisher, e.g. a tracking id, or generated once). */
  id: string;
  topic: string;
  key: string;
  /** JSON-serializable payload. */
  value: unknown;
  /** Epoch milliseconds when published. */
  publishedAt: number;
  /**
   * Delivery attempt, 1 on the first. Redis Streams counts every delivery to the group, including
   * redeliveries after a consumer died; Kafka counts only in-place retries of the current consumer
   * (after a crash or rebalance it starts again at 1), so treat it as a lower bound.
   */
  deliveryCount: number;
}

export interface PublishOptions {
  /** Stable message id; a random UUID when omitted. */
  id?: string;
}

export type MessageHandler = (message: BusMessage) => Promise<void>;
/** Consecutive messages of one partition, in order. */
export type BatchHandler = (messages: BusMessage[]) => Promise<void>;

interface SubscribeBase {
  /** Consumers sharing a group split the work; each group gets every message. */
  group: string;
  topics: string[];
}

export type SubscribeOptions = SubscribeBase &
  (
    | {
        /**
         * Resolves = acknowledged. Throws = retried in place with backoff, and later messages of the
         * same partition wait (order is kept), so a message that can never succeed blocks its partition.
         */
        handler: MessageHandler;
      }
    | {
        /**
         * Up to `maxBatch` messages of a partition at a time (whatever has arrived; never waits to
         * fill a batch), for consumers whose cost is per call rather than per message, as Karafka
         * hands its consumers batches. Resolves = all acknowledged; throws = the same batch retried
         * in place, the partition waiting behind it.
         */
        batchHandler: BatchHandler;
        /** Default 100. */
        maxBatch?: number;
      }
  );

export interface Subscription {
  /**
   * Stops consuming: waits for in-flight handlers to finish (a success is acknowledged), stops
   * retrying failed ones, and leaves every unacknowledged message for the group's other consumers.
   */
  close(): Promise<void>;
}

export interface Bus {
  readonly engine: 'kafka' | 'redis';
  publish(topic: string, key: string, value: unknown, options?: PublishOptions): Promise<string>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Resolves when the engine answers; rejects with the reason otherwise (used by /healthz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
