// Messages per second one bus subscriber handles: the Kafka engine beside the Redis Streams
// engine (the reference, one message in flight per partition), measured in the same run.
//
// Per engine and round: N messages over 64 keys are published to a fresh topic first (a
// backlog), then one subscriber drains it with a handler that makes one Redis round trip (a
// stand-in for a consumer's I/O). The rate is taken between 10 % and 90 % of the messages
// handled (start-up excluded); the figure is the median of the rounds.
//
// Usage: bash scripts/node bench/bus-throughput.ts [--messages 20000] [--rounds 3] [--partitions 4]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createBus } from '../src/platform/bus/index.ts';
import { readServicesEnv } from '../src/platform/config.ts';
import { createLogger } from '../src/platform/log.ts';
import { dropKeys, dropTopics } from '../test/support/cleanup.ts';
import { median } from './stats.ts';

const env = { ...readServicesEnv(), ...process.env };
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const kafkaBrokers = env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const logger = createLogger({ name: 'bus-bench', level: 'warn' });

const { values: args } = parseArgs({
  options: { messages: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' }, partitions: { type: 'string', default: '4' } },
});
const messages = Number(args.messages);
const rounds = Number(args.rounds);
const partitions = Number(args.partitions);

/** One round on one engine: publish the backlog, drain it, return messages/s. */
async function round(engine: 'kafka' | 'redis', io: Redis): Promise<number> {
  const prefix = `busbench-${randomUUID().slice(0, 8)}${engine === 'kafka' ? '.' : ':'}`;
  const options = { kafkaBrokers: engine === 'kafka' ? kafkaBrokers : undefined, redisUrl, prefix, logger, partitions };
  const publisher = createBus({ ...options, clientId: 'bench-publisher' });
  const consumer = createBus({ ...options, clientId: 'bench-consumer' });
  try {
    const topic = 'bench';
    for (let i = 0; i < messages; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, messages - i) }, (_, j) => publisher.publish(topic, `key-${(i + j) % 64}`, { n: i + j, pad: 'x'.repeat(200) })));
    }
    let handled = 0;
    let from = 0;
    let to = 0;
    const lo = Math.floor(messages * 0.1);
    const hi = Math.floor(messages * 0.9);
    const done = new Promise<void>((resolve) => {
      void consumer.subscribe({
        group: 'bench',
        topics: [topic],
        handler: async () => {
          await io.ping();
          handled++;
          if (handled === lo) from = performance.now();
          if (handled === hi) {
            to = performance.now();
            resolve();
          }
        },
      });
    });
    await done;
    return ((hi - lo) / (to - from)) * 1000;
  } finally {
    await Promise.allSettled([publisher.close(), consumer.close()]);
    if (engine === 'kafka') await dropTopics(kafkaBrokers, prefix);
    else await dropKeys(io, prefix);
  }
}

const io = new Redis(redisUrl);
const rates = { kafka: [] as number[], redis: [] as number[] };
for (let r = 0; r < rounds; r++) {
  for (const engine of ['redis', 'kafka'] as const) {
    const rate = await round(engine, io);
    rates[engine].push(rate);
    console.log(`round ${r + 1} ${engine.padEnd(5)} ${Math.round(rate)} messages/s`);
  }
}
await io.quit();
const kafka = median(rates.kafka);
const redis = median(rates.redis);
console.log(`\n${messages} messages, ${partitions} partitions, 64 keys, handler = one Redis round trip, median of ${rounds} rounds`);
console.log(`Kafka engine:         ${Math.round(kafka)} messages/s`);
console.log(`Redis Streams engine: ${Math.round(redis)} messages/s (reference)`);
console.log(`Kafka / Redis Streams: ${(kafka / redis).toFixed(2)}`);
