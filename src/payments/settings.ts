// Settings of `ledgerline payments api|worker|monitor`: each is a flag and an environment
// variable, validated by zod at start-up (src/platform/config.ts). Values are never echoed.
import { hostname } from 'node:os';
import { z } from 'zod';
import { commonSettings, duration, parseDuration, port, positiveInt, urlWithScheme, type ConfigOf, type Settings } from '../platform/config.ts';
import { apiKeyListSchema } from '../platform/api-keys.ts';

export interface Latency {
  baseMs: number;
  jitterMs: number;
}

/** `50ms`, `50ms±10ms` (or `50ms+-10ms`), `0`. */
export function parseLatency(text: string): Latency | undefined {
  const [base, jitter, ...rest] = text.split(/±|\+-/);
  if (rest.length || base === undefined) return undefined;
  const baseMs = parseDuration(base);
  const jitterMs = jitter === undefined ? 0 : parseDuration(jitter);
  if (baseMs === undefined || jitterMs === undefined || jitterMs > baseMs) return undefined;
  return { baseMs, jitterMs };
}

export const SIMULATED_OUTCOMES = ['success', 'insufficient_funds', 'declined', 'api_error'] as const;
export type SimulatedOutcome = (typeof SIMULATED_OUTCOMES)[number];
export type OutcomeMix = Record<SimulatedOutcome, number>;

/** `success=0.7,insufficient_funds=0.2,api_error=0.1`; shares are normalised to sum to 1. */
export function parseMix(text: string): OutcomeMix | string {
  const mix: OutcomeMix = { success: 0, insufficient_funds: 0, declined: 0, api_error: 0 };
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, value] = part.split('=');
    if (!(SIMULATED_OUTCOMES as readonly string[]).includes(name ?? '')) return `unknown outcome "${name}" (expected ${SIMULATED_OUTCOMES.join(', ')})`;
    const share = Number(value);
    if (!Number.isFinite(share) || share < 0) return `"${name}" needs a share >= 0`;
    mix[name as SimulatedOutcome] = share;
  }
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  if (total <= 0) return 'the shares must not all be 0';
  for (const k of SIMULATED_OUTCOMES) mix[k] /= total;
  return mix;
}

const ID = /^[A-Za-z0-9_.:-]{1,100}$/;

const shared = {
  redisUrl: commonSettings.redisUrl,
  kafkaBrokers: commonSettings.kafkaBrokers,
  keyPrefix: {
    schema: z.string().regex(/^[A-Za-z0-9_.:{}-]{0,64}$/, { error: 'expected up to 64 letters, digits or _ . : { } -' }).default('payments:'),
    env: 'PAYMENTS_KEY_PREFIX',
    description: 'prefix of every Redis key of the payments part',
  },
  busPrefix: {
    schema: z.string().regex(/^[A-Za-z0-9_.:-]{0,64}$/, { error: 'expected up to 64 letters, digits or _ . : -' }).default(''),
    env: 'BUS_PREFIX',
    description: 'prefix of the event bus topics and streams (isolates test runs)',
  },
} satisfies Settings;

const slowAfter = { schema: duration('60s'), env: 'PAYMENTS_SLOW_AFTER', description: 'a payment not final this long after submission is slow (/payments/slow, alerts)' } satisfies Settings[string];

export const apiSettings = {
  ...shared,
  slowAfter,
  port: { schema: port(8090), env: 'PAYMENTS_API_PORT', description: 'port of the payments HTTP API' },
  host: { schema: z.string().min(1).default('127.0.0.1'), env: 'PAYMENTS_API_HOST', description: 'address to listen on' },
  apiKeys: { schema: apiKeyListSchema(), env: 'PAYMENTS_API_KEYS', description: 'accepted API keys, comma-separated (Authorization: Bearer <key> or X-Api-Key)' },
  idempotencyTtl: { schema: duration('24h'), env: 'PAYMENTS_IDEMPOTENCY_TTL', description: 'how long an Idempotency-Key is remembered' },
} satisfies Settings;

const boolean = (fallback: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'on', 'off'])], { error: 'expected true or false' })
    .default(fallback)
    .transform((v) => v === true || v === 'true' || v === '1' || v === 'on');

/** What every process that moves payments (workers, monitor) needs for the reaper and retries. */
const queueSettings = {
  workerTtl: { schema: duration('10s'), env: 'PAYMENTS_WORKER_TTL', description: 'a worker whose heartbeat is older than this is dead: its payments go back to the queue' },
  reapInterval: { schema: duration('2s'), env: 'PAYMENTS_REAP_INTERVAL', description: 'how often dead workers are looked for and due retries are queued' },
  maxDeliveries: {
    schema: z.coerce.number({ error: 'expected a whole number' }).int({ error: 'expected a whole number' }).min(0, { error: 'expected 0 (no limit) or more' }).default(10),
    env: 'PAYMENTS_MAX_DELIVERIES',
    description: 'a payment taken back from a lost worker after this many deliveries is a poison pill: dead-lettered (0 = no limit)',
  },
  retentionDays: {
    schema: z.coerce.number({ error: 'expected a whole number of days' }).int({ error: 'expected a whole number of days' }).min(0, { error: 'expected 0 (keep forever) or more' }).default(30),
    env: 'PAYMENTS_RETENTION_DAYS',
    description: 'final payments older than this many days are removed (0 = keep forever)',
  },
} satisfies Settings;

