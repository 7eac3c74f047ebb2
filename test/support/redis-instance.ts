// A private redis-server (AOF on) for tests that stop and restart Redis; the shared one is left alone.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot } from '../../src/platform/project-root.ts';
import { startRedisServer, stopRedisServer } from '../../src/platform/services/redis.ts';
import { freePort } from './ports.ts';

export interface PrivateRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = join(projectRoot, '.data', 'tmp', `redis-${port}`);
  const start = () => startRedisServer({ dir, port });
  const stop = () => stopRedisServer(dir);
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
