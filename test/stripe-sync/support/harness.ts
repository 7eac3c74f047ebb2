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
  readonly recurringPrices: string[] = [];
  /** Customers with a default payment method (a subscription charges it). */
  readonly payers: string[] = [];
  readonly subscriptions: Array<{ id: string; customer: string; items: string[] }> = [];
  readonly invoiceItems: string[] = [];
  readonly coupons: string[] = [];
  /** Routes the emulator does not emulate (yet): their kinds are left out. */
  readonly unsupported = new Set<string>();
  counts: Record<string, number> = {};

  constructor(http: StripeHttp, seed: number) {
    this.http = http;
    this.random = rng(seed);
  }

  async load(): Promise<void> {
    const customers = await this.http.listAll('/v1/customers');
    this.customers.push(...customers.map((c) => String(c.id)));
    this.payers.push(...customers.filter((c) => (c.invoice_settings as JsonObject | null)?.default_payment_method).map((c) => String(c.id)));
    const prices = await this.http.listAll('/v1/prices');
    this.prices.push(...prices.map((p) => String(p.id)));
    this.recurringPrices.push(...prices.filter((p) => p.type === 'recurring' && p.active).map((p) => String(p.id)));
    for (const p of prices) this.withPrices.add(String(p.product));
    this.products.push(...(await this.http.listAll('/v1/products')).map((p) => String(p.id)));
    for (const [method, path] of [['POST', '/v1/subscriptions'], ['POST', '/v1/invoiceitems'], ['POST', '/v1/coupons']] as const) {
      try {
        await this.http.call(method, path, {});
      } catch (err) {
        if ((err as { status?: number }).status === 501) this.unsupported.add(path);
      }
    }
  }

  private pick<T>(xs: T[]): T | undefined {
    return xs.length ? xs[Math.floor(this.random() * xs.length)] : undefined;
  }

  private word(): string {
    return randomBytes(4).toString('hex');
  }

  readonly kinds: Array<{ name: string; weight: number; route?: string; run: () => Promise<void> }> = [
    { name: 'customer.create', weight: 3, run: async () => { this.customers.push(String((await this.http.call('POST', '/v1/customers', { email: `${this.word()}@example.com`, name: `N ${this.word()}`, 'metadata[k]': this.word() })).id)); } },
    { name: 'customer.update', weight: 6, run: async () => { const id = this.pick(this.customers); if (id) await this.http.call('POST', `/v1/customers/${id}`, { name: `U ${this.word()}`, 'metadata[n]': this.word(), description: this.random() < 0.3 ? '' : this.word() }); } },
    {
      name: 'customer.delete', weight: 1, run: async () => {
        const i = Math.floor(this.random() * this.customers.length);
        const id = this.customers[i];
        if (!id) return;
        this.customers.splice(i, 1);
        // Deleting a customer cancels its subscriptions.
        for (let k = this.subscriptions.length - 1; k >= 0; k--) if (this.subscriptions[k]!.customer === id) this.subscriptions.splice(k, 1);
        await this.http.call('DELETE', `/v1/customers/${id}`);
      },
    },
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
    // Resources the emulator learned later: used when it answers their routes.
    {
      name: 'subscription.create', weight: 1, route: '/v1/subscriptions', run: async () => {
        const customer = this.pick(this.payers.filter((c) => this.customers.includes(c)));
        const price = this.pick(this.recurringPrices);
        if (!customer || !price) return;
        const sub = await this.http.call('POST', '/v1/subscriptions', { customer, 'items[0][price]': price });
        this.subscriptions.push({ id: String(sub.id), customer, items: (sub.items as { data: JsonObject[] }).data.map((i) => String(i.id)) });
      },
    },
    { name: 'subscription_item.update', weight: 1, route: '/v1/subscriptions', run: async () => { const sub = this.pick(this.subscriptions); const item = sub && this.pick(sub.items); if (item) await this.http.call('POST', `/v1/subscription_items/${item}`, { quantity: String(1 + Math.floor(this.random() * 5)) }); } },
    { name: 'subscription.cancel', weight: 1, route: '/v1/subscriptions', run: async () => { const i = Math.floor(this.random() * this.subscriptions.length); const sub = this.subscriptions[i]; if (!sub) return; this.subscriptions.splice(i, 1); await this.http.call('DELETE', `/v1/subscriptions/${sub.id}`); } },
    { name: 'invoiceitem.create', weight: 1, route: '/v1/invoiceitems', run: async () => { const customer = this.pick(this.customers); if (customer) this.invoiceItems.push(String((await this.http.call('POST', '/v1/invoiceitems', { customer, amount: String(100 + Math.floor(this.random() * 5000)), currency: 'usd', description: this.word() })).id)); } },
    {
      name: 'invoiceitem.delete', weight: 1, route: '/v1/invoiceitems', run: async () => {
        // Only pending items can go: a subscription's first invoice takes the customer's pending ones.
        const id = this.invoiceItems.shift();
        if (id && (await this.http.call('GET', `/v1/invoiceitems/${id}`)).invoice === null) await this.http.call('DELETE', `/v1/invoiceitems/${id}`);
      },
    },
    { name: 'coupon.create', weight: 1, route: '/v1/coupons', run: async () => { this.coupons.push(String((await this.http.call('POST', '/v1/coupons', { percent_off: String(5 + Math.floor(this.random() * 50)), duration: 'once', name: this.word() })).id)); } },
    { name: 'coupon.delete', weight: 1, route: '/v1/coupons', run: async () => { const id = this.coupons.shift(); if (id) await this.http.call('DELETE', `/v1/coupons/${id}`); } },
  ];

  async run(n: number): Promise<void> {
    const kinds = this.kinds.filter((k) => !k.route || !this.unsupported.has(k.route));
    const total = kinds.reduce((s, k) => s + k.weight, 0);
    for (let i = 0; i < n; i++) {
      let r = this.random() * total;
      const kind = kinds.find((k) => (r -= k.weight) < 0) ?? kinds[0]!;
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
export interface CompareOptions {
  perParent?: boolean;
  /** Changes Stripe makes without an event, which only a reconciliation backfill brings in. */
  silent?: SilentChanges;
}

export interface SilentChanges {
  /** Tables whose new objects come with no event. */
  allowMissing: string[];
  /** Fields that change with no event, per table. */
  ignoreFields: Record<string, string[]>;
}

/**
 * What the emulator changes without an event, as Stripe does in API 2023-08-16: balance
 * transactions have no events at all; an invoice item taken into an invoice changes its `invoice`
 * (there is no invoiceitem.updated); a customer's next_invoice_sequence moves when an invoice is
 * made. The reconciliation backfill brings them in.
 */
export const SILENT_CHANGES: SilentChanges = {
  allowMissing: ['balance_transaction'],
  ignoreFields: { customer: ['next_invoice_sequence'], invoiceitem: ['invoice'] },
};

export async function compareWithEmulator(sql: Sql, schema: string, emulator: StripeEmulator, accountId: string, options: CompareOptions = {}): Promise<Comparison> {
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
        const ignore = options.silent?.ignoreFields[table] ?? [];
        const strip = (o: JsonObject) => (ignore.length ? Object.fromEntries(Object.entries(o).filter(([k]) => !ignore.includes(k))) : o);
        if (!same(strip(row._raw as JsonObject), strip(want))) problems.push(`${table} ${id}: _raw differs: ${diffKeys(row._raw as JsonObject, want)}`);
      }
    }
    if (!options.silent?.allowMissing.includes(table)) {
      for (const id of objects.keys()) if (!seen.has(id)) problems.push(`${table} ${id}: in Stripe, not in Postgres`);
    }
  }
  if (problems.length && process.env.SYNC_TEST_DIFF) {
    const summary = new Map<string, number>();
    for (const p of problems) {
      const key = p.replace(/ \S+: /, ': ').replace(/_raw differs: (\w+).*/, '_raw differs: $1');
      summary.set(key, (summary.get(key) ?? 0) + 1);
    }
    process.stderr.write(`${[...summary].map(([k, n]) => `${n} × ${k}`).join('\n')}\n${problems.filter((p) => p.includes('_raw differs')).slice(0, 12).join('\n')}\n`);
  }
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} differences`);
  return { tables, requests: http.requests };
}

function same(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

function diffKeys(a: JsonObject, b: JsonObject): string {
  const keys = new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
  return [...keys].filter((k) => !same(a?.[k], b?.[k])).map((k) => `${k}: ${JSON.stringify(a?.[k])?.slice(0, 300)} ≠ ${JSON.stringify(b?.[k])?.slice(0, 300)}`).join('; ');
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
