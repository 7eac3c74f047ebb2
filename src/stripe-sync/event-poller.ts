// Polls /v1/events every pollInterval (start to start, so the lag is the interval's half plus one
// round trip on average; a tick that comes while a cycle is still in flight starts a second one)
// from the saved cursor: `ending_before=<cursor>` returns the events just after it, newest first;
// each page is applied oldest first, in one transaction with the cursor.
// /wait wakes it: a cycle that starts after the call sees every event created before the call,
// so when that cycle is applied the database holds every change made before the call. A wait
// arriving while a cycle is in flight starts a second one at once (at most two run; events the
// other already applied are skipped) instead of waiting for the first to finish.
import type { Sql } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import { redactSecrets } from '../platform/redact.ts';
import type { EventApplier, EventCursor, StripeEvent } from './event-applier.ts';
import { asList, StripeApiError, StripeAuthError, type StripeClient } from './stripe-client.ts';

/** Stripe keeps 30 days of events; a cursor this close to the edge may already have lost some. */
export const EVENTS_WINDOW_S = 30 * 86400;
export const EXPIRY_MARGIN_S = 3600;

export class CursorExpiredError extends Error {
  override name = 'CursorExpiredError';
  readonly cursor: EventCursor;
  constructor(cursor: EventCursor, why: string) {
    super(`event cursor ${cursor.id ?? '(none)'} is older than Stripe's 30-day events window (${why})`);
    this.cursor = cursor;
  }
}

/** The poller stopped (shutdown, or a re-backfill replaces it) before a wait was met. */
export class PollerStoppedError extends Error {
  override name = 'PollerStoppedError';
}

export interface PollerOptions {
  client: StripeClient;
  applier: EventApplier;
  sql: Sql;
  schema: string;
  accountId: string;
  intervalMs: number;
  logger: Logger;
  /** The cursor expired (events may be lost): the engine re-backfills. */
  onExpired: (err: CursorExpiredError) => void;
  /** The key was refused. */
  onFatal: (err: Error) => void;
}

interface Waiter {
  need: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class EventPoller {
  private readonly options: PollerOptions;
  cursor: EventCursor;
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private started = 0;
  private completed = 0;
  private rerun = false;
  private waiters: Waiter[] = [];
  private applying: Promise<unknown> = Promise.resolve();
  private stopped = false;
  lastError: { at: Date; message: string } | undefined;
  lastPollAt: Date | undefined;
  /** created of the newest event seen (unix s) and when it was seen, for the lag in /status. */
  newestSeen: { created: number; at: number } | undefined;
  cycles = 0;
  /** Start time (ms) of the newest completed cycle: every event created before it is applied. */
  caughtUpAt: number | undefined;
  private persistedPollAt = 0;

  constructor(options: PollerOptions, cursor: EventCursor) {
    this.options = options;
    this.cursor = cursor;
  }

  start(): void {
    this.stopped = false;
    if (this.options.intervalMs > 0) {
      // Start to start even when a cycle overruns the interval (a slow round trip or apply): a
      // skipped tick would double the lag of every event of that interval.
      this.timer = setInterval(() => {
        if (this.running < 2) this.kick();
      }, this.options.intervalMs);
    }
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const w of this.waiters.splice(0)) w.reject(new PollerStoppedError('the event poller stopped'));
    await this.applying.catch(() => {});
  }

