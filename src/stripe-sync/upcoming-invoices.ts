// The virtual `upcoming_invoice` table: the invoice Stripe would issue next, for every customer
// with an active subscription (keyed (customer, null)) and for every active subscription
// ((customer, subscription)). Upcoming invoices have no id and no events and cannot be listed, so
// each is fetched on its own: when an applied event touches the customer, the subscription, its
// invoice items, prices or coupons, and every --upcoming-refresh-interval. Both API styles work:
// GET /v1/invoices/upcoming (API versions up to 2024) and POST /v1/invoices/create_preview (its
// successor); `auto` uses the first the account answers.
import pLimit from 'p-limit';
import type { Sql } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import { redactSecrets } from '../platform/redact.ts';
import type { Touched } from './event-applier.ts';
import { stampRead, type RowWriter } from './row-writer.ts';
import { toRow } from './schema-mapping.ts';
import { StripeApiError, StripeAuthError, type StripeClient } from './stripe-client.ts';

export type UpcomingApi = 'auto' | 'upcoming' | 'create_preview' | 'off';

/** Statuses of subscriptions that will be invoiced again. */
export const ACTIVE_STATUSES = ['active', 'trialing', 'past_due'];

export interface UpcomingOptions {
  sql: Sql;
  writer: RowWriter;
  schema: string;
  accountId: string;
  client: StripeClient;
  logger: Logger;
  api: UpcomingApi;
  refreshIntervalMs: number;
  /** Upcoming invoices fetched at once (they share the account's budget with everything else). */
  concurrency?: number;
}

interface Target {
  customer: string;
  subscription: string | null;
}

const keyOf = (t: Target) => `${t.customer}|${t.subscription ?? ''}`;

export class UpcomingInvoices {
  private readonly options: UpcomingOptions;
  private api: 'upcoming' | 'create_preview' | undefined;
  disabled: string | undefined;
  /** Targets events made stale: fetched before the periodic ones, and what /wait?upcoming=true waits for. */
  private readonly urgent = new Map<string, Target>();
  private readonly queue = new Map<string, Target>();
  private urgentInFlight = 0;
  private expanding: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly limit;
  private draining: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private pendingTouch: Touched[] = [];
  private stopped = false;
  refreshed = 0;
  removed = 0;
  lastError: { at: Date; message: string } | undefined;
  lastFullRefresh: Date | undefined;

  constructor(options: UpcomingOptions) {
    this.options = options;
    this.limit = pLimit(options.concurrency ?? 4);
    if (options.api === 'off') this.disabled = 'turned off (--upcoming-invoices off)';
    else if (options.api !== 'auto') this.api = options.api;
  }

  private get t() {
    const s = `"${this.options.schema}"`;
    return { upcoming: `${s}.upcoming_invoice`, subscription: `${s}.subscription`, item: `${s}.subscription_item`, customer: `${s}.customer` };
  }

