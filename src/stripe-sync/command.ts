// `ledgerline stripe-sync run | backfill | status`, wired into src/cli.ts with
// registerStripeSyncCommand(program).
//   run       backfill if needed, then poll /v1/events for ever and serve /wait and /status
//   backfill  backfill (resuming an unfinished one), replay the events since, and exit
//   status    what the database says: backfill progress, event cursor and lag, rows per table
import type { Command } from 'commander';
import { addSettingOptions, loadConfig } from '../platform/config.ts';
import { createSql, pingPostgres, type Sql } from '../platform/db.ts';
import { createHttpServer, shutdownOnSignals } from '../platform/http-server.ts';
import { createLogger, type Logger } from '../platform/log.ts';
import { createMetricsRegistry, Gauge, type Registry } from '../platform/metrics.ts';
import { migrate } from '../platform/migrations.ts';
import { createRedis, pingRedis, type Redis } from '../platform/redis.ts';
import { SyncEngine } from './engine.ts';
import { statusSettings, syncSettings, type StatusConfig, type SyncConfig } from './settings.ts';
import { databaseStatus, engineStatus, registerStatusRoute, tableCounts } from './status.ts';
import { registerWaitRoute } from './wait-endpoint.ts';

export interface StartedSync {
  engine: SyncEngine;
  /** `run` only: the HTTP server's address. */
  url?: string;
  /** Resolves when `backfill` finishes; for `run`, when every account polls (caught up). */
  done: Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  registry?: Registry;
  /** Reuse a pool (tests); otherwise one is created and closed by stop(). */
  sql?: Sql;
}

/** Starts the engine for `run` or `backfill` (also used by tests and benches). */
export async function startStripeSync(role: 'run' | 'backfill', config: SyncConfig, options: StartOptions = {}): Promise<StartedSync> {
  const logger = options.logger ?? createLogger({ name: 'stripe-sync' });
  const registry = options.registry ?? createMetricsRegistry('stripe-sync');
  const ownSql = !options.sql;
  const sql = options.sql ?? createSql(config.databaseUrl, { applicationName: `ledgerline-stripe-sync-${role}`, max: 12 });
  // The budget fails over to in-process pacing when Redis is away, so commands must not queue.
  const redis: Redis = createRedis(config.redisUrl, { name: 'stripe-sync-budget', logger, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  if (config.migrate) await migrate(sql, { parts: ['stripe-sync'], variables: { 'stripe-sync': { schema: config.stripeSyncSchema } }, log: (line) => logger.info(line) });
  const engine = new SyncEngine(config, { sql, redis, logger, registry });
  let app: ReturnType<typeof createHttpServer> | undefined;
  let url: string | undefined;
  if (role === 'run') {
    app = createHttpServer({
      name: 'stripe-sync',
      logger,
      registry,
      checks: [
        { name: 'postgres', check: () => pingPostgres(sql) },
        { name: 'redis', check: () => pingRedis(redis) },
      ],
    });
    registerWaitRoute(app, engine);
    registerStatusRoute(app, engine, sql, config.stripeSyncSchema);
    registerMetrics(registry, engine);
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    url = `http://${config.host}:${typeof address === 'object' && address ? address.port : config.port}`;
    logger.info({ url }, 'stripe-sync listening (/wait, /status)');
  }
  const done = role === 'run' ? engine.run() : engine.backfill();
  done.catch(() => {});
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await app?.close();
      await engine.stop();
      redis.disconnect();
      if (ownSql) await sql.end({ timeout: 5 });
    })());
  return { engine, url, done, stop };
}

function registerMetrics(registry: Registry, engine: SyncEngine): void {
  new Gauge({
    name: 'stripe_sync_event_lag_seconds',
    help: 'Time since the start of the newest completed /v1/events poll: every event created before it is in Postgres',
    labelNames: ['account'],
    registers: [registry],
    collect() {
      for (const a of engine.accounts) {
        const at = a.poller?.caughtUpAt;
        if (at) this.set({ account: a.accountId }, (Date.now() - at) / 1000);
      }
    },
  });
  new Gauge({
    name: 'stripe_sync_events_applied',
    help: 'Events applied by this process',
    labelNames: ['account'],
    registers: [registry],
    collect() {
      for (const a of engine.accounts) this.set({ account: a.accountId }, a.applier.applied);
    },
  });
  new Gauge({
    name: 'stripe_sync_backfill_rows',
    help: 'Rows written by the running or last backfill phase',
    labelNames: ['account'],
    registers: [registry],
    collect() {
      for (const s of engineStatus(engine)) this.set({ account: s.account }, s.backfill?.rows ?? 0);
    },
  });
}

