// `ledgerline demo` (and `npm run demo`): the whole platform on one machine with embedded
// defaults — services up, migrations, then every part's roles as their own processes (the Stripe
// emulator standing in for Stripe), a trickle of payments flowing through them (charged through
// the emulator, mirrored by stripe-sync, recorded by billing and chronicles), and a console
// listing where to look.
import { randomBytes } from 'node:crypto';
import { createBus } from './platform/bus/index.ts';
import { commonSettings, loadConfig } from './platform/config.ts';
import { createSql, pingPostgres } from './platform/db.ts';
import { createHttpServer, shutdownOnSignals } from './platform/http-server.ts';
import { createLogger, type Logger } from './platform/log.ts';
import { createMetricsRegistry } from './platform/metrics.ts';
import { projectRoot } from './platform/project-root.ts';
import { createRedis, pingRedis } from './platform/redis.ts';
import { servicesUp, writeServicesEnv } from './platform/services/index.ts';
import { migrationSettings, runMigrations } from './migrate.ts';
import { superviseRoles, type RoleSpec } from './demo-processes.ts';

export interface DemoOptions {
  port: number;
  /** Milliseconds between demo payments (0 = none). */
  trafficIntervalMs: number;
  log: (line: string) => void;
}

const STRIPE_KEY = 'sk_test_emulator';

/** Each part's ports: its own environment variable when set (tests pick free ones), else its default. */
function portsFrom(env: NodeJS.ProcessEnv) {
  const p = (name: string, fallback: number) => Number(env[name] ?? fallback);
  return {
    stripeEmulator: p('STRIPE_EMULATOR_PORT', 12111),
    stripeSync: p('STRIPE_SYNC_PORT', 8787),
    paymentsApi: p('PAYMENTS_API_PORT', 8090),
    paymentsMonitor: p('PAYMENTS_MONITOR_PORT', 8091),
    chroniclesApi: p('CHRONICLES_API_PORT', 8094),
    billingApi: p('BILLING_API_PORT', 8096),
  };
}

function roleSpecs(env: NodeJS.ProcessEnv, keys: { api: string; internal: string }): RoleSpec[] {
  const ports = portsFrom(env);
  const url = (port: number) => `http://127.0.0.1:${port}`;
  const emulator = url(ports.stripeEmulator);
  const stripe = { STRIPE_API_BASE: emulator };
  return [
    { name: 'stripe-emulator', args: ['stripe-emulator'], url: url(ports.stripeEmulator), env: { STRIPE_EMULATOR_PORT: String(ports.stripeEmulator), STRIPE_EMULATOR_API_KEYS: STRIPE_KEY, STRIPE_EMULATOR_CUSTOMERS: env.STRIPE_EMULATOR_CUSTOMERS ?? '50' } },
    // Under the emulator's default limit of 25 requests/s, so the backfill never meets a 429. The
    // key has no label: the engine asks GET /v1/account which account it is, as with Stripe.
    { name: 'stripe-sync run', args: ['stripe-sync', 'run'], url: url(ports.stripeSync), after: emulator, env: { ...stripe, STRIPE_KEY, STRIPE_SYNC_PORT: String(ports.stripeSync), STRIPE_SYNC_MAX_RPS: env.STRIPE_SYNC_MAX_RPS ?? '20', STRIPE_SYNC_PROGRESS: 'logs' } },
    { name: 'payments api', args: ['payments', 'api'], url: url(ports.paymentsApi), env: { PAYMENTS_API_PORT: String(ports.paymentsApi), PAYMENTS_API_KEYS: keys.api } },
    { name: 'payments worker', args: ['payments', 'worker'], after: emulator, env: { ...stripe, PAYMENTS_PROCESSOR: 'stripe', STRIPE_API_KEY: STRIPE_KEY } },
    { name: 'payments monitor', args: ['payments', 'monitor'], url: url(ports.paymentsMonitor), env: { PAYMENTS_MONITOR_PORT: String(ports.paymentsMonitor) } },
    { name: 'chronicles api', args: ['chronicles', 'api'], url: url(ports.chroniclesApi), env: { CHRONICLES_API_PORT: String(ports.chroniclesApi), CHRONICLES_API_KEYS: keys.api, CHRONICLES_INTERNAL_API_KEYS: keys.internal } },
    { name: 'chronicles consumer', args: ['chronicles', 'consumer'], env: {} },
    { name: 'chronicles worker', args: ['chronicles', 'worker'], env: {} },
    { name: 'billing api', args: ['billing', 'api'], url: url(ports.billingApi), env: { BILLING_API_PORT: String(ports.billingApi), BILLING_API_KEYS: keys.api, BILLING_INTERNAL_API_KEYS: keys.internal } },
    { name: 'billing relay', args: ['billing', 'relay'], env: {} },
    { name: 'billing consumer', args: ['billing', 'consumer'], env: {} },
  ];
}

