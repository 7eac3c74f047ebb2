// Shared by the payments benches: child worker processes, prefills, CPU readings.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Redis } from '../src/platform/redis.ts';
import { FINAL_STATUSES, paymentKeys } from '../src/payments/keys.ts';
import { createQueue } from '../src/payments/queue.ts';

/** Forks `file` with args; resolves once the child sends {type: 'ready'}. */
export function forkReady(file: string, args: string[], env: Record<string, string> = {}): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = fork(file, args, { env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const onExit = (code: number | null) => reject(new Error(`${file} ${args[0]} exited with ${code} before it was ready`));
    child.once('exit', onExit);
    child.on('message', (m: { type?: string }) => {
      if (m?.type === 'ready') {
        child.off('exit', onExit);
        resolve(child);
      }
    });
  });
}

export async function stopChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
        }),
    ),
  );
}

/** Polls `count()` until it reaches `target`; returns the elapsed ms since `started`. */
export async function waitFor(count: () => Promise<number>, target: number, started: number, timeoutMs = 300_000): Promise<number> {
  for (;;) {
    const n = await count();
    if (n >= target) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`timed out at ${n}/${target}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const ROLE_CHILD = new URL('./payments-role-child.ts', import.meta.url).pathname;

/**
 * Enqueues `n` payments through the real enqueue script, then parks the queue under another key;
 * returns `release` (puts it back, waking the blocked workers at once) and `finalCount`.
 */
export async function prefillLedgerline(redis: Redis, prefix: string, n: number) {
  const queue = createQueue(redis, prefix);
  const keys = paymentKeys(prefix);
  const pending: Promise<unknown>[] = [];
  for (let k = 0; k < n; k++) {
    pending.push(queue.enqueue({ payer_id: `payer${k % 1000}`, recipient_id: `recipient${k % 500}`, amount: 100 + (k % 9000), currency: 'USD' }));
    if (pending.length >= 2000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await redis.rename(keys.queue, `${prefix}parked`);
  return {
    release: () => redis.rename(`${prefix}parked`, keys.queue),
    finalCount: async () => (await Promise.all(FINAL_STATUSES.map((s) => redis.zcard(keys.outcomeSet(s))))).reduce((a, b) => a + b, 0),
  };
}

export const SEED_CHILD = new URL('./payments-seed-child.ts', import.meta.url).pathname;

/** `n` payments as the seed queues them (RPUSH of JSON), parked until `release`. */
export async function prefillSeed(redis: Redis, prefix: string, n: number) {
  for (let i = 0; i < n; i += 1000) {
    const p = redis.pipeline();
    for (let k = i; k < Math.min(n, i + 1000); k++) p.rpush(`${prefix}parked`, JSON.stringify({ tracking_id: k + 1, payer_id: `payer${k % 1000}`, recipient_id: `recipient${k % 500}`, amount: 100 + (k % 9000) }));
    await p.exec();
  }
  return {
    release: () => redis.rename(`${prefix}parked`, `${prefix}payments_to_be_processed`),
    finalCount: async () => (await redis.zcard(`${prefix}successful_txns`)) + (await redis.zcard(`${prefix}insufficient_funds_txns`)),
  };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** CPU seconds (user + system) a process has used so far (Linux /proc). */
export function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** CPU seconds Redis has used so far (INFO cpu). */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}
