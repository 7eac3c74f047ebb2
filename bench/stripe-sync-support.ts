// Shared by the stripe-sync benches: an emulator in its own process (latency 250 ms ± 50, rate
// limit 100/s), a throwaway schema, and the engine in this process.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { loadConfig, readServicesEnv } from '../src/platform/config.ts';
import { createSql, type Sql } from '../src/platform/db.ts';
import { createLogger } from '../src/platform/log.ts';
import { migrate } from '../src/platform/migrations.ts';
import { startStripeSync, type StartedSync } from '../src/stripe-sync/command.ts';
import { syncSettings } from '../src/stripe-sync/settings.ts';

if (process.argv[2] === 'emulator-child') {
  const { startStripeEmulator } = await import('../src/stripe-emulator/index.ts');
  const emulator = await startStripeEmulator({ customers: Number(process.argv[3]), seed: 1, latency: '250ms±50ms', rateLimit: 100 });
  process.send!({ url: emulator.url, apiKey: emulator.apiKey });
}

export interface BenchSetup {
  emulator: { url: string; apiKey: string };
  sql: Sql;
  schema: string;
  sync: StartedSync;
  close(): Promise<void>;
}

export async function startBench(customers: number, env: Record<string, string> = {}): Promise<BenchSetup> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['emulator-child', String(customers)]);
  const emulator = await new Promise<{ url: string; apiKey: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as never));
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  const databaseUrl = process.env.DATABASE_URL ?? readServicesEnv().DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is not set (ledgerline services up)');
  const sql = createSql(databaseUrl, { applicationName: 'bench-stripe-sync', max: 8 });
  const schema = `bench_sync_${randomBytes(3).toString('hex')}`;
  await migrate(sql, { parts: ['stripe-sync'], variables: { 'stripe-sync': { schema } } });
  const config = loadConfig(syncSettings, {}, {
    DATABASE_URL: databaseUrl,
    REDIS_URL: process.env.REDIS_URL ?? readServicesEnv().REDIS_URL ?? 'redis://127.0.0.1:6379',
    STRIPE_KEY: `acct_bench_${randomBytes(3).toString('hex')}=${emulator.apiKey}`,
    STRIPE_API_BASE: emulator.url,
    STRIPE_SYNC_SCHEMA: schema,
    STRIPE_SYNC_MAX_RPS: '50',
    STRIPE_SYNC_POLL_INTERVAL: '500ms',
    STRIPE_SYNC_PER_PARENT: 'none',
    STRIPE_SYNC_PROGRESS: 'off',
    STRIPE_SYNC_UPCOMING_INVOICES: 'off',
    STRIPE_SYNC_RECONCILE_INTERVAL: '0',
    STRIPE_SYNC_PORT: String(20000 + Math.floor(Math.random() * 20000)),
    ...env,
  });
  const sync = await startStripeSync('run', config, { logger: createLogger({ name: 'bench', level: 'warn' }), sql });
  await sync.done;
  return {
    emulator,
    sql,
    schema,
    sync,
    async close() {
      await sync.stop();
      child.kill();
      await sql.unsafe(`drop schema if exists ${schema} cascade`);
      await sql`delete from ledgerline.schema_migrations where part = ${`stripe-sync(schema=${schema})`}`.catch(() => {});
      await sql.end();
    },
  };
}

export async function stripe(emulator: { url: string; apiKey: string }, method: 'GET' | 'POST', path: string, params: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const body = new URLSearchParams(params).toString();
  const response = await fetch(`${emulator.url}${path}${method === 'GET' && body ? `?${body}` : ''}`, {
    method,
    headers: { authorization: `Bearer ${emulator.apiKey}`, ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    body: method === 'POST' ? body : undefined,
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status}`);
  return json;
}

export const loadAverage = async () => {
  const { loadavg, cpus } = await import('node:os');
  return `load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`;
};
