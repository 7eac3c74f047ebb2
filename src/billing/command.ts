// `ledgerline billing api|relay|consumer|seed`: wired into src/cli.ts with
// registerBillingCommand(program).
import type { Command } from 'commander';
import { createBus } from '../platform/bus/index.ts';
import { addSettingOptions, loadConfig } from '../platform/config.ts';
import { createSql, pingPostgres } from '../platform/db.ts';
import { serveMetrics, shutdownOnSignals } from '../platform/http-server.ts';
import { createLogger } from '../platform/log.ts';
import { Counter, createMetricsRegistry } from '../platform/metrics.ts';
import { createRedis } from '../platform/redis.ts';
import { buildBillingApi } from './api.ts';
import { startOutboxRelay } from './outbox-relay.ts';
import { startPaymentsConsumer } from './payments-consumer.ts';
import { createRecordsSql } from './records-query.ts';
import { seedRecords } from './seed.ts';
import { apiSettings, consumerSettings, relaySettings, seedSettings } from './settings.ts';
import { startStripeImport } from './stripe-import.ts';

export function registerBillingCommand(program: Command): Command {
  const billing = program.command('billing').description('Billing records: GraphQL/REST API, outbox relay to billing.records, payments and Stripe import');

  addSettingOptions(billing.command('api').description('GraphQL (/graphql) and REST (/v1/billing_records) over billing records'), apiSettings)
    .option('--no-graphql', 'do not serve GraphQL')
    .option('--no-rest', 'do not serve REST')
    .action(async (flags: Record<string, unknown>) => {
      const config = loadConfig(apiSettings, flags);
      const logger = createLogger({ name: 'billing-api' });
      const sql = createRecordsSql(config.databaseUrl, { applicationName: 'billing-api', max: config.dbPool, statementTimeoutMs: config.statementTimeout });
      const redis = createRedis(config.redisUrl, { name: 'billing-api', logger, maxRetriesPerRequest: 1 });
      const app = await buildBillingApi({
        sql,
        redis,
        apiKeys: config.apiKeys,
        internalApiKeys: config.internalApiKeys,
        rateLimit: config.rateLimit,
        rateLimitWindowMs: config.rateLimitWindow,
        graphql: config.graphql,
        rest: config.rest,
        graphiql: process.env.NODE_ENV !== 'production',
        stripeSchema: config.stripeSchema,
        logger,
        registry: createMetricsRegistry('billing-api'),
      });
      await app.listen({ port: config.port, host: config.host });
      shutdownOnSignals(logger, [() => app.close(), () => sql.end(), async () => redis.disconnect()]);
    });

  addSettingOptions(billing.command('relay').description('Publish billing.outbox to the bus topic billing.records, in order, at least once'), relaySettings).action(
    async (flags: Record<string, unknown>) => {
      const config = loadConfig(relaySettings, flags);
      const logger = createLogger({ name: 'billing-relay' });
      const registry = createMetricsRegistry('billing-relay');
      const sql = createSql(config.databaseUrl, { applicationName: 'billing-relay', max: 3 });
      const bus = createBus({ kafkaBrokers: config.kafkaBrokers, redisUrl: config.redisUrl, prefix: config.busPrefix, logger, clientId: 'billing-relay', partitions: config.busPartitions });
      const relay = await startOutboxRelay({ sql, bus, logger, registry, batchSize: config.batchSize, pollIntervalMs: config.pollInterval, retentionMs: config.retention, idempotencyKeyRetentionMs: config.idempotencyKeyRetention });
      const stopMetrics = await serveMetrics({
        name: 'billing-relay',
        port: config.metricsPort,
        logger,
        registry,
        checks: [
          { name: 'postgres', check: () => pingPostgres(sql) },
          { name: 'bus', check: () => bus.ping() },
        ],
      });
      shutdownOnSignals(logger, [stopMetrics, () => relay.stop(), () => bus.close(), () => sql.end()]);
    },
  );

  addSettingOptions(billing.command('consumer').description("Records from payments.outcomes and from the Stripe mirror's invoices"), consumerSettings).action(
    async (flags: Record<string, unknown>) => {
      const config = loadConfig(consumerSettings, flags);
      const logger = createLogger({ name: 'billing-consumer' });
      const registry = createMetricsRegistry('billing-consumer');
      const changes = new Counter({ name: 'billing_source_changes_total', help: 'records created/updated/unchanged by source', labelNames: ['source', 'change'], registers: [registry] });
      const sql = createSql(config.databaseUrl, { applicationName: 'billing-consumer', max: config.dbPool });
      const bus = createBus({ kafkaBrokers: config.kafkaBrokers, redisUrl: config.redisUrl, prefix: config.busPrefix, logger, clientId: 'billing-consumer' });
      const subscription = await startPaymentsConsumer({ sql, bus, group: config.group, logger, onChange: (change) => changes.inc({ source: 'payments', change }) });
      const importer =
        config.stripeImportInterval > 0
          ? startStripeImport(sql, {
              schema: config.stripeSchema,
              intervalMs: config.stripeImportInterval,
              logger,
              onResult: (r) => {
                for (const [change, n] of Object.entries(r.changes)) if (n) changes.inc({ source: 'stripe', change }, n);
              },
            })
          : undefined;
      const stopMetrics = await serveMetrics({
        name: 'billing-consumer',
        port: config.metricsPort,
        logger,
        registry,
        checks: [
          { name: 'postgres', check: () => pingPostgres(sql) },
          { name: 'bus', check: () => bus.ping() },
        ],
      });
      shutdownOnSignals(logger, [stopMetrics, () => subscription.close(), async () => importer?.stop(), () => bus.close(), () => sql.end()]);
    },
  );

  addSettingOptions(billing.command('seed').description('Generate --records realistic records over --products products (for benchmarks)'), seedSettings).action(async (flags: Record<string, unknown>) => {
    const config = loadConfig(seedSettings, flags);
    const sql = createSql(config.databaseUrl, { applicationName: 'billing-seed', max: 2 });
    try {
      const result = await seedRecords(sql, { ...config, log: (line) => process.stderr.write(`${line}\n`) });
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } finally {
      await sql.end();
    }
  });

  return billing;
}
