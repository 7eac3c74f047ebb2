// Shared by the billing benchmarks: the bench database (ledgerline_bench_billing on the
// DATABASE_URL server, migrated and seeded once by `ledgerline billing seed`, left in place for the
// next run; drop it with `drop database ledgerline_bench_billing`), and the real
// `ledgerline billing api` started as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { loadavg, cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { readServicesEnv } from '../src/platform/config.ts';
import { createSql, type Sql } from '../src/platform/db.ts';
import { migrate } from '../src/platform/migrations.ts';
import { createDatabaseIfMissing } from '../src/platform/services/postgres.ts';
import { projectRoot } from '../src/platform/project-root.ts';
import { freePort } from '../test/support/ports.ts';

export const env = { ...readServicesEnv(), ...process.env } as Record<string, string>;
export const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const BENCH_DATABASE = 'ledgerline_bench_billing';

export function benchDatabaseUrl(): string {
  if (!env.DATABASE_URL) throw new Error('DATABASE_URL is not set (run `bash scripts/services up`)');
  const url = new URL(env.DATABASE_URL);
  url.pathname = `/${BENCH_DATABASE}`;
  return url.toString();
}

/** The bench database with at least `records` records (seeded over 10,000 products when short). */
export async function benchDatabase(records: number): Promise<Sql> {
  const url = new URL(env.DATABASE_URL!);
  url.pathname = '/postgres';
  await createDatabaseIfMissing(url.toString(), BENCH_DATABASE);
  const sql = createSql(benchDatabaseUrl(), { applicationName: 'billing-bench', max: 4 });
  await migrate(sql, { parts: ['platform', 'billing'], log: () => {} });
  const [row] = await sql<{ n: string }[]>`select count(*)::bigint as n from billing.records`;
  const have = Number(row!.n);
  if (have < records) {
    console.log(`seeding ${(records - have).toLocaleString('en')} records into ${BENCH_DATABASE} (ledgerline billing seed)…`);
    await run(['billing', 'seed', '--records', String(records - have), '--products', '10000'], { DATABASE_URL: benchDatabaseUrl() });
    await sql`analyze billing.records`;
  }
  return sql;
}

function run(args: string[], extraEnv: Record<string, string>): Promise<void> {
  const child = spawn(`${projectRoot}/bin/ledgerline`, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'inherit'] });
  return once(child, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`ledgerline ${args.join(' ')} exited ${code}`);
  });
}

export interface ApiChild {
  baseUrl: string;
  keys: string[];
  /** Requests the server answered, by route and status, from its /metrics. */
  requests(route: string, status?: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * `ledgerline billing api` on a free port. `rateLimit` is the server's per-key limit per second
 * (0 = none); `onLog` receives each JSON log line of the server (its access log).
 */
export async function startApi(options: { rateLimit?: number; keys?: number; onLog?: (line: Record<string, unknown>) => void; logLevel?: string }): Promise<ApiChild> {
  const port = await freePort();
  const keys = Array.from({ length: options.keys ?? 1 }, () => `bench-${randomBytes(12).toString('hex')}`);
  const child: ChildProcess = spawn(`${projectRoot}/bin/ledgerline`, ['billing', 'api'], {
    env: {
      ...env,
      DATABASE_URL: benchDatabaseUrl(),
      BILLING_API_PORT: String(port),
      BILLING_API_KEYS: keys.join(','),
      BILLING_INTERNAL_API_KEYS: `internal-${randomBytes(12).toString('hex')}`,
      ...(options.rateLimit === undefined ? {} : { BILLING_RATE_LIMIT: String(options.rateLimit) }),
      BILLING_API_DB_POOL: '16',
      LOG_LEVEL: options.logLevel ?? 'info',
      NODE_ENV: 'production',
    },
    // Without a reader the log goes nowhere (still written by the server, as in production).
    stdio: ['ignore', options.onLog ? 'pipe' : 'ignore', 'inherit'],
  });
  if (child.stdout) createInterface({ input: child.stdout }).on('line', (text) => {
    if (!options.onLog || !text.startsWith('{')) return;
    try {
      options.onLog(JSON.parse(text) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${baseUrl}/ping`)).ok) break;
    } catch {
      if (i > 300 || child.exitCode !== null) throw new Error('billing api did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    baseUrl,
    keys,
    async requests(route, status) {
      const text = await (await fetch(`${baseUrl}/metrics`)).text();
      let n = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith('http_request_duration_seconds_count{') || !line.includes(`route="${route}"`)) continue;
        if (status && !line.includes(`status="${status}"`)) continue;
        n += Number(line.split(' ').at(-1));
      }
      return n;
    },
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

export function machineLine(): string {
  return `machine: ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')} (a loaded 2-core box shared with other work; figures vary run to run)`;
}
