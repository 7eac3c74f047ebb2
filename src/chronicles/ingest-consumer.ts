// The bus consumer: it only enqueues. The bus hands it runs of each partition's messages (a
// batch handler, as Karafka hands its consumers batches); they wait in a small buffer, and
// whatever has gathered from every partition is written to Redis as jobs of up to
// `maxJobEntries` messages with one addBulk (MULTI/EXEC), and only then do the handlers resolve —
// so the bus acknowledges a message once its job is durably in Redis, never before. While one
// addBulk is in flight the next batch gathers: batches grow with load and cost nothing when idle.
//
// maxJobEntries = 1 is the article's path (Karafka → one Sidekiq job per message): each message
// is added as its own job, with its own round trip.
//
// Messages over `maxMessageBytes` are not carried whole: the job holds their size and head,
// and the worker dead-letters them with that reason.
import type { Queue } from 'bullmq';
import type { Bus, BusMessage, Subscription } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { RawMessage } from './message-mappings.ts';
import { INGEST_JOB, type IngestJobData } from './queues.ts';

export interface IngestConsumerOptions {
  bus: Bus;
  queue: Queue<IngestJobData>;
  group: string;
  topics: readonly string[];
  maxJobEntries: number;
  maxMessageBytes: number;
  logger: Logger;
  onEnqueued?: (messages: number, jobs: number) => void;
}

export interface IngestConsumer {
  close(): Promise<void>;
}

const HEAD_CHARS = 1024;

export function toRawMessage(message: BusMessage, maxMessageBytes: number): RawMessage {
  const base = { topic: message.topic, id: message.id, key: message.key, publishedAt: message.publishedAt };
  const text = JSON.stringify(message.value) ?? 'null';
  // Length in UTF-16 units is a lower bound of the UTF-8 size: measure bytes only near the limit.
  const bytes = text.length * 3 <= maxMessageBytes ? text.length : Buffer.byteLength(text, 'utf8');
  if (bytes > maxMessageBytes) return { ...base, oversize: { bytes, head: text.slice(0, HEAD_CHARS) } };
  return { ...base, value: message.value };
}

interface Waiting {
  messages: RawMessage[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export async function startIngestConsumer(options: IngestConsumerOptions): Promise<IngestConsumer> {
  const { queue, maxJobEntries, maxMessageBytes } = options;
  const log = options.logger.child({ component: 'chronicles-consumer' });
  let waiting: Waiting[] = [];
  let flushing = false;

  async function flush(): Promise<void> {
    while (waiting.length) {
      const batch = waiting;
      waiting = [];
      const messages = batch.flatMap((w) => w.messages);
      const jobs: Array<{ name: string; data: IngestJobData }> = [];
      for (let i = 0; i < messages.length; i += maxJobEntries) {
        jobs.push({ name: INGEST_JOB, data: { messages: messages.slice(i, i + maxJobEntries) } });
      }
      try {
        await queue.addBulk(jobs);
        options.onEnqueued?.(messages.length, jobs.length);
        for (const w of batch) w.resolve();
      } catch (err) {
        // The handlers throw: the bus keeps the messages and retries them with backoff.
        log.warn({ err }, 'could not enqueue ingest jobs');
        for (const w of batch) w.reject(err);
      }
    }
    flushing = false;
  }

  const batchHandler = (messages: BusMessage[]) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ messages: messages.map((m) => toRawMessage(m, maxMessageBytes)), resolve, reject });
      if (!flushing) {
        flushing = true;
        // Every partition whose run is being handled right now joins this batch.
        setImmediate(() => void flush());
      }
    });

  const subscribe = { group: options.group, topics: [...options.topics] };
  const subscription: Subscription =
    maxJobEntries === 1
      ? await options.bus.subscribe({
          ...subscribe,
          handler: async (message) => {
            await queue.add(INGEST_JOB, { messages: [toRawMessage(message, maxMessageBytes)] });
            options.onEnqueued?.(1, 1);
          },
        })
      : await options.bus.subscribe({ ...subscribe, batchHandler, maxBatch: maxJobEntries });
  log.info({ topics: options.topics, group: options.group, maxJobEntries }, 'chronicles consumer subscribed');
  return {
    async close() {
      await subscription.close();
    },
  };
}
