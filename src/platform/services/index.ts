// `ledgerline services up|down|status`: the real Postgres, Redis and (for tests) Kafka that
// Ledgerline runs on. Idempotent: what already answers is used as it is.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kafkaDown, kafkaStatus, kafkaUp } from './kafka.ts';
import { postgresStatus, postgresUp, stopEmbeddedPostgres } from './postgres.ts';
import { redisDown, redisStatus, redisUp } from './redis.ts';
import type { ServiceStatus } from './status.ts';

export type { ServiceStatus };

export interface ServicesOptions {
  root: string;
  /** Environment as the user gave it (DATABASE_URL, REDIS_URL, KAFKA_BROKERS, EMBEDDED_POSTGRES_PORT). */
  env: Record<string, string | undefined>;
  database?: string;
  /** Start (or check) Kafka too. Without it the bus runs on Redis Streams. */
  kafka?: boolean;
  log?: (line: string) => void;
}

export interface ServicesUp {
  statuses: ServiceStatus[];
  /** The variables a Ledgerline process needs to reach them. */
  env: Record<string, string>;
}

const embeddedPort = (env: Record<string, string | undefined>) => Number(env.EMBEDDED_POSTGRES_PORT ?? 54329);

export async function servicesUp(options: ServicesOptions): Promise<ServicesUp> {
  const { root, env, log } = options;
  const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379';
  const [pg, redis] = await Promise.all([
    postgresUp({ root, database: options.database ?? 'ledgerline', port: embeddedPort(env), databaseUrl: env.DATABASE_URL || undefined, log }),
    redisUp({ root, redisUrl, log }),
  ]);
  const statuses: ServiceStatus[] = [pg, redis];
  const out: Record<string, string> = { DATABASE_URL: pg.databaseUrl, REDIS_URL: redisUrl };
  if (options.kafka || env.KAFKA_BROKERS) {
    const kafka = await kafkaUp({ root, log, brokers: env.KAFKA_BROKERS || undefined });
    statuses.push(kafka);
    out.KAFKA_BROKERS = kafka.url;
  }
  return { statuses, env: out };
}

/** Remembered so later commands (`migrate`, `demo`, a part's role) find the services without exports. */
export async function writeServicesEnv(root: string, env: Record<string, string>): Promise<string> {
  const path = join(root, '.data', 'services.env');
  await mkdir(join(root, '.data'), { recursive: true });
  await writeFile(path, Object.entries(env).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n', { mode: 0o600 });
  return path;
}

export async function servicesDown(options: { root: string; log?: (line: string) => void }): Promise<void> {
  const { root, log = () => {} } = options;
  log('stopping managed services (embedded Postgres, local redis-server, Kafka)');
  await Promise.all([kafkaDown({ root, log }), stopEmbeddedPostgres(join(root, '.data', 'postgres')), redisDown(root)]);
  await rm(join(root, '.data', 'services.env'), { force: true });
}

export async function servicesStatus(options: { root: string; env: Record<string, string | undefined> }): Promise<ServiceStatus[]> {
  const { root, env } = options;
  return Promise.all([
    postgresStatus({ root, port: embeddedPort(env), databaseUrl: env.DATABASE_URL || undefined }),
    redisStatus(env.REDIS_URL || 'redis://127.0.0.1:6379'),
    kafkaStatus({ root, brokers: env.KAFKA_BROKERS || undefined }),
  ]);
}