async function printStatus(config: StatusConfig, json: boolean): Promise<void> {
  const sql = createSql(config.databaseUrl, { applicationName: 'ledgerline-stripe-sync-status', max: 2 });
  try {
    const [accounts, tables] = await Promise.all([databaseStatus(sql, config.stripeSyncSchema), tableCounts(sql, config.stripeSyncSchema, true)]);
    if (json) {
      process.stdout.write(`${JSON.stringify({ schema: config.stripeSyncSchema, accounts, tables }, null, 2)}\n`);
      return;
    }
    const out: string[] = [`schema ${config.stripeSyncSchema}`];
    if (accounts.length === 0) out.push('no account has been synced yet (run `ledgerline stripe-sync run`)');
    for (const a of accounts) {
      out.push('', `account ${a.account}`);
      const b = a.backfill;
      if (b) {
        out.push(`  backfill #${b.id} (${b.reason}) started ${b.started_at}: ${b.complete ? `complete ${b.completed_at}` : 'in progress'}${b.per_parent_complete ? '' : ', per-parent phase pending'}`);
        for (const [phase, p] of Object.entries(b.phases)) out.push(`    ${phase}: ${p.done}/${p.total} endpoints, ${p.rows} rows, ${p.requests} requests`);
      }
      const c = a.cursor;
      out.push(`  events: cursor ${c.event ?? '(none)'}${c.created ? ` (${c.created})` : ''}, ${c.events_applied} applied, last poll ${c.last_poll_at ?? 'never'}${c.lag_seconds === null ? '' : ` (${c.lag_seconds.toFixed(1)} s ago)`}`);
      if (a.last_error) out.push(`  last error ${a.last_error.at}: ${a.last_error.message}`);
    }
    const nonEmpty = tables.filter((t) => t.rows > 0);
    out.push('', `rows: ${nonEmpty.reduce((s, t) => s + t.rows, 0)} in ${nonEmpty.length} of ${tables.length} tables`);
    for (const t of nonEmpty) out.push(`  ${t.table.padEnd(40)} ${String(t.rows).padStart(10)}${t.deleted ? `  (${t.deleted} deleted)` : ''}`);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export function registerStripeSyncCommand(program: Command): Command {
  const command = program.command('stripe-sync').description('A Postgres replica of Stripe accounts: backfill, /v1/events polling, upcoming invoices, /wait');

  addSettingOptions(command.command('run').description('Backfill if needed, then poll /v1/events for ever and serve /wait and /status'), syncSettings).action(async (flags: Record<string, unknown>) => {
    const config = loadConfig(syncSettings, flags);
    const logger = createLogger({ name: 'stripe-sync' });
    const sync = await startStripeSync('run', config, { logger });
    shutdownOnSignals(logger, [() => sync.stop()]);
    try {
      await sync.done;
    } catch (err) {
      await sync.stop();
      throw err;
    }
  });

  addSettingOptions(command.command('backfill').description('Backfill (resuming an unfinished one), replay the events since, and exit'), syncSettings).action(async (flags: Record<string, unknown>) => {
    const config = loadConfig(syncSettings, flags);
    const logger = createLogger({ name: 'stripe-sync' });
    const sync = await startStripeSync('backfill', config, { logger });
    shutdownOnSignals(logger, [() => sync.stop()]);
    try {
      await sync.done;
    } finally {
      await sync.stop();
    }
  });

  addSettingOptions(command.command('status').description('Backfill progress, event cursor and lag, last error, rows per table (from the database)'), statusSettings)
    .option('--json', 'print JSON')
    .action(async (flags: Record<string, unknown>) => {
      const config = loadConfig(statusSettings, flags);
      await printStatus(config, flags.json === true);
    });

  return command;
}
