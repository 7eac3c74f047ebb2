import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './log.ts';
import { redactSecrets } from './redact.ts';
import { withTimeout } from './timeout.ts';

export type { Redis };

export function createRedis(url: string, options: { name: string; logger?: Logger } & RedisOptions): Redis {
  const { name, logger, ...rest } = options;
  const redis = new Redis(url, { connectionName: name, lazyConnect: false, ...rest });
  // ioredis reconnects by itself; log once per outage rather than once per retry.
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) logger?.warn({ err: { message: redactSecrets(err.message) } }, `redis ${name} unavailable`);
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger?.info(`redis ${name} reconnected`);
    down = false;
  });
  return redis;
}

export async function pingRedis(redis: Redis, timeoutMs = 2000): Promise<void> {
  await withTimeout(redis.ping(), timeoutMs, 'redis did not answer');
}

/** Payments and queues live in Redis: say so loudly when it would lose them on restart. */
export async function warnIfNotPersistent(redis: Redis, logger: Logger): Promise<boolean> {
  const info = await redis.info('persistence');
  const aof = /aof_enabled:1/.test(info);
  if (!aof) logger.warn('Redis append-only file (AOF) is off: a Redis restart loses whatever was written since the last snapshot. Enable appendonly yes.');
  return aof;
}
