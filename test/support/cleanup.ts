// What a test or bench leaves behind on shared servers: Redis keys and Kafka topics under its run's prefix.
import { Admin } from '@platformatic/kafka';
import type { Redis } from 'ioredis';

/** Deletes every key under these prefixes (SCAN + UNLINK). */
export async function dropKeys(redis: Redis, ...prefixes: string[]): Promise<void> {
  for (const prefix of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  }
}

/** Deletes the Kafka topics whose names start with `prefix`. */
export async function dropTopics(brokers: string, prefix: string): Promise<void> {
  const admin = new Admin({ clientId: 'bench-cleanup', bootstrapBrokers: brokers.split(',') });
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics });
  } finally {
    await admin.close();
  }
}
