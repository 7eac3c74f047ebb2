import postgres from 'postgres';
import { withTimeout } from './timeout.ts';

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;

export interface SqlOptions {
  /** Shown in pg_stat_activity, so a DBA can tell which part holds a connection. */
  applicationName: string;
  max?: number;
}

export function createSql(url: string, options: SqlOptions): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    connect_timeout: 5,
    idle_timeout: 30,
    onnotice: () => {},
    connection: { application_name: options.applicationName },
  });
}

export async function pingPostgres(sql: Sql, timeoutMs = 2000): Promise<void> {
  await withTimeout(sql`select 1`.execute(), timeoutMs, 'postgres did not answer');
}
