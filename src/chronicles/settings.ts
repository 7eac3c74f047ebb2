// Settings of `ledgerline chronicles api|consumer|worker|seed`: each is a flag and an environment
// variable, validated by zod at start-up (src/platform/config.ts). Values are never echoed.
import { z } from 'zod';
import { commonSettings, duration, flag, port, positiveInt, type ConfigOf, type Settings } from '../platform/config.ts';
import { apiKeyListSchema } from '../platform/api-keys.ts';

const intIn = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

const shared = {
  databaseUrl: commonSettings.databaseUrl,
  redisUrl: commonSettings.redisUrl,
  queuePrefix: {
    schema: z.string().regex(/^[A-Za-z0-9_.{}-]{1,64}$/, { error: 'expected 1-64 letters, digits or _ . { } -' }).default('chronicles'),
    env: 'CHRONICLES_QUEUE_PREFIX',
    description: 'prefix of the BullMQ queues of the chronicles part (ingest, maintenance)',
  },
} satisfies Settings;

const busSettings = {
  kafkaBrokers: commonSettings.kafkaBrokers,
  busPrefix: {
    schema: z.string().regex(/^[A-Za-z0-9_.:-]{0,64}$/, { error: 'expected up to 64 letters, digits or _ . : -' }).default(''),
    env: 'BUS_PREFIX',
    description: 'prefix of the event bus topics and streams (isolates test runs)',
  },
} satisfies Settings;

const maxMessageBytes = {
  schema: intIn(256, 16 * 1024 * 1024, 64 * 1024),
  env: 'CHRONICLES_MAX_MESSAGE_BYTES',
  description: 'a bus message larger than this (JSON bytes) is dead-lettered, not ingested',
};

export const apiSettings = {
  ...shared,
  port: { schema: port(8094), env: 'CHRONICLES_API_PORT', description: 'port of the chronicles HTTP API' },
  host: { schema: z.string().min(1).default('127.0.0.1'), env: 'CHRONICLES_API_HOST', description: 'address to listen on' },
  apiKeys: {
    schema: apiKeyListSchema('API keys'),
    env: 'CHRONICLES_API_KEYS',
    description: 'keys accepted by /graphql, comma-separated (Authorization: Bearer <key> or X-Api-Key)',
  },
  internalApiKeys: {
    schema: apiKeyListSchema('internal API keys'),
    env: 'CHRONICLES_INTERNAL_API_KEYS',
    description: 'keys accepted by /internal/graphql and the queue dashboard /queues (Bearer, X-Api-Key or Basic password)',
  },
  statementTimeout: { schema: duration('5s'), env: 'CHRONICLES_STATEMENT_TIMEOUT', description: 'a search query running longer than this is cancelled' },
  dbPool: { schema: positiveInt(10), env: 'CHRONICLES_API_DB_POOL', description: 'Postgres connections of the API' },
} satisfies Settings;

export const consumerSettings = {
  ...shared,
  ...busSettings,
  group: {
    schema: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('chronicles'),
    env: 'CHRONICLES_CONSUMER_GROUP',
    description: 'bus consumer group',
  },
  busPartitions: {
    schema: intIn(1, 256, 16),
    env: 'CHRONICLES_BUS_PARTITIONS',
    description: 'partitions of the topics when this consumer is the first to use them (fixed afterwards); more partitions = more messages in flight',
  },
  maxJobEntries: {
    schema: intIn(1, 10_000, 500),
    env: 'CHRONICLES_MAX_JOB_ENTRIES',
    description: 'most bus messages per ingest job; 1 = the article’s one-entry-per-job path',
  },
  maxMessageBytes,
  metricsPort: {
    schema: z.coerce.number().int().min(0).max(65535).optional(),
    env: 'CHRONICLES_CONSUMER_METRICS_PORT',
    description: 'serve /ping, /healthz and /metrics on this port (unset = off)',
  },
} satisfies Settings;

export const workerSettings = {
  ...shared,
  concurrency: { schema: intIn(1, 1000, 32), env: 'CHRONICLES_WORKER_CONCURRENCY', description: 'ingest jobs handled at once by this worker' },
  maxBatchRows: {
    schema: intIn(1, 50_000, 5000),
    env: 'CHRONICLES_MAX_BATCH_ROWS',
    description: 'most entries written in one transaction (jobs in flight are written together); 1 = one transaction per job',
  },
  writeConcurrency: {
    schema: intIn(1, 256, 2),
    env: 'CHRONICLES_WRITE_CONCURRENCY',
    description: 'write transactions in flight at once (the article’s path: as many as --concurrency)',
  },
  dbPool: { schema: intIn(1, 256, 6), env: 'CHRONICLES_WORKER_DB_POOL', description: 'Postgres connections of the worker' },
  lockDuration: { schema: duration('30s'), env: 'CHRONICLES_LOCK_DURATION', description: 'a job whose worker stops renewing its lock this long is re-run elsewhere' },
  stalledInterval: { schema: duration('15s'), env: 'CHRONICLES_STALLED_INTERVAL', description: 'how often stalled jobs (dead workers) are looked for' },
  maxMessageBytes,
  retentionMonths: {
    schema: z.coerce.number().int().min(1).max(1200).optional(),
    env: 'CHRONICLES_RETENTION_MONTHS',
    description: 'drop partitions (and their dedupe rows) older than this many months; unset = keep everything',
  },
  monthsAhead: { schema: intIn(0, 24, 3), env: 'CHRONICLES_MONTHS_AHEAD', description: 'monthly partitions created ahead of the current month' },
  maintenanceInterval: { schema: duration('1h'), env: 'CHRONICLES_MAINTENANCE_INTERVAL', description: 'how often partitions are created ahead and retention runs' },
  ruleCacheTtl: { schema: duration('2s'), env: 'CHRONICLES_RULE_CACHE_TTL', description: 'how long tag rules are cached by a worker' },
  metricsPort: {
    schema: z.coerce.number().int().min(0).max(65535).optional(),
    env: 'CHRONICLES_WORKER_METRICS_PORT',
    description: 'serve /ping, /healthz and /metrics on this port (unset = off)',
  },
} satisfies Settings;

export const seedSettings = {
  databaseUrl: commonSettings.databaseUrl,
  rows: { schema: z.coerce.number().int().min(1).max(1_000_000_000), env: 'CHRONICLES_SEED_ROWS', description: 'entries to generate (required)' },
  months: { schema: intIn(1, 240, 24), env: 'CHRONICLES_SEED_MONTHS', description: 'months the entries are spread over, ending now' },
  seed: { schema: z.coerce.number().int().min(0).default(1), env: 'CHRONICLES_SEED', description: 'random seed (same seed, same data)' },
  app: {
    schema: z.string().regex(/^[a-z0-9_.-]{1,64}$/).optional(),
    env: 'CHRONICLES_SEED_APP',
    description: 'generate entries of this app only (default: the realistic mix)',
  },
  resume: {
    schema: flag(),
    switch: true,
    env: 'CHRONICLES_SEED_RESUME',
    description: 'finish an interrupted seed: months that already hold entries are kept and skipped',
  },
} satisfies Settings;

export type ApiConfig = ConfigOf<typeof apiSettings>;
export type ConsumerConfig = ConfigOf<typeof consumerSettings>;
export type WorkerConfig = ConfigOf<typeof workerSettings>;
export type SeedConfig = ConfigOf<typeof seedSettings>;