export const workerSettings = {
  ...shared,
  ...queueSettings,
  workerId: {
    schema: z.string().regex(ID, { error: 'expected 1-100 letters, digits or _ . : -' }).optional(),
    env: 'PAYMENTS_WORKER_ID',
    description: 'unique id of this worker (default: host-pid-random)',
  },
  concurrency: { schema: positiveInt(200), env: 'PAYMENTS_WORKER_CONCURRENCY', description: 'payments at the processor at once in this worker (as many again are fetched ahead)' },
  maxAttempts: { schema: positiveInt(5), env: 'PAYMENTS_MAX_ATTEMPTS', description: 'attempts before an api_error payment is failed and dead-lettered' },
  retryBase: { schema: duration('1s'), env: 'PAYMENTS_RETRY_BASE', description: 'first api_error retry waits up to this long (exponential backoff, full jitter)' },
  retryCap: { schema: duration('5m'), env: 'PAYMENTS_RETRY_CAP', description: 'longest wait between retries' },
  outboxRelay: { schema: boolean(true), env: 'PAYMENTS_OUTBOX_RELAY', description: 'relay final outcomes from the outbox to the bus topic payments.outcomes (true/false)' },
  outboxClaimIdle: { schema: duration('30s'), env: 'PAYMENTS_OUTBOX_CLAIM_IDLE', description: 'outbox entries a relay took but did not acknowledge for this long are taken over (its process died)' },
  metricsPort: { schema: z.coerce.number().int().min(0).max(65535).optional(), env: 'PAYMENTS_WORKER_METRICS_PORT', description: 'serve /metrics and /healthz on this port (0 = any free port; unset = off)' },
  processor: { schema: z.enum(['simulated', 'stripe']).default('simulated'), env: 'PAYMENTS_PROCESSOR', description: 'simulated or stripe' },
  simulatedMix: {
    schema: z
      .string()
      .default('success=0.7,insufficient_funds=0.2,api_error=0.1')
      .transform((v, ctx) => {
        const mix = parseMix(v);
        if (typeof mix === 'string') {
          ctx.addIssue({ code: 'custom', message: mix });
          return z.NEVER;
        }
        return mix;
      }),
    env: 'PAYMENTS_SIMULATED_MIX',
    description: 'simulated outcome shares, e.g. success=0.7,insufficient_funds=0.2,declined=0,api_error=0.1',
  },
  simulatedLatency: {
    schema: z
      .string()
      .default('0')
      .transform((v, ctx) => parseLatency(v) ?? (ctx.addIssue({ code: 'custom', message: 'expected e.g. 50ms or 50ms±10ms' }), z.NEVER)),
    env: 'PAYMENTS_SIMULATED_LATENCY',
    description: 'simulated processor latency, e.g. 50ms or 50ms±10ms',
  },
  simulatedSeed: { schema: z.coerce.number().int().min(0).default(1), env: 'PAYMENTS_SIMULATED_SEED', description: 'seed of the simulated outcomes (deterministic per seed)' },
  stripeApiKey: {
    schema: z.string().regex(/^(sk|rk)_(test|live)_\S+$/, { error: 'expected a secret (sk_…) or restricted (rk_…) key' }).optional(),
    env: 'STRIPE_API_KEY',
    description: 'Stripe secret key (processor stripe)',
  },
  stripeApiBase: {
    schema: urlWithScheme(['http', 'https']).default('https://api.stripe.com'),
    env: 'STRIPE_API_BASE',
    description: 'Stripe API base URL (the emulator: http://127.0.0.1:12111)',
  },
  stripePaymentMethod: { schema: z.string().min(1).default('pm_card_visa'), env: 'PAYMENTS_STRIPE_PAYMENT_METHOD', description: 'payment method charged (test mode: metadata.payment_method overrides it)' },
  stripeTimeout: { schema: duration('30s'), env: 'PAYMENTS_STRIPE_TIMEOUT', description: 'Stripe request timeout' },
} satisfies Settings;

export const monitorSettings = {
  ...shared,
  ...queueSettings,
  slowAfter,
  port: { schema: port(8091), env: 'PAYMENTS_MONITOR_PORT', description: 'port of the monitor: /metrics and /healthz' },
  host: { schema: z.string().min(1).default('127.0.0.1'), env: 'PAYMENTS_MONITOR_HOST', description: 'address to listen on' },
  alertDepth: { schema: positiveInt(100_000), env: 'PAYMENTS_ALERT_DEPTH', description: 'alert when more payments than this wait in the queue' },
  alertWebhook: { schema: urlWithScheme(['http', 'https']).optional(), env: 'PAYMENTS_ALERT_WEBHOOK', description: 'POST each alert as JSON to this URL' },
  checkInterval: { schema: duration('15s'), env: 'PAYMENTS_CHECK_INTERVAL', description: 'how often the alert conditions are checked' },
  alertInterval: { schema: duration('60s'), env: 'PAYMENTS_ALERT_INTERVAL', description: 'an alert condition is raised at most once per this interval' },
} satisfies Settings;

export type ApiConfig = ConfigOf<typeof apiSettings>;
export type WorkerConfig = ConfigOf<typeof workerSettings>;
export type MonitorConfig = ConfigOf<typeof monitorSettings>;

export const defaultWorkerId = () => `${hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 40)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
