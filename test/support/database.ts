// The test database: DATABASE_URL from scripts/test (or the environment), else services.env.
import { readServicesEnv } from '../../src/platform/config.ts';
import { createSql, type Sql } from '../../src/platform/db.ts';

export function testDatabaseUrl(): string {
  const url = process.env.DATABASE_URL ?? readServicesEnv().DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set: run the tests with `npm test` (scripts/test brings the services up)');
  return url;
}

export function testSql(max = 5): Sql {
  return createSql(testDatabaseUrl(), { applicationName: 'ledgerline-test', max });
}
