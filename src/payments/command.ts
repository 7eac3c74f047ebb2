// `ledgerline payments api|worker|monitor`: wired into src/cli.ts with
// registerPaymentsCommand(program). Each role is also a function (runApi, runWorker, runMonitor)
// returning a handle, for tests and benches.
//
// A worker must be back fast after a crash: it loads neither Fastify (unless it serves metrics)
// nor the Kafka client (the bus imports an engine when first used) — together most of a second
// of start-up.
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { createBus, type Bus } from '../platform/bus/index.ts';
import { addSettingOptions, loadConfig } from '../platform/config.ts';
import { createLogger, type Logger } from '../platform/log.ts';
import { createMetricsRegistry } from '../platform/metrics.ts';
import type { RedisOptions } from 'ioredis';
import { createRedis, pingRedis, warnIfNotPersistent, type Redis } from '../platform/redis.ts';
import { registerQueueGauges, workerMetrics } from './metrics.ts';
import { startMonitor, type Monitor } from './monitor.ts';
import { startOutboxRelay, type OutboxRelay } from './outbox-relay.ts';
import { createProcessor } from './processors/index.ts';
import { createReadModel } from './queries.ts';
import { createQueue, type Queue } from './queue.ts';
import { startReaper } from './reaper.ts';
import { startRetention } from './retention.ts';
import { startRetryScheduler } from './retry-scheduler.ts';
import { apiSettings, defaultWorkerId, monitorSettings, workerSettings, type ApiConfig, type MonitorConfig, type WorkerConfig } from './settings.ts';
import { startWorker, type Worker } from './worker.ts';

export interface RoleHandle {
  /** Where the role's HTTP server listens, if it has one. */
  url?: string;
  close(): Promise<void>;
}

export interface RoleOptions {
  logger?: Logger;
  /** Install SIGTERM/SIGINT handlers (the CLI does; tests do not). */
  handleSignals?: boolean;
}

const redisFor = (url: string, name: string, logger: Logger, extra: RedisOptions): Redis => createRedis(url, { name, logger, enableAutoPipelining: true, ...extra });

const http = () => import('../platform/http-server.ts');

/** What every process that moves payments runs: the reaper, the retry scheduler, retention. */
function startHousekeeping(queue: Queue, config: WorkerConfig | MonitorConfig, logger: Logger) {
  return {
    reaper: startReaper({ queue, intervalMs: config.reapInterval, maxDeliveries: config.maxDeliveries, logger }),
    retries: startRetryScheduler({ queue, intervalMs: Math.min(config.reapInterval, 250), logger }),
    retention: config.retentionDays > 0 ? startRetention({ queue, retentionMs: config.retentionDays * 86_400_000, logger }) : undefined,
  };
}

async function listen(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const address = app.server.address();
  return `http://${host}:${typeof address === 'object' && address ? address.port : port}`;
}

async function finish(logger: Logger, closers: Array<() => Promise<unknown>>, options: RoleOptions): Promise<() => Promise<void>> {
  if (options.handleSignals) (await http()).shutdownOnSignals(logger, closers);
  return async () => {
    for (const close of closers) await close().catch((err: unknown) => logger.warn({ err }, 'error during shutdown'));
  };
}

export async function runApi(config: ApiConfig, options: RoleOptions = {}): Promise<RoleHandle> {
  const logger = options.logger ?? createLogger({ name: 'payments-api' });
  // An enqueue written just before a connection dropped is not re-sent on reconnect (it could
  // create a second payment): it fails (503) and the client retries with its Idempotency-Key.
  // ioredis drops such commands without settling them, hence the command timeout.
  const redis = redisFor(config.redisUrl, 'payments-api', logger, { maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, commandTimeout: 5000 });
  await warnIfNotPersistent(redis, logger);
  const { buildApi } = await import('./api.ts');
  const app = buildApi({
    redis,
    prefix: config.keyPrefix,
    apiKeys: config.apiKeys,
    logger,
    registry: createMetricsRegistry('payments-api'),
    slowAfterMs: config.slowAfter,
    idempotencyTtlMs: config.idempotencyTtl,
  });
  const url = await listen(app, config.host, config.port);
  logger.info({ url, dashboard: `${url}/dashboard` }, 'payments api listening');
  return { url, close: await finish(logger, [() => app.close(), () => redis.quit()], options) };
}

export interface WorkerHandle extends RoleHandle {
  worker: Worker;
}

