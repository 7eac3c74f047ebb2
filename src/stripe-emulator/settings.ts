// `ledgerline stripe-emulator` settings: each is a flag and an environment variable, validated.
import { z } from 'zod';
import { port, type Settings } from '../platform/config.ts';
import { parseLatency } from './faults.ts';

const keyList = z
  .union([z.string(), z.array(z.string())])
  .default('sk_test_emulator')
  .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, { error: 'expected secret keys like sk_test_…' })).min(1, { error: 'expected at least one key' }));

export const stripeEmulatorSettings = {
  port: { schema: port(12111), env: 'STRIPE_EMULATOR_PORT', description: 'port to listen on' },
  host: { schema: z.string().min(1).default('127.0.0.1'), env: 'STRIPE_EMULATOR_HOST', description: 'address to listen on' },
  apiKey: { schema: keyList, env: 'STRIPE_EMULATOR_API_KEYS', description: 'accepted secret key; repeat the flag or give a comma list' },
  rateLimit: { schema: z.coerce.number().min(0).default(25), env: 'STRIPE_EMULATOR_RATE_LIMIT', description: 'requests per second per key for reads and for writes (0 = off)' },
  concurrencyLimit: { schema: z.coerce.number().int().min(0).default(0), env: 'STRIPE_EMULATOR_CONCURRENCY_LIMIT', description: 'requests in flight per key (0 = no limit)' },
  latency: {
    schema: z.string().default('0').refine((v) => parseLatency(v) !== undefined, { error: 'expected a duration like 250ms, 250ms±50ms or 0' }),
    env: 'STRIPE_EMULATOR_LATENCY',
    description: 'added latency per request, e.g. 250ms±50ms',
  },
  faultRate: { schema: z.coerce.number().min(0).max(1).default(0), env: 'STRIPE_EMULATOR_FAULT_RATE', description: 'share of requests failing at random: half 500 api_error, half dropped connections' },
  seed: { schema: z.coerce.number().int().min(0).default(1), env: 'STRIPE_EMULATOR_SEED', description: 'RNG seed of the generated account' },
  customers: { schema: z.coerce.number().int().min(0).default(0), env: 'STRIPE_EMULATOR_CUSTOMERS', description: 'customers to generate (0 = start empty)' },
  scale: { schema: z.coerce.number().min(0).default(1), env: 'STRIPE_EMULATOR_SCALE', description: 'multiplier for the catalogue and the other resources' },
  months: { schema: z.coerce.number().int().min(13).max(120).default(13), env: 'STRIPE_EMULATOR_MONTHS', description: 'months of history to generate (at least 13)' },
  accountId: {
    schema: z.string().regex(/^acct_[A-Za-z0-9]{1,32}$/, { error: 'expected an account id like acct_1Nnlp9GPxmnHQRkJ' }).optional(),
    env: 'STRIPE_EMULATOR_ACCOUNT_ID',
    description: 'the account id GET /v1/account answers (default: derived from the seed)',
  },
  now: { schema: z.coerce.number().int().positive().optional(), env: 'STRIPE_EMULATOR_NOW', description: 'start of the emulator clock, unix seconds (default: now)' },
} satisfies Settings;
