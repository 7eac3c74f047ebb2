// What the stripe-sync tests share: a throwaway schema per test file, the engine's configuration
// for an in-process emulator, random writes, and the comparison of every row with the emulator.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { loadConfig } from '../../../src/platform/config.ts';
import type { Sql } from '../../../src/platform/db.ts';
import { createLogger, type Logger } from '../../../src/platform/log.ts';
import { migrate } from '../../../src/platform/migrations.ts';
import type { StripeEmulator } from '../../../src/stripe-emulator/index.ts';
import { tableMapping } from '../../../src/stripe-sync/schema-mapping.ts';
import { syncSettings, type SyncConfig } from '../../../src/stripe-sync/settings.ts';
import { syncPlan } from '../../../src/stripe-sync/sync-plan.ts';
import { testDatabaseUrl, testSql } from '../../support/database.ts';
import { freePort } from '../../support/ports.ts';

export type JsonObject = Record<string, unknown>;

export interface TestSchema {
  sql: Sql;
  schema: string;
  drop(): Promise<void>;
}

/** A freshly migrated schema, dropped (with its migration records) by drop(). */
export async function createTestSchema(prefix = 'stripe_sync_t'): Promise<TestSchema> {
  const sql = testSql(12);
  const schema = `${prefix}_${randomBytes(4).toString('hex')}`;
  await migrate(sql, { parts: ['stripe-sync'], variables: { 'stripe-sync': { schema } } });
  return {
    sql,
    schema,
    async drop() {
      await sql.unsafe(`drop schema if exists ${schema} cascade`);
      await sql`delete from ledgerline.schema_migrations where part = ${`stripe-sync(schema=${schema})`}`.catch(() => {});
      await sql.end({ timeout: 5 });
    },
  };
}

/** The engine's settings for an emulator, as the CLI would load them from the environment. */
export async function syncConfigFor(emulator: { url: string; apiKey: string }, schema: string, env: Record<string, string> = {}, label = 'acct_test'): Promise<SyncConfig> {
  const port = String(await freePort());
  return loadConfig(syncSettings, {}, {
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    STRIPE_KEY: `${label}=${emulator.apiKey}`,
    STRIPE_API_BASE: emulator.url,
    STRIPE_SYNC_SCHEMA: schema,
    STRIPE_SYNC_MAX_RPS: '0',
    STRIPE_SYNC_POLL_INTERVAL: '100ms',
    STRIPE_SYNC_PROGRESS: 'off',
    STRIPE_SYNC_RECONCILE_INTERVAL: '0',
    STRIPE_SYNC_UPCOMING_INVOICES: 'off',
    STRIPE_SYNC_PORT: port,
    ...env,
  });
}

/** A logger whose lines are kept (to check what is logged, e.g. that no key is). */
export function capturingLogger(level = 'warn'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      if (process.env.SYNC_TEST_LOG) process.stderr.write(chunk);
      done();
    },
  });
  return { logger: createLogger({ name: 'stripe-sync-test', level: process.env.SYNC_TEST_LOG ?? level }, stream), lines };
}

export class StripeHttp {
  readonly url: string;
  readonly key: string;
  requests = 0;

  constructor(emulator: { url: string; apiKey: string }) {
    this.url = emulator.url;
    this.key = emulator.apiKey;
  }

  /** One call; GETs are retried on 429, 5xx and dropped connections (emulators with faults on). */
  async call(method: 'GET' | 'POST' | 'DELETE', path: string, params: Record<string, string> = {}): Promise<JsonObject> {
    const body = new URLSearchParams(params).toString();
    for (let attempt = 1; ; attempt++) {
      this.requests++;
      let response: Response;
      let json: JsonObject;
      try {
        response = await fetch(`${this.url}${path}${method === 'GET' && body ? `?${body}` : ''}`, {
          method,
          headers: { authorization: `Bearer ${this.key}`, ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
          body: method === 'POST' ? body : undefined,
        });
        json = (await response.json()) as JsonObject;
      } catch (err) {
        if (method === 'GET' && attempt < 20) {
          await sleep(20 * attempt);
          continue;
        }
        throw err;
      }
      if (method === 'GET' && (response.status === 429 || response.status >= 500) && response.status !== 501 && attempt < 20) {
        await sleep(20 * attempt);
        continue;
      }
      if (!response.ok) throw Object.assign(new Error(`${method} ${path} → ${response.status}: ${JSON.stringify(json)}`), { status: response.status, body: json });
      return json;
    }
  }

  async listAll(path: string, params: Record<string, string> = {}, paginated = true): Promise<JsonObject[]> {
    const out: JsonObject[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.call('GET', path, { ...params, ...(paginated ? { limit: '100' } : {}), ...(after ? { starting_after: after } : {}) });
      const data = page.data as JsonObject[];
      out.push(...data);
      if (!paginated || !page.has_more || data.length === 0) return out;
      after = String(data[data.length - 1]!.id);
    }
  }
}

/** A deterministic RNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random writes over what the emulator can write. Each kind is a function picking its target
 * from what exists, so more resources (payment intents, subscriptions…) can be added as entries.
 */
export class Mutator {
  readonly http: StripeHttp;
  private readonly random: () => number;
  readonly customers: string[] = [];
  readonly products: string[] = [];
  /** Products that have prices cannot be deleted (as on Stripe). */
  readonly withPrices = new Set<string>();
  readonly prices: string[] = [];
  counts: Record<string, number> = {};

