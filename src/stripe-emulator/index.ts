// The stripe-emulator part's public module: start an emulator in-process (tests of other parts
// use this) or from the CLI (`ledgerline stripe-emulator`, see command.ts).
import type { FastifyInstance } from 'fastify';
import { createLogger, type Logger } from '../platform/log.ts';
import { createMetricsRegistry } from '../platform/metrics.ts';
import { createClock } from './clock.ts';
import type { Emulator } from './context.ts';
import { FaultQueue, parseFault, parseLatency, type Latency } from './faults.ts';
import { createIdFactory } from './ids.ts';
import { prepareListRoutes } from './list-endpoints.ts';
import { createRng } from './rng.ts';
import { seedAccount } from './seed.ts';
import { createEmulatorServer } from './server.ts';
import { loadStripeSpec } from './spec.ts';
import { collectStats, type EmulatorStats } from './stats.ts';
import { Store } from './store.ts';

export type { EmulatorStats } from './stats.ts';
export { API_VERSION } from './spec.ts';

export interface StripeEmulatorOptions {
  /** 0 (the default in-process) picks a free port; the CLI defaults to 12111. */
  port?: number;
  host?: string;
  /** Accepted secret keys (default `sk_test_emulator`). */
  apiKeys?: string[];
  /** Requests a second per key for reads and for writes (default 25, 0 = off). */
  rateLimit?: number;
  /** Requests in flight per key (default 0 = no limit). */
  concurrencyLimit?: number;
  /** `250ms±50ms`, `0`… */
  latency?: string | Latency;
  /** Share of requests that fail at random (half 500s, half dropped connections). */
  faultRate?: number;
  /** Seeding: RNG seed and sizes. With no customers the account starts empty. */
  seed?: number;
  customers?: number;
  scale?: number;
  months?: number;
  /** Start of the emulator clock, unix seconds (default: now). */
  now?: number;
  /** What GET /v1/account answers (default: an id derived from the seed). */
  accountId?: string;
  logger?: Logger;
  specDir?: string;
}

export interface StripeEmulator {
  url: string;
  host: string;
  port: number;
  apiKey: string;
  stats(): EmulatorStats;
  clock: { now(): number; advance(seconds: number): number; set(unixSeconds: number): number };
  /** Milliseconds seeding took. */
  seedMs: number;
  /**
   * Makes the next `times` (default 1) requests matching `method`/`path` fail with `fault`
   * (`api_error`, `drop`, `rate_limit`, `slow=2s`); the same as `POST /_emulator/faults`.
   */
  injectFault(fault: string, match?: { method?: string; path?: string; times?: number }): void;
  /** Faults injected so far, by kind. */
  faultsInjected(): Record<string, number>;
  stop(): Promise<void>;
}

/** Builds the state (spec, store, clock) and seeds it; no HTTP. */
export function createEmulatorState(options: Pick<StripeEmulatorOptions, 'seed' | 'customers' | 'scale' | 'months' | 'now' | 'specDir' | 'accountId'> = {}): Emulator {
  const spec = loadStripeSpec(options.specDir);
  const seed = options.seed ?? 1;
  const clock = createClock(options.now);
  const emu: Emulator = {
    spec,
    store: new Store(),
    clock,
    ids: createIdFactory(createRng(seed + 7919), spec.fixtures),
    rng: createRng(seed + 104729),
    lists: prepareListRoutes(spec),
    account: { id: options.accountId ?? accountIdFor(seed), created: clock.now() - 400 * 86_400 },
  };
  if (options.customers) seedAccount(emu, { seed, customers: options.customers, scale: options.scale ?? 1, months: options.months ?? 13 });
  return emu;
}

export async function startStripeEmulator(options: StripeEmulatorOptions = {}): Promise<StripeEmulator> {
  const latency = typeof options.latency === 'string' ? parseLatency(options.latency) : (options.latency ?? { baseMs: 0, jitterMs: 0 });
  if (!latency) throw new Error(`invalid latency ${String(options.latency)}: expected e.g. 250ms±50ms or 0`);
  const started = performance.now();
  const emu = createEmulatorState(options);
  const seedMs = performance.now() - started;
  const apiKeys = options.apiKeys?.length ? options.apiKeys : ['sk_test_emulator'];
  const logger = options.logger ?? createLogger({ name: 'stripe-emulator', level: 'warn' });
  const faults = new FaultQueue();
  const app: FastifyInstance = await createEmulatorServer(emu, {
    apiKeys,
    rateLimit: options.rateLimit ?? 25,
    concurrencyLimit: options.concurrencyLimit ?? 0,
    latency,
    faultRate: options.faultRate ?? 0,
    faults,
    logger,
    registry: createMetricsRegistry('stripe-emulator'),
  });
  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  return {
    url: `http://${host}:${port}`,
    host,
    port,
    apiKey: apiKeys[0]!,
    stats: () => collectStats(emu),
    clock: emu.clock,
    seedMs,
    injectFault(text, match = {}) {
      const fault = parseFault(text);
      if (!fault) throw new Error(`unknown fault ${text}: expected api_error, drop, rate_limit or slow=<duration>`);
      faults.add({ fault, method: match.method, path: match.path, times: match.times ?? 1 });
    },
    faultsInjected: () => ({ ...faults.injected }),
    stop: () => app.close(),
  };
}

/** A stable account id per seed, so two emulators with different seeds are two accounts. */
function accountIdFor(seed: number): string {
  const rng = createRng(seed + 31_337);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `acct_1${Array.from({ length: 15 }, () => alphabet[rng.int(0, alphabet.length - 1)]).join('')}`;
}
