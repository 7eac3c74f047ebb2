// `ledgerline`: one CLI for every part. Each part registers its roles here.
import { Command } from 'commander';
import { addSettingOptions, ConfigError, duration, loadConfig, port } from './platform/config.ts';
import { createSql } from './platform/db.ts';
import { migrationSettings, runMigrations } from './migrate.ts';
import { projectRoot } from './platform/project-root.ts';
import { redactSecrets } from './platform/redact.ts';
import { servicesDown, servicesStatus, servicesUp, writeServicesEnv } from './platform/services/index.ts';
import { registerBillingCommand } from './billing/command.ts';
import { registerChroniclesCommand } from './chronicles/command.ts';
import { registerPaymentsCommand } from './payments/command.ts';
import { registerStripeEmulatorCommand } from './stripe-emulator/command.ts';
import { registerStripeSyncCommand } from './stripe-sync/command.ts';

const program = new Command('ledgerline')
  .description('Ledgerline: Stripe mirror, payments, billing and activity log on Postgres, Redis and Kafka')
  .showHelpAfterError();

const say = (line: string) => process.stderr.write(`${line}\n`);

addSettingOptions(
  program.command('migrate').description("Apply every part's numbered SQL migrations (idempotent)"),
  migrationSettings,
).action(async (flags) => {
  const config = loadConfig(migrationSettings, flags);
  const sql = createSql(config.databaseUrl, { applicationName: 'ledgerline-migrate', max: 1 });
  try {
    await runMigrations(sql, config, say);
  } finally {
    await sql.end();
  }
});

const services = program.command('services').description('Bring up, stop or inspect Postgres, Redis and Kafka');
services
  .command('up')
  .description('Use DATABASE_URL / REDIS_URL / KAFKA_BROKERS when they answer; otherwise start embedded Postgres, a local redis-server and (with --kafka) a Kafka broker')
  .option('--kafka', 'also start a local Apache Kafka broker (KRaft) from Maven Central', false)
  .option('--database <name>', 'database to create on the embedded Postgres', 'ledgerline')
  .option('--print-env', 'print `export VAR=…` lines for eval instead of writing .data/services.env', false)
  .action(async (flags: { kafka: boolean; database: string; printEnv: boolean }) => {
    const up = await servicesUp({ root: projectRoot, env: process.env, database: flags.database, kafka: flags.kafka, log: say });
    for (const s of up.statuses) say(`${s.name.padEnd(9)} ${s.managed ? 'managed ' : 'external'} ${s.url}${s.detail ? ` (${s.detail})` : ''}`);
    if (flags.printEnv) {
      process.stdout.write(Object.entries(up.env).map(([k, v]) => `export ${k}='${v}'\n`).join(''));
    } else {
      say(`wrote ${await writeServicesEnv(projectRoot, up.env)}`);
    }
  });
services
  .command('down')
  .description('Stop the servers Ledgerline started (external ones are left alone)')
  .action(async () => servicesDown({ root: projectRoot, log: say }));
services
  .command('status')
  .description('Show whether each service answers')
  .action(async () => {
    const statuses = await servicesStatus({ root: projectRoot, env: process.env });
    for (const s of statuses) process.stdout.write(`${s.name.padEnd(9)} ${s.running ? 'up  ' : 'down'} ${s.url}\n`);
  });

const demoSettings = {
  demoPort: { schema: port(8080), env: 'DEMO_PORT', description: 'port of the platform console' },
  demoTrafficInterval: { schema: duration('2s'), env: 'DEMO_TRAFFIC_INTERVAL', description: 'time between demo payments (0 = none)' },
};
addSettingOptions(
  program.command('demo').description('Bring up the services on the embedded defaults, migrate and start the whole platform'),
  demoSettings,
).action(async (flags) => {
  const { demoPort, demoTrafficInterval } = loadConfig(demoSettings, flags);
  const { runDemo } = await import('./demo.ts');
  await runDemo({ port: demoPort, trafficIntervalMs: demoTrafficInterval, log: say });
});

registerStripeEmulatorCommand(program);
registerStripeSyncCommand(program);
registerPaymentsCommand(program);
registerBillingCommand(program);
registerChroniclesCommand(program);

program.parseAsync(process.argv).catch((err: Error) => {
  say(err instanceof ConfigError ? err.message : `error: ${redactSecrets(err.message)}`);
  process.exit(1);
});
