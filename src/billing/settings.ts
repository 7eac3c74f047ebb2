// Settings of `ledgerline billing api|relay|consumer|seed`: each is a flag and an environment
// variable, validated by zod at start-up (src/platform/config.ts). Values are never echoed.
import { z } from 'zod';
import { commonSettings, duration, port, type ConfigOf, type Settings } from '../platform/config.ts';
import { apiKeyListSchema } from '../platform/api-keys.ts';

const intIn = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** A switch that is on unless turned off (`--no-graphql`, or the variable set to false). */
const onByDefault = () =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0'])], { error: 'expected true or false' })
    .default(true)
    .transform((v) => v === true || v === 'true' || v === '1');

const stripeSchema = {
  schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'expected a lower-case SQL identifier' }).default('stripe'),
  env: 'STRIPE_SYNC_SCHEMA',
  description: "Postgres schema of the Stripe mirror (stripe-sync's tables), read for invoices",
};

const busSettings = {
  kafkaBrokers: commonSettings.kafkaBrokers,
  busPrefix: {
    schema: z.string().regex(/^[A-Za-z0-9_.:-]{0,64}$/, { error: 'expected up to 64 letters, digits or _ . : -' }).default(''),
    env: 'BUS_PREFIX',
    description: 'prefix of the event bus topics and streams (isolates test runs)',
  },
} satisfies Settings;

const metricsPort = (env: string) => ({
  schema: z.coerce.number().int().min(0).max(65535).optional(),
  env,
  description: 'serve /ping, /healthz and /metrics on this port (unset = off)',
});

export const apiSettings = {
  databaseUrl: commonSettings.databaseUrl,
  redisUrl: commonSettings.redisUrl,
  port: { schema: port(8096), env: 'BILLING_API_PORT', description: 'port of the billing HTTP API' },
  host: { schema: z.string().min(1).default('127.0.0.1'), env: 'BILLING_API_HOST', description: 'address to listen on' },
  apiKeys: { schema: apiKeyListSchema('API keys'), env: 'BILLING_API_KEYS', description: 'external keys (reads only), comma-separated (Authorization: Bearer <key> or X-Api-Key)' },
  internalApiKeys: { schema: apiKeyListSchema('internal API keys'), env: 'BILLING_INTERNAL_API_KEYS', description: 'internal keys (reads and writes), comma-separated' },
  rateLimit: { schema: intIn(0, 1_000_000, 10), env: 'BILLING_RATE_LIMIT', description: 'requests per window per API key, shared by every API process through Redis (0 = no limit)' },
  rateLimitWindow: { schema: duration('1s'), env: 'BILLING_RATE_LIMIT_WINDOW', description: 'the rate limit window' },
  graphql: { schema: onByDefault(), env: 'BILLING_GRAPHQL', switch: true, description: 'serve GraphQL at /graphql (--no-graphql turns it off)' },
  rest: { schema: onByDefault(), env: 'BILLING_REST', switch: true, description: 'serve REST at /v1/billing_records (--no-rest turns it off)' },
  stripeSchema,
  statementTimeout: { schema: duration('5s'), env: 'BILLING_STATEMENT_TIMEOUT', description: 'a query running longer than this is cancelled' },
  dbPool: { schema: intIn(1, 256, 10), env: 'BILLING_API_DB_POOL', description: 'Postgres connections of the API' },
} satisfies Settings;

export const relaySettings = {
  databaseUrl: commonSettings.databaseUrl,
  redisUrl: commonSettings.redisUrl,
  ...busSettings,
  batchSize: { schema: intIn(1, 10_000, 500), env: 'BILLING_RELAY_BATCH', description: 'outbox rows read and published per round' },
  pollInterval: { schema: duration('1s'), env: 'BILLING_RELAY_POLL', description: 'how often the outbox is read when no NOTIFY arrives (and a standby retries the lock)' },
  retention: { schema: duration('24h'), env: 'BILLING_OUTBOX_RETENTION', description: 'published outbox rows are deleted after this long' },
  idempotencyKeyRetention: {
    schema: duration('24h'),
    env: 'BILLING_IDEMPOTENCY_KEY_RETENTION',
    description: 'API idempotency keys are forgotten after this long (a create repeated later makes a new record)',
  },
  busPartitions: { schema: intIn(1, 256, 16), env: 'BILLING_BUS_PARTITIONS', description: 'partitions of billing.records when the relay is the first to use it' },
  metricsPort: metricsPort('BILLING_RELAY_METRICS_PORT'),
} satisfies Settings;

export const consumerSettings = {
  databaseUrl: commonSettings.databaseUrl,
  redisUrl: commonSettings.redisUrl,
  ...busSettings,
  group: { schema: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('billing'), env: 'BILLING_CONSUMER_GROUP', description: 'bus consumer group' },
  stripeSchema,
  stripeImportInterval: { schema: duration('5s'), env: 'BILLING_STRIPE_IMPORT_INTERVAL', description: "how often the Stripe mirror's invoices are imported (0 = never)" },
  dbPool: { schema: intIn(1, 256, 5), env: 'BILLING_CONSUMER_DB_POOL', description: 'Postgres connections of the consumer' },
  metricsPort: metricsPort('BILLING_CONSUMER_METRICS_PORT'),
} satisfies Settings;

export const seedSettings = {
  databaseUrl: commonSettings.databaseUrl,
  records: { schema: z.coerce.number().int().min(1).max(1_000_000_000), env: 'BILLING_SEED_RECORDS', description: 'records to generate (required)' },
  products: { schema: intIn(1, 100_000_000, 10_000), env: 'BILLING_SEED_PRODUCTS', description: 'distinct products (a few are much busier than the rest)' },
  clients: { schema: intIn(1, 100_000_000, 2_000), env: 'BILLING_SEED_CLIENTS', description: 'distinct clients' },
  months: { schema: intIn(1, 240, 24), env: 'BILLING_SEED_MONTHS', description: 'months the records are spread over, ending now' },
  seed: { schema: z.coerce.number().min(0).max(1).default(0.42), env: 'BILLING_SEED', description: 'random seed in [0, 1] (same seed, same data)' },
} satisfies Settings;

export type ApiConfig = ConfigOf<typeof apiSettings>;
export type RelayConfig = ConfigOf<typeof relaySettings>;
export type ConsumerConfig = ConfigOf<typeof consumerSettings>;
export type SeedConfig = ConfigOf<typeof seedSettings>;
