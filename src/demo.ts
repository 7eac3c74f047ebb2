// `ledgerline demo` (and `npm run demo`): the whole platform on one machine with embedded
// defaults — services up, migrations, then every part's servers, printing where to look.
import { createBus } from './platform/bus/index.ts';
import { commonSettings, loadConfig } from './platform/config.ts';
import { createSql, pingPostgres } from './platform/db.ts';
import { createHttpServer, shutdownOnSignals } from './platform/http-server.ts';
import { createLogger } from './platform/log.ts';
import { createMetricsRegistry } from './platform/metrics.ts';
import { projectRoot } from './platform/project-root.ts';
import { createRedis, pingRedis } from './platform/redis.ts';
import { servicesUp, writeServicesEnv } from './platform/services/index.ts';
import { migrationSettings, runMigrations } from './migrate.ts';

export async function runDemo(options: { port: number; log: (line: string) => void }): Promise<void> {
  const { log } = options;
  const up = await servicesUp({ root: projectRoot, env: process.env, log });
  await writeServicesEnv(projectRoot, up.env);
  const env = { ...process.env, ...up.env };
  const config = { ...loadConfig(commonSettings, {}, env), ...loadConfig(migrationSettings, {}, env) };

  const logger = createLogger({ name: 'demo' });
  const sql = createSql(config.databaseUrl, { applicationName: 'ledgerline-demo', max: 5 });
  await runMigrations(sql, config, log);

  const redis = createRedis(config.redisUrl, { name: 'demo', logger, maxRetriesPerRequest: 1 });
  const bus = createBus({ kafkaBrokers: config.kafkaBrokers, redisUrl: config.redisUrl, logger, clientId: 'ledgerline-demo' });

  const registry = createMetricsRegistry('console');
  const app = createHttpServer({
    name: 'console',
    logger,
    registry,
    checks: [
      { name: 'postgres', check: () => pingPostgres(sql) },
      { name: 'redis', check: () => pingRedis(redis) },
      { name: `bus (${bus.engine})`, check: () => bus.ping() },
    ],
  });
  const base = `http://127.0.0.1:${options.port}`;
  const links = { ping: `${base}/ping`, healthz: `${base}/healthz`, metrics: `${base}/metrics` };
  app.get('/', async () => ({ ledgerline: 'demo', bus: bus.engine, links }));
  await app.listen({ port: options.port, host: '127.0.0.1' });

  shutdownOnSignals(logger, [() => app.close(), () => bus.close(), () => sql.end({ timeout: 5 }), async () => redis.disconnect()]);
  log('\nLedgerline demo is running:');
  for (const [name, url] of Object.entries({ console: base, ...links })) log(`  ${name.padEnd(8)} ${url}`);
  log('Stop with Ctrl-C; `ledgerline services down` stops the embedded servers.');
}
