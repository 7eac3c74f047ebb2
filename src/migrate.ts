// `ledgerline migrate`, shared by the CLI and the demo: every part's migrations, with the
// placeholders that parts with configurable schemas need.
import { z } from 'zod';
import { commonSettings, type ConfigOf } from './platform/config.ts';
import type { Sql } from './platform/db.ts';
import { migrate, type MigrationResult } from './platform/migrations.ts';

export const migrationSettings = {
  databaseUrl: commonSettings.databaseUrl,
  stripeSyncSchema: {
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'expected a lower-case SQL identifier' }).default('stripe'),
    description: 'Postgres schema that holds the Stripe mirror',
  },
};

export async function runMigrations(
  sql: Sql,
  config: Pick<ConfigOf<typeof migrationSettings>, 'stripeSyncSchema'>,
  log: (line: string) => void,
): Promise<MigrationResult> {
  const result = await migrate(sql, { log, variables: { 'stripe-sync': { schema: config.stripeSyncSchema } } });
  log(`migrations: ${result.applied.length} applied, ${result.alreadyApplied} already applied`);
  return result;
}
