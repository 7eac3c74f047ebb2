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
  /** How many times this message has been delivered to the group (1 on first delivery, when the engine knows). */
  deliveryCount: number;
}

export interface PublishOptions {
  /** Stable message id; a random UUID when omitted. */
  id?: string;
}

export type MessageHandler = (message: BusMessage) => Promise<void>;

export interface SubscribeOptions {
  group: string;
  topics: string[];
  handler: MessageHandler;
}

export interface Subscription {
  /** Stops consuming; unacknowledged in-flight messages are delivered again later. */
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
