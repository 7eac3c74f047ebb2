// `ledgerline chronicles api|consumer|worker|seed`: wired into src/cli.ts with
// registerChroniclesCommand(program).
import type { Command } from 'commander';
import { createBus } from '../platform/bus/index.ts';
import { addSettingOptions, loadConfig } from '../platform/config.ts';
import { createSql, pingPostgres } from '../platform/db.ts';
import { createHttpServer, shutdownOnSignals, type HealthCheck } from '../platform/http-server.ts';
import { createLogger, type Logger } from '../platform/log.ts';
import { Counter, createMetricsRegistry, type Registry } from '../platform/metrics.ts';
import { buildChroniclesApi } from './api.ts';
import { createSearchSql } from './entries-query.ts';
import { startIngestConsumer } from './ingest-consumer.ts';
import { startIngestWorker } from './ingest-worker.ts';
import { INGESTED_TOPICS } from './message-mappings.ts';
import { ingestQueue, queueConnection } from './queues.ts';
import { seedEntries } from './seed.ts';
import { apiSettings, consumerSettings, seedSettings, workerSettings } from './settings.ts';

/** /ping, /healthz and /metrics of a role that has no API of its own. */
async function serveMetrics(name: string, port: number | undefined, logger: Logger, registry: Registry, checks: HealthCheck[]) {
  if (port === undefined) return async () => {};
  const app = createHttpServer({ name, logger, registry, checks });
  await app.listen({ port, host: '127.0.0.1' });
  logger.info({ url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` }, 'metrics listening');
  return () => app.close();
}

export function registerChroniclesCommand(program: Command): Command {
  const chronicles = program.command('chronicles').description('The activity log: bus → job queue → Postgres, searched through GraphQL');

  addSettingOptions(chronicles.command('api').description('GraphQL search (/graphql), administration (/internal/graphql) and the queue dashboard (/queues)'), apiSettings).action(
    async (flags: Record<string, unknown>) => {
      const config = loadConfig(apiSettings, flags);
      const logger = createLogger({ name: 'chronicles-api' });
      const sql = createSearchSql(config.databaseUrl, { applicationName: 'chronicles-api', max: config.dbPool, statementTimeoutMs: config.statementTimeout });
      const api = await buildChroniclesApi({
        sql,
        redisUrl: config.redisUrl,
        queuePrefix: config.queuePrefix,
        apiKeys: config.apiKeys,
        internalApiKeys: config.internalApiKeys,
        logger,
        registry: createMetricsRegistry('chronicles-api'),
      });
      await api.app.listen({ port: config.port, host: config.host });
      shutdownOnSignals(logger, [() => api.close(), () => sql.end()]);
    },
  );

  addSettingOptions(chronicles.command('consumer').description('Read chronicles.entries, payments.outcomes and billing.records from the bus into ingest jobs'), consumerSettings).action(
    async (flags: Record<string, unknown>) => {
      const config = loadConfig(consumerSettings, flags);
      const logger = createLogger({ name: 'chronicles-consumer' });
      const registry = createMetricsRegistry('chronicles-consumer');
      const enqueued = new Counter({ name: 'chronicles_messages_enqueued_total', help: 'bus messages put in ingest jobs', registers: [registry] });
      const jobs = new Counter({ name: 'chronicles_jobs_enqueued_total', help: 'ingest jobs created', registers: [registry] });
      const bus = createBus({
        kafkaBrokers: config.kafkaBrokers,
        redisUrl: config.redisUrl,
        prefix: config.busPrefix,
        logger,
        clientId: 'chronicles-consumer',
        partitions: config.busPartitions,
      });
      const queue = ingestQueue(queueConnection(config.redisUrl, 'chronicles-consumer'), config.queuePrefix);
      const consumer = await startIngestConsumer({
        bus,
        queue,
        group: config.group,
        topics: INGESTED_TOPICS,
        maxJobEntries: config.maxJobEntries,
        maxMessageBytes: config.maxMessageBytes,
        logger,
        onEnqueued: (m, j) => {
          enqueued.inc(m);
          jobs.inc(j);
        },
      });
      const stopMetrics = await serveMetrics('chronicles-consumer', config.metricsPort, logger, registry, [
        { name: 'bus', check: () => bus.ping() },
        { name: 'redis', check: async () => void (await queue.count()) },
      ]);
      shutdownOnSignals(logger, [stopMetrics, () => consumer.close(), () => bus.close(), () => queue.close()]);
    },
  );

  addSettingOptions(chronicles.command('worker').description('Validate, tag and write ingest jobs; re-apply tag rules; partition maintenance and retention'), workerSettings).action(
    async (flags: Record<string, unknown>) => {
      const config = loadConfig(workerSettings, flags);
      const logger = createLogger({ name: 'chronicles-worker' });
      const registry = createMetricsRegistry('chronicles-worker');
      const sql = createSql(config.databaseUrl, { applicationName: 'chronicles-worker', max: config.dbPool });
      const worker = await startIngestWorker({
        sql,
        connection: queueConnection(config.redisUrl, 'chronicles-worker'),
        prefix: config.queuePrefix,
        logger,
        registry,
        concurrency: config.concurrency,
        maxBatchRows: config.maxBatchRows,
        writeConcurrency: config.writeConcurrency,
        lockDuration: config.lockDuration,
        stalledInterval: config.stalledInterval,
        maxMessageBytes: config.maxMessageBytes,
        retentionMonths: config.retentionMonths,
        monthsAhead: config.monthsAhead,
        maintenanceInterval: config.maintenanceInterval,
        ruleCacheTtl: config.ruleCacheTtl,
      });
      const stopMetrics = await serveMetrics('chronicles-worker', config.metricsPort, logger, registry, [{ name: 'postgres', check: () => pingPostgres(sql) }]);
      shutdownOnSignals(logger, [stopMetrics, () => worker.close(), () => sql.end()]);
    },
  );

  addSettingOptions(chronicles.command('seed').description('Generate --rows realistic entries with COPY (for benchmarks)'), seedSettings).action(async (flags: Record<string, unknown>) => {
    const config = loadConfig(seedSettings, flags);
    const sql = createSql(config.databaseUrl, { applicationName: 'chronicles-seed', max: 6 });
    try {
      const result = await seedEntries(sql, {
        rows: config.rows,
        months: config.months,
        seed: config.seed,
        app: config.app,
        resume: config.resume,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } finally {
      await sql.end();
    }
  });

  return chronicles;
}