export async function runWorker(config: WorkerConfig, options: RoleOptions = {}): Promise<WorkerHandle> {
  const workerId = config.workerId ?? defaultWorkerId();
  const logger = options.logger ?? createLogger({ name: 'payments-worker' });
  // A worker waits out a Redis outage rather than failing its payments, and re-sends what was
  // unanswered when the connection dropped: every script it runs is safe to run twice.
  const redis = redisFor(config.redisUrl, `payments-worker:${workerId}`, logger, { maxRetriesPerRequest: null });
  await warnIfNotPersistent(redis, logger);
  const registry = createMetricsRegistry('payments-worker');
  const processor = await createProcessor(config, redis);
  const queue = createQueue(redis, config.keyPrefix);
  const worker = await startWorker({
    redis,
    prefix: config.keyPrefix,
    workerId,
    processor,
    concurrency: config.concurrency,
    maxAttempts: config.maxAttempts,
    maxDeliveries: config.maxDeliveries,
    retry: { baseMs: config.retryBase, capMs: config.retryCap },
    ttlMs: config.workerTtl,
    logger,
    metrics: workerMetrics(registry),
  });
  const { reaper, retries, retention } = startHousekeeping(queue, config, logger);
  let bus: Bus | undefined;
  let relay: OutboxRelay | undefined;
  if (config.outboxRelay) {
    bus = createBus({ kafkaBrokers: config.kafkaBrokers, redisUrl: config.redisUrl, prefix: config.busPrefix, logger, clientId: `payments-${workerId}` });
    relay = await startOutboxRelay({ redis, prefix: config.keyPrefix, bus, consumer: workerId, logger, claimIdleMs: config.outboxClaimIdle });
  }
  let app: FastifyInstance | undefined;
  let url: string | undefined;
  if (config.metricsPort !== undefined) {
    app = (await http()).createHttpServer({ name: 'payments-worker', logger, registry, checks: [{ name: 'redis', check: () => pingRedis(redis) }] });
    url = await listen(app, '127.0.0.1', config.metricsPort);
    logger.info({ url }, 'worker metrics listening');
  }
  const close = await finish(
    logger,
    [
      async () => app?.close(),
      () => worker.stop(),
      () => reaper.stop(),
      () => retries.stop(),
      async () => retention?.stop(),
      async () => relay?.stop(),
      async () => bus?.close(),
      () => processor.close?.() ?? Promise.resolve(),
      () => redis.quit(),
    ],
    options,
  );
  return { worker, close, ...(url ? { url } : {}) };
}

export interface MonitorHandle extends RoleHandle {
  monitor: Monitor;
}

export async function runMonitor(config: MonitorConfig, options: RoleOptions = {}): Promise<MonitorHandle> {
  const logger = options.logger ?? createLogger({ name: 'payments-monitor' });
  const redis = redisFor(config.redisUrl, 'payments-monitor', logger, { maxRetriesPerRequest: 1 });
  await warnIfNotPersistent(redis, logger);
  const queue = createQueue(redis, config.keyPrefix);
  const monitor = startMonitor({
    redis,
    prefix: config.keyPrefix,
    logger,
    alertDepth: config.alertDepth,
    slowAfterMs: config.slowAfter,
    webhookUrl: config.alertWebhook,
    checkIntervalMs: config.checkInterval,
    alertIntervalMs: config.alertInterval,
  });
  await monitor.check().catch((err: unknown) => logger.warn({ err }, 'first monitor check failed'));
  const { reaper, retries, retention } = startHousekeeping(queue, config, logger);
  const registry = createMetricsRegistry('payments-monitor');
  registerQueueGauges(registry, createReadModel(redis, config.keyPrefix));
  const app = (await http()).createHttpServer({ name: 'payments-monitor', logger, registry, checks: [{ name: 'redis', check: () => pingRedis(redis) }] });
  const url = await listen(app, config.host, config.port);
  logger.info({ url, alertDepth: config.alertDepth, slowAfterMs: config.slowAfter }, 'payments monitor running');
  const close = await finish(logger, [() => app.close(), () => monitor.stop(), () => reaper.stop(), () => retries.stop(), async () => retention?.stop(), () => redis.quit()], options);
  return { url, monitor, close };
}

export function registerPaymentsCommand(program: Command): Command {
  const payments = program.command('payments').description('Payments: an HTTP API that queues payments in Redis, workers that process them, a monitor');
  addSettingOptions(payments.command('api').description('The payments HTTP API and queue dashboard'), apiSettings).action(async (flags: Record<string, unknown>) => {
    await runApi(loadConfig(apiSettings, flags), { handleSignals: true });
  });
  addSettingOptions(payments.command('worker').description('A payments worker (run as many as you like, on any host)'), workerSettings).action(async (flags: Record<string, unknown>) => {
    await runWorker(loadConfig(workerSettings, flags), { handleSignals: true });
  });
  addSettingOptions(payments.command('monitor').description('Queue-depth and slow-payment alerts, queue metrics, the reaper'), monitorSettings).action(async (flags: Record<string, unknown>) => {
    await runMonitor(loadConfig(monitorSettings, flags), { handleSignals: true });
  });
  return payments;
}
