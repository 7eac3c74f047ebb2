// Settings of `ledgerline stripe-sync`: each has a flag and an environment variable, validated
// by zod at start-up (src/platform/config.ts). Values are never echoed: keys are secrets.
import { z } from 'zod';
import { commonSettings, duration, flag, port, positiveInt, urlWithScheme, type ConfigOf, type Settings } from '../platform/config.ts';

export const DEFAULT_API_BASE = 'https://api.stripe.com';
export const DEFAULT_STRIPE_VERSION = '2023-08-16';




export interface StripeKeyConfig {
  /** The account id to file rows under instead of the one GET /v1/account returns. */
  label?: string;
  key: string;
}

const LABEL = /^[A-Za-z0-9_.-]{1,64}$/;

/** `KEY` or `LABEL=KEY`, several separated by commas. Never quotes a key in its messages. */
export const stripeKeys = () =>
  z.string({ error: 'is required' }).transform((text, ctx) => {
    const out: StripeKeyConfig[] = [];
    const items = text.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) ctx.addIssue({ code: 'custom', message: 'expected at least one key' });
    items.forEach((item, i) => {
      const eq = item.indexOf('=');
      const label = eq >= 0 ? item.slice(0, eq) : undefined;
      const key = eq >= 0 ? item.slice(eq + 1) : item;
      if (label !== undefined && !LABEL.test(label)) ctx.addIssue({ code: 'custom', message: `key ${i + 1}: the label before "=" must be 1-64 letters, digits, _ . or -` });
      if (!/^\S+$/.test(key)) ctx.addIssue({ code: 'custom', message: `key ${i + 1}: expected a secret or restricted key` });
      else if (key.startsWith('pk_')) ctx.addIssue({ code: 'custom', message: `key ${i + 1}: a publishable key (pk_…) cannot read the account; give a secret (sk_…) or restricted (rk_…) key` });
      out.push(label === undefined ? { key } : { label, key });
    });
    return out;
  });

const accountIds = () =>
  z
    .string()
    .optional()
    .transform((text, ctx) => {
      const ids = (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      for (const id of ids) if (!/^acct_[A-Za-z0-9]+$/.test(id)) ctx.addIssue({ code: 'custom', message: 'expected acct_… ids separated by commas' });
      return ids;
    });

const schemaName = () =>
  z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'expected a lower-case SQL identifier' }).default('stripe');

/** What `status` needs: the database only. */
export const statusSettings = {
  databaseUrl: commonSettings.databaseUrl,
  stripeSyncSchema: { schema: schemaName(), description: 'Postgres schema that holds the Stripe mirror' },
} satisfies Settings;

export const syncSettings = {
  ...statusSettings,
  redisUrl: commonSettings.redisUrl,
  stripeKey: {
    schema: stripeKeys(),
    env: 'STRIPE_KEY',
    description: 'Stripe secret or restricted key(s): KEY or LABEL=KEY, comma-separated; each key is one account (LABEL files its rows under that account id instead of the one GET /v1/account returns)',
  },
  stripeAccount: {
    schema: accountIds(),
    env: 'STRIPE_ACCOUNT',
    description: 'Connect: connected account ids (acct_…, comma-separated) to sync through the first key with the Stripe-Account header, each as its own account',
  },
  stripeApiBase: {
    schema: urlWithScheme(['http', 'https']).default(DEFAULT_API_BASE),
    env: 'STRIPE_API_BASE',
    description: "Stripe API base URL (the emulator's URL in tests and the demo)",
  },
  stripeVersion: {
    schema: z.string().regex(/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/, { error: 'expected an API version such as 2023-08-16' }).default(DEFAULT_STRIPE_VERSION),
    env: 'STRIPE_VERSION',
    description: 'Stripe-Version header sent with every request (the schema is generated for 2023-08-16)',
  },
  maxRps: {
    schema: z.coerce.number().int().min(0).default(50),
    env: 'STRIPE_SYNC_MAX_RPS',
    description: 'requests a second to Stripe per account, shared through Redis by every engine process (0 = unlimited)',
  },
  concurrency: { schema: positiveInt(50), env: 'STRIPE_SYNC_CONCURRENCY', description: 'requests to Stripe in flight per process' },
  pollInterval: { schema: duration('500ms'), env: 'STRIPE_SYNC_POLL_INTERVAL', description: 'how often /v1/events is polled' },
  hardDeletes: { schema: flag(), switch: true, env: 'STRIPE_SYNC_HARD_DELETES', description: 'delete rows of deleted objects instead of setting _deleted_at' },
  reconcileInterval: {
    schema: duration('24h'),
    env: 'STRIPE_SYNC_RECONCILE_INTERVAL',
    description: 'how often `run` backfills again to catch changes Stripe sends no event for (0 = never)',
  },
  perParent: {
    schema: z.string().default('default'),
    env: 'STRIPE_SYNC_PER_PARENT',
    description: 'tables only listed per parent (a request per customer, setup intent…): default, all, none, or a comma list of tables',
  },
  upcomingInvoices: {
    schema: z.enum(['auto', 'upcoming', 'create_preview', 'off']).default('auto'),
    env: 'STRIPE_SYNC_UPCOMING_INVOICES',
    description: 'upcoming invoices API: GET /v1/invoices/upcoming, POST /v1/invoices/create_preview, auto (the first that answers) or off',
  },
  upcomingRefreshInterval: {
    schema: duration('6h'),
    env: 'STRIPE_SYNC_UPCOMING_REFRESH_INTERVAL',
    description: 'how often every upcoming invoice is recomputed besides the event-driven refreshes (0 = never)',
  },
  port: { schema: port(8787), env: 'STRIPE_SYNC_PORT', description: 'HTTP port of /wait and /status (`run`)' },
  host: { schema: z.string().default('127.0.0.1'), env: 'STRIPE_SYNC_HOST', description: 'HTTP listen address (`run`)' },
  progress: {
    schema: z.enum(['auto', 'bars', 'logs', 'off']).default('auto'),
    env: 'STRIPE_SYNC_PROGRESS',
    description: 'backfill progress: a bar per endpoint on a terminal, structured log lines otherwise (auto)',
  },
  migrate: { schema: flag(), switch: true, env: 'STRIPE_SYNC_MIGRATE', description: "apply stripe-sync's migrations to the schema before starting" },
} satisfies Settings;

export type SyncConfig = ConfigOf<typeof syncSettings>;
export type StatusConfig = ConfigOf<typeof statusSettings>;