/** A payment every interval from a handful of payers, so outcomes flow to the bus, chronicles and Stripe. */
function startTraffic(paymentsUrl: string, apiKey: string, intervalMs: number, logger: Logger): () => void {
  if (intervalMs <= 0) return () => {};
  let sent = 0;
  let failing = false;
  const timer = setInterval(() => {
    const n = sent++;
    const body = { payer_id: `payer_${n % 7}`, recipient_id: `merchant_${n % 3}`, amount: 500 + ((n * 137) % 9500), currency: 'usd', description: `demo payment ${n}` };
    fetch(`${paymentsUrl}/payments`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then((res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        failing = false;
      })
      .catch((err: Error) => {
        // Expected while the payments API is still starting; said once, not every tick.
        if (!failing) logger.warn({ err }, 'demo traffic: payments API not answering yet');
        failing = true;
      });
  }, intervalMs);
  return () => clearInterval(timer);
}

export async function runDemo(options: DemoOptions): Promise<void> {
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

  // Fresh keys each run, printed below: the demo never ships a well-known secret.
  const keys = { api: `demo_${randomBytes(12).toString('hex')}`, internal: `demo_internal_${randomBytes(12).toString('hex')}` };
  const specs = roleSpecs(env, keys);
  const roles = superviseRoles(specs, { env, log });
  const paymentsUrl = specs.find((s) => s.name === 'payments api')!.url!;
  const stopTraffic = startTraffic(paymentsUrl, keys.api, options.trafficIntervalMs, logger);

  const registry = createMetricsRegistry('console');
  const app = createHttpServer({
    name: 'console',
    logger,
    registry,
    checks: [
      { name: 'postgres', check: () => pingPostgres(sql) },
      { name: 'redis', check: () => pingRedis(redis) },
      { name: `bus (${bus.engine})`, check: () => bus.ping() },
      {
        name: 'roles',
        check: async () => {
          const down = roles.states().filter((r) => !r.running).map((r) => r.name);
          if (down.length) throw new Error(`not running: ${down.join(', ')}`);
        },
      },
    ],
  });
  const base = `http://127.0.0.1:${options.port}`;
  const links = { ping: `${base}/ping`, healthz: `${base}/healthz`, metrics: `${base}/metrics` };
  app.get('/', async () => ({ ledgerline: 'demo', bus: bus.engine, links, roles: roles.states() }));
  await app.listen({ port: options.port, host: '127.0.0.1' });

  shutdownOnSignals(logger, [async () => stopTraffic(), () => roles.stop(), () => app.close(), () => bus.close(), () => sql.end({ timeout: 5 }), async () => redis.disconnect()]);
  log('\nLedgerline demo is running:');
  for (const [name, url] of Object.entries({ console: base, ...links })) log(`  ${name.padEnd(20)} ${url}`);
  for (const s of specs.filter((spec) => spec.url)) log(`  ${s.name.padEnd(20)} ${s.url}`);
  log(`  API key (payments, chronicles /graphql, billing reads): ${keys.api}`);
  log(`  internal key (chronicles /internal/graphql, billing writes, dashboards): ${keys.internal}`);
  log(`  Stripe key for the emulator: ${STRIPE_KEY}`);
  log(options.trafficIntervalMs > 0 ? `A demo payment every ${options.trafficIntervalMs} ms (DEMO_TRAFFIC_INTERVAL=0 turns it off).` : 'No demo traffic.');
  log('Stop with Ctrl-C; `ledgerline services down` stops the embedded servers.');
}