  constructor(http: StripeHttp, seed: number) {
    this.http = http;
    this.random = rng(seed);
  }

  async load(): Promise<void> {
    this.customers.push(...(await this.http.listAll('/v1/customers')).map((c) => String(c.id)));
    const prices = await this.http.listAll('/v1/prices');
    this.prices.push(...prices.map((p) => String(p.id)));
    for (const p of prices) this.withPrices.add(String(p.product));
    this.products.push(...(await this.http.listAll('/v1/products')).map((p) => String(p.id)));
  }

  private pick<T>(xs: T[]): T | undefined {
    return xs.length ? xs[Math.floor(this.random() * xs.length)] : undefined;
  }

  private word(): string {
    return randomBytes(4).toString('hex');
  }

  readonly kinds: Array<{ name: string; weight: number; run: () => Promise<void> }> = [
    { name: 'customer.create', weight: 3, run: async () => { this.customers.push(String((await this.http.call('POST', '/v1/customers', { email: `${this.word()}@example.com`, name: `N ${this.word()}`, 'metadata[k]': this.word() })).id)); } },
    { name: 'customer.update', weight: 6, run: async () => { const id = this.pick(this.customers); if (id) await this.http.call('POST', `/v1/customers/${id}`, { name: `U ${this.word()}`, 'metadata[n]': this.word(), description: this.random() < 0.3 ? '' : this.word() }); } },
    { name: 'customer.delete', weight: 1, run: async () => { const i = Math.floor(this.random() * this.customers.length); const id = this.customers[i]; if (!id) return; this.customers.splice(i, 1); await this.http.call('DELETE', `/v1/customers/${id}`); } },
    { name: 'product.create', weight: 2, run: async () => { this.products.push(String((await this.http.call('POST', '/v1/products', { name: `P ${this.word()}` })).id)); } },
    { name: 'product.update', weight: 3, run: async () => { const id = this.pick(this.products); if (id) await this.http.call('POST', `/v1/products/${id}`, { description: this.word(), active: this.random() < 0.8 ? 'true' : 'false' }); } },
    { name: 'product.delete', weight: 1, run: async () => { const i = this.products.findIndex((p) => !this.withPrices.has(p)); if (i < 0) return; const [id] = this.products.splice(i, 1); await this.http.call('DELETE', `/v1/products/${id}`); } },
    {
      name: 'price.create', weight: 2, run: async () => {
        const product = this.pick(this.products);
        if (!product) return;
        const recurring = this.random() < 0.5;
        const price = await this.http.call('POST', '/v1/prices', { product, currency: 'usd', unit_amount: String(100 + Math.floor(this.random() * 10000)), ...(recurring ? { 'recurring[interval]': 'month' } : {}) });
        this.prices.push(String(price.id));
        this.withPrices.add(product);
      },
    },
    { name: 'price.update', weight: 3, run: async () => { const id = this.pick(this.prices); if (id) await this.http.call('POST', `/v1/prices/${id}`, { nickname: this.word(), 'metadata[x]': this.word() }); } },
  ];