  /** Starts the periodic refresh (the first one at once). */
  start(): void {
    if (this.disabled) return;
    void this.refreshAll();
    if (this.options.refreshIntervalMs > 0) this.timer = setInterval(() => void this.refreshAll(), this.options.refreshIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    this.debounce = undefined;
    this.queue.clear();
    this.urgent.clear();
    await this.draining;
    this.checkIdle();
  }

  /** Every upcoming invoice that should exist: each active subscription and each customer having one. */
  async targets(): Promise<Target[]> {
    const rows = await this.options.sql.unsafe(
      `select customer, id from ${this.t.subscription} where _account_id = $1 and _deleted_at is null and status = any($2::text[]) and customer is not null order by customer, id`,
      [this.options.accountId, ACTIVE_STATUSES],
    );
    const out: Target[] = [];
    let last: string | undefined;
    for (const r of rows) {
      if (r.customer !== last) out.push({ customer: String(r.customer), subscription: null });
      last = String(r.customer);
      out.push({ customer: String(r.customer), subscription: String(r.id) });
    }
    return out;
  }

  /** Queues every target, and removes rows of customers and subscriptions that are no longer active. */
  async refreshAll(): Promise<void> {
    if (this.disabled || this.stopped) return;
    try {
      const targets = await this.targets();
      const keep = targets.map(keyOf);
      const removed = await this.options.sql.unsafe(
        `delete from ${this.t.upcoming} where _account_id = $1 and not (customer || '|' || coalesce(subscription, '') = any($2::text[]))`,
        [this.options.accountId, keep],
      );
      this.removed += removed.count;
      for (const t of targets) this.queue.set(keyOf(t), t);
      this.lastFullRefresh = new Date();
      await this.drain();
    } catch (err) {
      this.noteError(err);
    }
  }

  /** Called after events are applied: recompute what they may have changed. */
  touch(touched: Touched): void {
    if (this.disabled || this.stopped) return;
    this.pendingTouch.push(touched);
    // Events come in bursts (a subscription update is several events): coalesce for 25 ms.
    this.debounce ??= setTimeout(() => {
      this.debounce = undefined;
      const batch = this.pendingTouch.splice(0);
      const run = (this.expanding ?? Promise.resolve()).then(() => this.expand(batch)).catch((err: unknown) => this.noteError(err));
      this.expanding = run;
      void run.finally(() => {
        if (this.expanding === run) this.expanding = undefined;
        this.checkIdle();
      });
    }, 25);
  }

  /** Resolves when the refreshes that applied events asked for are written. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.disabled !== undefined || this.stopped || (!this.debounce && !this.expanding && this.urgent.size === 0 && this.urgentInFlight === 0 && this.pendingTouch.length === 0);
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async expand(batch: Touched[]): Promise<void> {
    const { sql, accountId } = this.options;
    const customers = new Set<string>();
    const subscriptions = new Set<string>();
    const deleted = new Set<string>();
    const prices = new Set<string>();
    const coupons = new Set<string>();
    for (const t of batch) {
      t.customers.forEach((c) => customers.add(c));
      t.subscriptions.forEach((_c, s) => subscriptions.add(s));
      t.deletedCustomers.forEach((c) => deleted.add(c));
      t.prices.forEach((p) => prices.add(p));
      t.coupons.forEach((c) => c && coupons.add(c));
    }
    if (deleted.size) {
      const r = await sql.unsafe(`delete from ${this.t.upcoming} where _account_id = $1 and customer = any($2::text[])`, [accountId, [...deleted]]);
      this.removed += r.count;
    }
    if (prices.size) {
      const rows = await sql.unsafe(`select distinct subscription from ${this.t.item} where _account_id = $1 and _deleted_at is null and price = any($2::text[])`, [accountId, [...prices]]);
      rows.forEach((r) => subscriptions.add(String(r.subscription)));
    }
    if (coupons.size) {
      const rows = await sql.unsafe(
        `select customer from ${this.t.subscription} where _account_id = $1 and discount->'coupon'->>'id' = any($2::text[])
         union select id from ${this.t.customer} where _account_id = $1 and discount->'coupon'->>'id' = any($2::text[])`,
        [accountId, [...coupons]],
      );
      rows.forEach((r) => customers.add(String(r.customer)));
    }
    if (subscriptions.size) {
      const rows = await sql.unsafe(`select customer from ${this.t.subscription} where _account_id = $1 and id = any($2::text[]) and customer is not null`, [accountId, [...subscriptions]]);
      rows.forEach((r) => customers.add(String(r.customer)));
    }
    if (customers.size === 0) return;
    // Everything of these customers: active subscriptions are refreshed, the others' rows go.
    const rows = await sql.unsafe(
      `select customer, id, status = any($3::text[]) and _deleted_at is null as active from ${this.t.subscription} where _account_id = $1 and customer = any($2::text[])`,
      [accountId, [...customers], ACTIVE_STATUSES],
    );
    const activeCustomers = new Set<string>();
    const gone: Target[] = [];
    for (const r of rows) {
      const t = { customer: String(r.customer), subscription: String(r.id) };
      if (r.active) {
        activeCustomers.add(t.customer);
        this.urgent.set(keyOf(t), t);
      } else gone.push(t);
    }
    for (const c of customers) {
      if (activeCustomers.has(c)) this.urgent.set(keyOf({ customer: c, subscription: null }), { customer: c, subscription: null });
      else gone.push({ customer: c, subscription: null });
    }
    for (const t of gone) await this.remove(t);
    await this.drain();
  }

  private async remove(t: Target): Promise<void> {
    const r = await this.options.sql.unsafe(`delete from ${this.t.upcoming} where _account_id = $1 and customer = $2 and subscription is not distinct from $3`, [this.options.accountId, t.customer, t.subscription]);
    this.removed += r.count;
  }

  private drain(): Promise<void> {
    this.draining ??= (async () => {
      try {
        while ((this.urgent.size || this.queue.size) && !this.disabled && !this.stopped) {
          // Small batches, event-driven ones first: a periodic refresh of thousands never delays them long.
          const urgent = this.urgent.size > 0;
          const source = urgent ? this.urgent : this.queue;
          const batch = [...source.values()].slice(0, 16);
          for (const t of batch) source.delete(keyOf(t));
          if (urgent) this.urgentInFlight += batch.length;
          try {
            await Promise.all(batch.map((t) => this.limit(() => this.refreshOne(t))));
          } finally {
            if (urgent) this.urgentInFlight -= batch.length;
          }
        }
      } finally {
        this.draining = undefined;
        this.checkIdle();
      }
    })();
    return this.draining;
  }

  /** Fetches one upcoming invoice and writes (or, when there is none, removes) its row. */
  async refreshOne(t: Target): Promise<void> {
    if (this.disabled) return;
    try {
      const response = await this.fetch(t);
      if (!response) return;
      const row = stampRead(toRow('upcoming_invoice', response.body as Record<string, unknown>, { accountId: this.options.accountId }), response.startedAt);
      // The key is what was asked: a customer-level preview names a subscription when there is one.
      row.customer = t.customer;
      row.subscription = t.subscription;
      await this.options.writer.upsert(this.options.sql, 'upcoming_invoice', [row]);
      this.refreshed++;
    } catch (err) {
      if (err instanceof StripeApiError && (err.code === 'invoice_upcoming_none' || err.status === 404)) {
        await this.remove(t);
        return;
      }
      if (err instanceof StripeAuthError) this.disabled = err.message;
      this.noteError(err);
    }
  }

  private async fetch(t: Target) {
    const params = { customer: t.customer, ...(t.subscription ? { subscription: t.subscription } : {}) };
    for (;;) {
      const api = this.api ?? 'upcoming';
      try {
        const response = api === 'upcoming'
          ? await this.options.client.get('/v1/invoices/upcoming', params, { priority: 'bulk', maxAttempts: 4 })
          : await this.options.client.post('/v1/invoices/create_preview', params, { priority: 'bulk', maxAttempts: 4 });
        this.api ??= api;
        return response;
      } catch (err) {
        if (!unsupported(err)) throw err;
        if (api === 'upcoming' && this.options.api === 'auto') {
          // auto: this account (or API version) has the successor only. Concurrent fetches may all land here.
          this.api = 'create_preview';
          continue;
        }
        if (this.disabled) return undefined;
        this.disabled = `Stripe does not answer ${api === 'upcoming' ? 'GET /v1/invoices/upcoming' : 'POST /v1/invoices/create_preview'} (${(err as StripeApiError).status}): upcoming invoices are not synced`;
        this.options.logger.warn({ account: this.options.accountId, reason: this.disabled }, 'upcoming invoices disabled');
        this.checkIdle();
        return undefined;
      }
    }
  }

  private noteError(err: unknown): void {
    const message = redactSecrets((err as Error).message);
    if (this.lastError?.message !== message) this.options.logger.warn({ err: { message } }, 'upcoming invoice refresh failed');
    this.lastError = { at: new Date(), message };
  }

  status() {
    return {
      api: this.api ?? (this.options.api === 'auto' ? 'auto (not chosen yet)' : this.options.api),
      disabled: this.disabled ?? null,
      queued: this.queue.size + this.urgent.size,
      refreshed: this.refreshed,
      removed: this.removed,
      lastFullRefresh: this.lastFullRefresh ?? null,
      lastError: this.lastError ?? null,
    };
  }
}

/** The endpoint does not exist here (a newer API version removed it, or the server never had it). */
function unsupported(err: unknown): boolean {
  if (!(err instanceof StripeApiError)) return false;
  if (err.status === 501 || err.status === 410) return true;
  return err.status === 404 && err.code !== 'invoice_upcoming_none' && err.code !== 'resource_missing' && /unrecognized request url/i.test(err.message);
}