  /** Resolves once a cycle that started after this call has been applied. */
  async fresh(): Promise<EventCursor> {
    if (this.stopped) throw new PollerStoppedError('the event poller stopped');
    const need = this.started + 1;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ need, resolve, reject }));
    if (this.running < 2) this.kick();
    else this.rerun = true;
    await done;
    return this.cursor;
  }

  private kick(): void {
    if (this.stopped) return;
    const n = ++this.started;
    const cycleStart = Date.now();
    this.running++;
    this.cycle()
      .then(() => {
        this.completed = Math.max(this.completed, n);
        this.cycles++;
        this.lastPollAt = new Date();
        this.caughtUpAt = Math.max(this.caughtUpAt ?? 0, cycleStart);
        this.lastError = undefined;
        if (Date.now() - this.persistedPollAt > 10_000) {
          // Applying events records the poll time; quiet accounts record it every 10 s.
          this.persistedPollAt = Date.now();
          this.options.sql
            .unsafe(`update "${this.options.schema}"._sync_state set last_poll_at = now() where account_id = $1`, [this.options.accountId])
            .catch(() => {});
        }
        const ready = this.waiters.filter((w) => w.need <= n);
        this.waiters = this.waiters.filter((w) => w.need > n);
        for (const w of ready) w.resolve();
      })
      .catch((err: unknown) => {
        if (err instanceof CursorExpiredError) {
          this.stopped = true;
          clearInterval(this.timer);
          this.options.onExpired(err);
          return;
        }
        if (err instanceof StripeAuthError) {
          this.stopped = true;
          clearInterval(this.timer);
          this.options.onFatal(err);
          return;
        }
        const message = redactSecrets((err as Error).message);
        if (this.lastError?.message !== message) this.options.logger.warn({ err: { message } }, 'event poll failed; retrying');
        this.lastError = { at: new Date(), message };
      })
      .finally(() => {
        this.running--;
        if (this.rerun && !this.stopped) {
          this.rerun = false;
          this.kick();
        } else if (this.waiters.length && this.running === 0 && !this.stopped) {
          // A failed cycle leaves its waiters: try again after a beat.
          setTimeout(() => this.running === 0 && this.kick(), Math.min(1000, this.options.intervalMs || 200)).unref();
        }
      });
  }

  private async cycle(): Promise<void> {
    const base = this.cursor;
    if (base.id === null) return this.cycleWithoutCursor();
    let before = base.id;
    for (;;) {
      let response;
      try {
        response = await this.options.client.get('/v1/events', { limit: 100, ending_before: before }, { priority: 'live', maxAttempts: 3 });
      } catch (err) {
        if (err instanceof StripeApiError && err.code === 'resource_missing' && err.param === 'ending_before') throw new CursorExpiredError(base, 'Stripe no longer has the cursor event');
        throw err;
      }
      const page = asList(response.body);
      const events = (page.data as unknown as StripeEvent[]).slice().reverse();
      const newest = events[events.length - 1];
      if (newest) {
        this.noteNewest(newest.created);
        if (base.created !== null && newest.created - base.created > EVENTS_WINDOW_S - EXPIRY_MARGIN_S) {
          throw new CursorExpiredError(base, `the next events are ${Math.round((newest.created - base.created) / 86400)} days newer`);
        }
      }
      await this.applyInOrder(events);
      if (!page.has_more || page.data.length === 0) return;
      before = String(page.data[0]!.id);
    }
  }

  /** No event existed when the backfill started: every event in the window came after it. */
  private async cycleWithoutCursor(): Promise<void> {
    const all: StripeEvent[] = [];
    let after: string | undefined;
    for (;;) {
      const response = await this.options.client.get('/v1/events', { limit: 100, ...(after ? { starting_after: after } : {}) }, { priority: 'live', maxAttempts: 3 });
      const page = asList(response.body);
      all.push(...(page.data as unknown as StripeEvent[]));
      if (!page.has_more || page.data.length === 0) break;
      after = String(page.data[page.data.length - 1]!.id);
    }
    all.reverse();
    const newest = all[all.length - 1];
    if (newest) this.noteNewest(newest.created);
    for (let i = 0; i < all.length; i += 100) await this.applyInOrder(all.slice(i, i + 100));
  }

  private noteNewest(created: number): void {
    if (!this.newestSeen || created >= this.newestSeen.created) this.newestSeen = { created, at: Date.now() };
  }

  /** Applications are serialized; events a concurrent cycle applied already are skipped. */
  private applyInOrder(events: StripeEvent[]): Promise<void> {
    const run = this.applying.catch(() => {}).then(async () => {
      this.cursor = await this.options.applier.apply(events, this.cursor);
    });
    this.applying = run;
    return run;
  }

  status() {
    return {
      cursor: this.cursor,
      lastPollAt: this.lastPollAt ?? null,
      lastError: this.lastError ?? null,
      cycles: this.cycles,
      applied: this.options.applier.applied,
      caughtUpAt: this.caughtUpAt,
    };
  }
}

/** Whether a saved cursor is still inside Stripe's events window (one request). */
export async function cursorStillValid(client: StripeClient, cursor: EventCursor): Promise<boolean> {
  if (cursor.id === null || cursor.created === null) return true;
  if (Date.now() / 1000 - cursor.created > EVENTS_WINDOW_S - EXPIRY_MARGIN_S) return false;
  const page = asList((await client.get('/v1/events', { limit: 1, created: { lte: cursor.created } }, { priority: 'live' })).body);
  return page.data.length > 0;
}
