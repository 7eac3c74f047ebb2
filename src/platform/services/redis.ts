// Redis 7+ for Ledgerline: REDIS_URL (default redis://127.0.0.1:6379) when it answers; otherwise
// a local redis-server with the append-only file on, under .data/redis.
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { redactSecrets } from '../redact.ts';
import type { ServiceStatus } from './status.ts';

const run = promisify(execFile);

export async function redisVersion(url: string, timeoutMs = 2000): Promise<string | undefined> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const info = await redis.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

async function redisServerOnPath(): Promise<boolean> {
  return run('redis-server', ['--version']).then(
    () => true,
    () => false,
  );
}

export interface RedisServerOptions {
  dir: string;
  port: number;
  /** Extra `--name value` arguments. */
  args?: string[];
}

/** Starts a daemonized redis-server with AOF on and waits until it answers. */
export async function startRedisServer(options: RedisServerOptions): Promise<void> {
  await mkdir(options.dir, { recursive: true });
  await run('redis-server', [
    '--daemonize', 'yes',
    '--bind', '127.0.0.1',
    '--port', String(options.port),
    '--dir', options.dir,
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--pidfile', join(options.dir, 'redis.pid'),
    '--logfile', join(options.dir, 'redis.log'),
    ...(options.args ?? []),
  ]);
  const url = `redis://127.0.0.1:${options.port}`;
  for (let i = 0; i < 100; i++) {
    if (await redisVersion(url, 500)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server on port ${options.port} did not answer; see ${join(options.dir, 'redis.log')}`);
}

export async function stopRedisServer(dir: string): Promise<void> {
  const pid = Number(await readFile(join(dir, 'redis.pid'), 'utf8').catch(() => ''));
  if (!pid) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function redisUp(options: { root: string; redisUrl: string; log?: (line: string) => void }): Promise<ServiceStatus> {
  const { redisUrl, log = () => {} } = options;
  const version = await redisVersion(redisUrl);
  if (version) {
    if (Number(version.split('.')[0]) < 7) throw new Error(`Redis at ${redactSecrets(redisUrl)} is ${version}; Ledgerline needs Redis 7 or newer`);
    return { name: 'redis', url: redactSecrets(redisUrl), managed: false, running: true, detail: `redis ${version}` };
  }
  if (!(await redisServerOnPath())) {
    throw new Error(
      `Redis does not answer at ${redactSecrets(redisUrl)} and redis-server is not installed. ` +
        'Install Redis 7+ (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`) or set REDIS_URL.',
    );
  }
  const port = Number(new URL(redisUrl).port || 6379);
  log(`starting redis-server on 127.0.0.1:${port} with AOF under .data/redis`);
  await startRedisServer({ dir: join(options.root, '.data', 'redis'), port });
  return { name: 'redis', url: redactSecrets(redisUrl), managed: true, running: true };
}

export async function redisDown(root: string): Promise<void> {
  await stopRedisServer(join(root, '.data', 'redis'));
}

export async function redisStatus(redisUrl: string): Promise<ServiceStatus> {
  const version = await redisVersion(redisUrl);
  return { name: 'redis', url: redactSecrets(redisUrl), managed: false, running: Boolean(version), ...(version ? { detail: `redis ${version}` } : {}) };
}