  async run(n: number): Promise<void> {
    const total = this.kinds.reduce((s, k) => s + k.weight, 0);
    for (let i = 0; i < n; i++) {
      let r = this.random() * total;
      const kind = this.kinds.find((k) => (r -= k.weight) < 0) ?? this.kinds[0]!;
      await kind.run();
      this.counts[kind.name] = (this.counts[kind.name] ?? 0) + 1;
    }
  }
}

export interface Comparison {
  tables: Map<string, { expected: number; rows: number }>;
  requests: number;
}

/** Tables whose rows the emulator's seed makes unreachable through Stripe's own rules (reported). */
export const EMULATOR_SEED_EXCEPTIONS: Record<string, string> = {
  setup_attempt: 'the seed gives setup intents attempts but leaves their latest_attempt null; the engine asks only setup intents with an attempt',
  usage_record_summary: 'the seed puts usage record summaries on licensed (not metered) subscription items; the engine asks only metered items',
};

/**
 * Walks the emulator (lists, each parent's nested lists) independently of the engine and checks
 * that every live row's _raw equals the emulator's object and that no other live row exists.
 */
export async function compareWithEmulator(sql: Sql, schema: string, emulator: StripeEmulator, accountId: string, options: { perParent?: boolean } = {}): Promise<Comparison> {
  const http = new StripeHttp(emulator);
  const plan = syncPlan();
  const expected = new Map<string, Map<string, JsonObject>>();
  const put = (table: string, o: JsonObject) => {
    let m = expected.get(table);
    if (!m) expected.set(table, (m = new Map()));
    m.set(String(o.id), o);
  };
  const parentsOf = new Map<string, JsonObject[]>();
  for (const job of plan.lists) {
    const params: Record<string, string> = {};
    if (job.path === '/v1/subscriptions') params.status = 'all';
    if (job.path === '/v1/apps/secrets') params['scope[type]'] = 'account';
    const objects = await http.listAll(job.path, params, job.paginated);
    parentsOf.set(job.table, objects);
    for (const o of objects) put(job.table, o);
    for (const child of job.children) {
      if (!child.nestedListPath || !child.parentParam) continue;
      const object = tableMapping(child.table).object;
      for (const parent of objects) {
        const path = child.parentParam.in === 'path' ? child.nestedListPath.replace(`{${child.parentParam.name}}`, String(parent.id)) : child.nestedListPath;
        const query = child.parentParam.in === 'query' ? { [child.parentParam.name]: String(parent.id) } : {};
        for (const item of await http.listAll(path, query)) if (item.object === object) put(child.table, item);
      }
    }
  }
  for (const job of plan.parents.filter((j) => !j.optional && options.perParent !== false)) {
    if (EMULATOR_SEED_EXCEPTIONS[job.table]) continue;
    const parents = parentsOf.get(job.parentTable) ?? (await sql.unsafe(`select _raw from "${schema}"."${job.parentTable}" where _account_id = $1 and _deleted_at is null`, [accountId])).map((r) => r._raw as JsonObject);
    for (const parent of parents) {
      const path = job.parentParam.in === 'path' ? job.path.replace(`{${job.parentParam.name}}`, String(parent.id)) : job.path;
      const query: Record<string, string> = job.parentParam.in === 'query' ? { [job.parentParam.name]: String(parent.id) } : {};
      for (const [param, field] of Object.entries(job.parentFields)) {
        if (parent[field] == null) continue;
        query[param] = String(parent[field]);
      }
      if (Object.keys(job.parentFields).some((p) => !(p in query))) continue;
      for (const item of await http.listAll(path, query, job.paginated)) put(job.table, item);
    }
  }
  const tables = new Map<string, { expected: number; rows: number }>();
  const problems: string[] = [];
  // Events older than Stripe's 30-day window stay in Postgres as history.
  const windowStart = new Date((emulator.clock.now() - 30 * 86400) * 1000);
  for (const [table, objects] of expected) {
    const rows = table === 'event'
      ? await sql.unsafe(`select id, _raw from "${schema}".event where _account_id = $1 and _deleted_at is null and created >= $2`, [accountId, windowStart])
      : await sql.unsafe(`select id, _raw from "${schema}"."${table}" where _account_id = $1 and _deleted_at is null`, [accountId]);
    tables.set(table, { expected: objects.size, rows: rows.length });
    const seen = new Set<string>();
    for (const row of rows) {
      const id = String(row.id);
      seen.add(id);
      const want = objects.get(id);
      if (!want) problems.push(`${table} ${id}: in Postgres, not in Stripe`);
      else {
        try {
          assert.deepStrictEqual(row._raw, want);
        } catch {
          problems.push(`${table} ${id}: _raw differs: ${diffKeys(row._raw as JsonObject, want)}`);
        }
      }
    }
    for (const id of objects.keys()) if (!seen.has(id)) problems.push(`${table} ${id}: in Stripe, not in Postgres`);
  }
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} differences`);
  return { tables, requests: http.requests };
}

function diffKeys(a: JsonObject, b: JsonObject): string {
  const keys = new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
  return [...keys].filter((k) => JSON.stringify(a?.[k]) !== JSON.stringify(b?.[k])).map((k) => `${k}: ${JSON.stringify(a?.[k])?.slice(0, 80)} ≠ ${JSON.stringify(b?.[k])?.slice(0, 80)}`).join('; ');
}

/** Rows per table for an account, live ones only. */
export async function liveCounts(sql: Sql, schema: string, accountId: string, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) {
    const [r] = await sql.unsafe(`select count(*)::int as n from "${schema}"."${t}" where _account_id = $1 and _deleted_at is null`, [accountId]);
    out[t] = Number(r!.n);
  }
  return out;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true (or fails after `ms`). */
export async function eventually(check: () => Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`${what} not reached within ${ms} ms`);
}
