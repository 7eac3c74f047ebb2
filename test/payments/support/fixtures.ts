// Shared by the payments tests: a unique key prefix per suite on the shared Redis, loggers (silent
// or capturing), polling, and in-process workers with the simulated processor.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { createLogger, type Logger } from '../../../src/platform/log.ts';
import { createRedis, type Redis } from '../../../src/platform/redis.ts';
import { createSimulatedProcessor } from '../../../src/payments/processors/simulated.ts';
import type { Processor } from '../../../src/payments/processors/types.ts';
import { parseMix } from '../../../src/payments/settings.ts';
import { startWorker, type Worker, type WorkerOptions } from '../../../src/payments/worker.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const uniquePrefix = (name: string) => `test:payments:${name}:${randomBytes(4).toString('hex')}:`;

export const silentLogger = createLogger({ name: 'payments-test', level: process.env.LOG_LEVEL ?? 'silent' });

export function testRedis(url = REDIS_URL): Redis {
  return createRedis(url, { name: 'payments-test', logger: silentLogger, enableAutoPipelining: true });
}

export interface CapturedLog {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A logger whose lines land in `lines` (pino JSON, parsed). */
export function capturingLogger(): { logger: Logger; lines: CapturedLog[] } {
  const lines: CapturedLog[] = [];
  const logger = createLogger({ name: 'payments-test', level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as CapturedLog) });
  return { logger, lines };
}

/** Polls until `check` returns a truthy value; fails after `timeoutMs` with the last value. */
export async function until<T>(check: () => Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const started = Date.now();
  let last: T;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function simulated(redis: Redis, prefix: string, mix = 'success=1', latencyMs = 0, seed = 1): Processor {
  const parsed = parseMix(mix);
  if (typeof parsed === 'string') throw new Error(parsed);
  return createSimulatedProcessor({ redis, prefix, mix: parsed, latency: { baseMs: latencyMs, jitterMs: 0 }, seed });
}

export function inProcessWorker(options: Partial<WorkerOptions> & Pick<WorkerOptions, 'redis' | 'prefix'>): Promise<Worker> {
  return startWorker({
    workerId: `w-${randomBytes(3).toString('hex')}`,
    processor: simulated(options.redis, options.prefix),
    concurrency: 50,
    maxAttempts: 5,
    retry: { baseMs: 10, capMs: 50 },
    ttlMs: 2000,
    logger: silentLogger,
    blockMs: 200,
    stopGraceMs: 5000,
    ...options,
  });
}

export const API_KEY = 'test-key-0123456789abcdef';
export const OTHER_KEY = 'other-key-0123456789abcdef';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** POSTs JSON over a keep-alive agent (several times cheaper per request than fetch). */
export function postJson(port: number, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; json: unknown }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
