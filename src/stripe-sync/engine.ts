// One engine process syncs one or more Stripe accounts into one schema. Per account, the sync
// log decides what runs (sync-log.ts decideStart): a fresh backfill, a resumed one, or polling.
// A backfill records the newest event first, walks every list (phase 1), then replays every event
// since (the hand-off) and polls /v1/events for ever; the per-parent phase (phase 2), upcoming
// invoices and the periodic reconciliation backfill run beside the poller.
import pLimit, { type LimitFunction } from 'p-limit';
import type { Sql } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import type { Registry } from '../platform/metrics.ts';
import type { Redis } from '../platform/redis.ts';
import { redactSecrets } from '../platform/redact.ts';
import { BackfillPhase, type PhaseResult } from './backfill.ts';
import { withDbRetry } from './db-retry.ts';
import { EventApplier, type EventCursor } from './event-applier.ts';
import { cursorStillValid, EventPoller, PollerStoppedError, type CursorExpiredError } from './event-poller.ts';
import { createProgress, type JobProgress, type ProgressReporter } from './progress.ts';
import { createRequestBudget, type RequestBudget } from './request-budget.ts';
import { pruneTombstones, RowWriter, sweepUnseen } from './row-writer.ts';
import type { StripeKeyConfig } from './settings.ts';
import { asList, StripeApiError, StripeAuthError, StripeClient } from './stripe-client.ts';
import { decideStart, SyncLog, type BackfillReason, type BackfillStarted } from './sync-log.ts';
import { selectParentJobs, sweepableTables, syncPlan, type ListJob, type ParentJob } from './sync-plan.ts';
import { UpcomingInvoices, type UpcomingApi } from './upcoming-invoices.ts';

export interface EngineConfig {
  stripeSyncSchema: string;
  stripeKey: StripeKeyConfig[];
  stripeAccount: string[];
  stripeApiBase: string;
  stripeVersion: string;
  maxRps: number;
  concurrency: number;
  pollInterval: number;
  hardDeletes: boolean;
  reconcileInterval: number;
  perParent: string;
  upcomingInvoices: UpcomingApi;
  upcomingRefreshInterval: number;
  progress: 'auto' | 'bars' | 'logs' | 'off';
}

export interface EngineDeps {
  sql: Sql;
  redis?: Redis;
  logger: Logger;
  registry?: Registry;
  /** Test hook: which list jobs to run (default: every list of the plan). */
  lists?: (jobs: ListJob[]) => ListJob[];
}

export type AccountState = 'starting' | 'backfilling' | 'catching_up' | 'polling' | 'stopped' | 'failed';

export class EngineStoppedError extends Error {
  override name = 'EngineStoppedError';
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The account a key belongs to: its label, or the id GET /v1/account returns. */
export async function resolveAccountId(client: StripeClient, key: StripeKeyConfig): Promise<string> {
  if (key.label) return key.label;
  try {
    const response = await client.get('/v1/account', {}, { priority: 'live', maxAttempts: 4 });
    const id = (response.body as { id?: unknown }).id;
    if (typeof id === 'string' && id) return id;
    throw new Error('GET /v1/account returned no id');
  } catch (err) {
    if (err instanceof StripeAuthError) throw err;
    const detail = err instanceof StripeApiError ? `GET /v1/account answered ${err.status}` : redactSecrets((err as Error).message);
    throw new Error(`could not learn which account a key belongs to (${detail}); give it a label: --stripe-key LABEL=KEY`, { cause: err });
  }
}

export class AccountSync {
  readonly accountId: string;
  readonly client: StripeClient;
  readonly engine: SyncEngine;
  state: AccountState = 'starting';
  poller: EventPoller | undefined;
  readonly applier: EventApplier;
  readonly upcoming: UpcomingInvoices;
  readonly log: SyncLog;
  /** Jobs of the running (or last) backfill phase, for /status. */
  backfill: { id: number; reason: BackfillReason; phase: 'lists' | 'parents' | 'done'; startedAt: Date; jobs: Map<string, JobProgress>; result?: PhaseResult } | undefined;
  perParent: { id: number; jobs: Map<string, JobProgress>; done: boolean } | undefined;
  lastError: { at: Date; message: string } | undefined;
  private ready!: () => void;
  private failed!: (err: unknown) => void;
  /** Resolves once the lists are backfilled and the events since replayed. */
  readonly caughtUp: Promise<void>;
  private readonly background: Promise<unknown>[] = [];
  private reconcileTimer: NodeJS.Timeout | undefined;
  private validityTimer: NodeJS.Timeout | undefined;
  /** The reconciliation in flight, if any: stop() waits for it so nothing writes after it. */
  private reconciling: Promise<void> | undefined;
  /** The poller that answers waits: replaced (and pending) while a re-backfill runs. */
  private pollerReady: Promise<EventPoller>;
  private setPollerReady!: (p: EventPoller) => void;

  constructor(engine: SyncEngine, accountId: string, client: StripeClient) {
    this.engine = engine;
    this.accountId = accountId;
    this.client = client;
    this.log = new SyncLog(engine.config.stripeSyncSchema);
    this.caughtUp = new Promise<void>((resolve, reject) => {
      this.ready = resolve;
      this.failed = reject;
    });
    this.caughtUp.catch(() => {});
    this.pollerReady = new Promise<EventPoller>((resolve) => (this.setPollerReady = resolve));
    const { config, deps } = engine;
    this.upcoming = new UpcomingInvoices({
      sql: deps.sql,
      writer: engine.writer,
      schema: config.stripeSyncSchema,
      accountId,
      client,
      logger: deps.logger,
      api: config.upcomingInvoices,
      refreshIntervalMs: config.upcomingRefreshInterval,
    });
    this.applier = new EventApplier({
      sql: deps.sql,
      writer: engine.writer,
      schema: config.stripeSyncSchema,
      accountId,
      client,
      logger: deps.logger,
      apiVersion: config.stripeVersion,
      onTouched: (t) => this.upcoming.touch(t),
    });
  }

  private get sql(): Sql {
    return this.engine.deps.sql;
  }

  private get logger(): Logger {
    return this.engine.deps.logger;
  }

  private get schema(): string {
    return this.engine.config.stripeSyncSchema;
  }

  /** `run`: backfill if needed, then poll for ever (until stop). */
  async run(): Promise<void> {
    try {
      const cursor = await this.prepare('run');
      await this.startPolling(cursor);
      this.ready();
      this.upcoming.start();
      this.scheduleReconcile();
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  /** `backfill`: backfill (resuming an unfinished one), replay the events since, finish phase 2, exit. */
  async backfillOnce(): Promise<void> {
    try {
      const cursor = await this.prepare('backfill');
      await this.startPolling(cursor, false);
      this.ready();
      await Promise.all(this.background);
      // Events that came during the per-parent phase.
      if (this.background.length) await this.poller!.fresh();
      await this.poller!.stop();
      this.state = 'stopped';
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  private fail(err: unknown): void {
    if (err instanceof EngineStoppedError) {
      this.state = 'stopped';
    } else {
      this.state = 'failed';
      this.noteError(err, 'account sync failed');
    }
    this.failed(err);
  }

  /** Decides from the sync log and runs what is needed before polling; returns the cursor to poll from. */
  private async prepare(role: 'run' | 'backfill'): Promise<EventCursor> {
    const decision = await decideStart(this.sql, this.log, this.accountId);
    this.logger.info({ account: this.accountId, decision: decision.action }, 'stripe-sync start');
    if (decision.action === 'fresh_backfill') return this.backfillAll('initial');
    if (decision.action === 'resume_backfill') return this.backfillAll(decision.started.reason, decision.backfillId, decision.started);
    let cursor = await this.loadCursor();
    if (!(await cursorStillValid(this.client, cursor))) {
      await this.log.write(this.sql, this.accountId, 'cursor_expired', { cursor: cursor.id, cursor_created: cursor.created });
      this.logger.warn({ account: this.accountId, cursor: cursor.id }, 'event cursor older than the 30-day events window: backfilling again');
      return this.backfillAll('cursor_expired');
    }
    if (role === 'backfill' && !decision.perParentPending) {
      // An explicit `backfill` with one already complete: walk everything again.
      return this.backfillAll('manual', undefined, undefined, cursor);
    }
    if (decision.perParentPending) this.runParentsInBackground(decision.backfillId, decision.started);
    cursor = await this.loadCursor();
    return cursor;
  }

  async loadCursor(): Promise<EventCursor> {
    const [row] = await this.sql.unsafe(`select event_cursor, event_cursor_created, event_cursor_position from "${this.schema}"._sync_state where account_id = $1`, [this.accountId]);
    return { id: (row?.event_cursor as string | null) ?? null, created: row?.event_cursor_created == null ? null : Number(row.event_cursor_created), position: Number(row?.event_cursor_position ?? 0) };
  }

  /** The newest event now (one request): the backfill's hand-off point. */
  private async newestEvent(): Promise<{ id: string | null; created: number | null }> {
    const page = asList((await this.client.get('/v1/events', { limit: 1 }, { priority: 'live' })).body);
    const e = page.data[0];
    return e ? { id: String(e.id), created: Number(e.created) } : { id: null, created: null };
  }

  private parentJobs(): ParentJob[] {
    return selectParentJobs(syncPlan(), this.engine.config.perParent);
  }

  private listJobs(): ListJob[] {
    const jobs = syncPlan().lists;
    return this.engine.deps.lists ? this.engine.deps.lists(jobs) : jobs;
  }

  /**
   * A whole backfill: the lists (phase 1), then the cursor moves to the event recorded before it,
   * so polling replays every event since; the per-parent phase follows in the background.
   * `keepCursor`: the poller's cursor is newer than the backfill's start (reconcile, manual).
   */
  private async backfillAll(reason: BackfillReason, resumeId?: number, started?: BackfillStarted, keepCursor?: EventCursor): Promise<EventCursor> {
    this.state = 'backfilling';
    let backfillId = resumeId;
    let payload = started;
    if (backfillId === undefined || !payload) {
      const startedAtMs = Date.now();
      const newest = await this.newestEvent();
      payload = { reason, last_event_before_backfill: newest.id, last_event_created: newest.created, per_parent: this.parentJobs().map((j) => j.name), started_at_ms: startedAtMs };
      backfillId = await this.log.write(this.sql, this.accountId, 'backfill_started', payload as unknown as Record<string, unknown>);
      this.logger.info({ account: this.accountId, backfill: backfillId, reason, lastEvent: newest.id }, 'backfill started');
    } else {
      this.logger.info({ account: this.accountId, backfill: backfillId }, 'resuming backfill from its checkpoints');
    }
    const result = await this.runPhase(backfillId, reason, 'lists');
    if (reason !== 'initial') await this.sweep(this.listJobs(), [], result, payload);
    const handOff: EventCursor = keepCursor ?? { id: payload.last_event_before_backfill, created: payload.last_event_created, position: 0 };
    await withDbRetry(
      () =>
        this.sql.begin(async (tx) => {
          if (!keepCursor) {
            await tx.unsafe(
              `insert into "${this.schema}"._sync_state (account_id, event_cursor, event_cursor_created, event_cursor_position) values ($1, $2, $3, 0)
               on conflict (account_id) do update set event_cursor = excluded.event_cursor, event_cursor_created = excluded.event_cursor_created, event_cursor_position = 0, updated_at = now()`,
              [this.accountId, handOff.id, handOff.created],
            );
          }
          await this.log.write(tx, this.accountId, 'backfill_complete', {
            backfill_id: backfillId,
            row_count: result.rows,
            last_event_before_backfill: payload.last_event_before_backfill,
            requests: result.requests,
            duration_ms: Math.round(result.durationMs),
          });
        }),
      { logger: this.logger, what: 'backfill complete' },
    );
    this.logger.info({ account: this.accountId, backfill: backfillId, rows: result.rows, requests: result.requests, seconds: Math.round(result.durationMs / 1000) }, 'backfill lists complete');
    this.runParentsInBackground(backfillId, payload);
    this.state = 'catching_up';
    return keepCursor ?? (await this.loadCursor());
  }

  /** Marks rows a re-backfill did not see as deleted (row-writer sweepUnseen). */
  private async sweep(lists: ListJob[], parents: ParentJob[], result: PhaseResult, started: BackfillStarted): Promise<void> {
    if (!started.started_at_ms) return;
    const skipped = new Set(result.skipped.map((s) => s.job));
    let swept = 0;
    for (const table of sweepableTables(lists, parents, skipped)) {
      swept += await withDbRetry(() => sweepUnseen(this.engine.writer, this.sql, table, this.accountId, started.started_at_ms!), { logger: this.logger, what: 'sweep' });
    }
    if (swept) this.logger.info({ account: this.accountId, rows: swept }, 'rows of objects deleted while no event was seen marked deleted');
  }

  private runPhase(backfillId: number, reason: BackfillReason, phase: 'lists' | 'parents', parents: ParentJob[] = []): Promise<PhaseResult> {
    const { config, deps } = this.engine;
    const jobs = new Map<string, JobProgress>();
    const bars = createProgress(config.progress, deps.logger, this.accountId);
    const progress: ProgressReporter = {
      update(job, p) {
        jobs.set(job, p);
        bars.update(job, p);
      },
      stop: () => bars.stop(),
    };
    if (phase === 'lists') this.backfill = { id: backfillId, reason, phase, startedAt: new Date(), jobs };
    else this.perParent = { id: backfillId, jobs, done: false };
    const run = new BackfillPhase(
      { sql: deps.sql, writer: this.engine.writer, schema: config.stripeSyncSchema, accountId: this.accountId, client: this.client, logger: deps.logger, progress, concurrency: config.concurrency, maxRps: config.maxRps, signal: this.engine.signal },
      { backfillId, phase, lists: phase === 'lists' ? this.listJobs() : [], parents, removeStale: reason !== 'initial' },
    );
    return run.run().finally(() => progress.stop()).then((result) => {
      for (const s of result.skipped) void this.log.write(this.sql, this.accountId, 'error', { where: `backfill ${s.job}`, message: s.message }).catch(() => {});
      if (phase === 'lists' && this.backfill) {
        this.backfill.result = result;
        this.backfill.phase = 'done';
      }
      return result;
    });
  }

  private runParentsInBackground(backfillId: number, started: BackfillStarted): void {
    const wanted = new Set(started.per_parent ?? []);
    const jobs = syncPlan().parents.filter((j) => wanted.has(j.name));
    if (jobs.length === 0) return;
    const task = (async () => {
      await this.caughtUp;
      const result = await this.runPhase(backfillId, started.reason, 'parents', jobs);
      if (started.reason !== 'initial') await this.sweep([], jobs, result, started);
      await this.log.write(this.sql, this.accountId, 'per_parent_complete', { backfill_id: backfillId, row_count: result.rows, requests: result.requests, duration_ms: Math.round(result.durationMs) });
      if (this.perParent) this.perParent.done = true;
      this.logger.info({ account: this.accountId, backfill: backfillId, rows: result.rows, requests: result.requests }, 'per-parent backfill complete');
    })().catch((err: unknown) => {
      if (!(err instanceof EngineStoppedError) && !this.engine.signal.aborted) this.noteError(err, 'per-parent backfill failed');
    });
    this.background.push(task);
  }

  /** Starts the poller from `cursor`; the first cycle is the hand-off replay. */
  private async startPolling(cursor: EventCursor, timer = true): Promise<void> {
    const { config, deps } = this.engine;
    this.poller = new EventPoller(
      {
        client: this.client,
        applier: this.applier,
        sql: deps.sql,
        schema: config.stripeSyncSchema,
        accountId: this.accountId,
        intervalMs: timer ? config.pollInterval : 0,
        logger: deps.logger,
        onExpired: (err) => void this.onExpired(err),
        onFatal: (err) => this.engine.fatal(err),
      },
      cursor,
    );
    this.state = 'catching_up';
    this.poller.start();
    const replayStart = performance.now();
    const before = this.applier.applied;
    await this.poller.fresh();
    if (this.state === 'catching_up') this.state = 'polling';
    await this.log.write(this.sql, this.accountId, 'events_caught_up', { cursor: this.poller.cursor.id, replayed: this.applier.applied - before, duration_ms: Math.round(performance.now() - replayStart) });
    this.setPollerReady(this.poller);
    if (timer) {
      // An engine stopped for a month, or Stripe's window moved under a failing poller: check hourly.
      this.validityTimer = setInterval(() => {
        const p = this.poller;
        if (!p) return;
        cursorStillValid(this.client, p.cursor)
          .then((ok) => {
            if (!ok) void this.onExpired({ cursor: p.cursor, message: 'hourly check' } as CursorExpiredError);
          })
          .catch(() => {});
      }, 3_600_000);
      this.validityTimer.unref();
    }
  }

  private async onExpired(err: CursorExpiredError): Promise<void> {
    if (this.engine.signal.aborted) return;
    try {
      // Waits arriving now are answered by the poller that follows the re-backfill.
      this.pollerReady = new Promise<EventPoller>((resolve) => (this.setPollerReady = resolve));
      await this.poller?.stop();
      await this.log.write(this.sql, this.accountId, 'cursor_expired', { cursor: err.cursor.id, cursor_created: err.cursor.created, reason: err.message });
      this.logger.warn({ account: this.accountId, cursor: err.cursor.id }, 'event cursor expired: backfilling again');
      const cursor = await this.backfillAll('cursor_expired');
      await this.startPolling(cursor);
    } catch (e) {
      if (!this.engine.signal.aborted) {
        this.noteError(e, 'backfill after cursor expiry failed');
        if (e instanceof StripeAuthError) this.engine.fatal(e);
      }
    }
  }

  private scheduleReconcile(): void {
    const every = this.engine.config.reconcileInterval;
    if (every <= 0) return;
    const check = async () => {
      const last = await this.log.latest(this.sql, this.accountId, ['backfill_complete']);
      if (last && Date.now() - last.created_at.getTime() < every) return;
      await this.reconcile(this.poller?.cursor ?? (await this.loadCursor()));
    };
    this.reconcileTimer = setInterval(() => {
      if (this.reconciling || this.state !== 'polling' || this.engine.signal.aborted) return;
      this.track(check()).catch((err: unknown) => {
        if (!this.engine.signal.aborted) this.noteError(err, 'reconciliation failed');
      });
    }, Math.min(every, 60_000));
    this.reconcileTimer.unref();
  }

  /** Runs a reconciliation backfill now (beside the poller); resolves when it is complete. */
  async reconcileNow(): Promise<void> {
    if (this.reconciling) throw new Error(`account ${this.accountId} is already reconciling`);
    await this.track(
      (async () => {
        await this.caughtUp;
        await this.reconcile(this.poller?.cursor ?? (await this.loadCursor()));
      })(),
    );
  }

  private track(run: Promise<void>): Promise<void> {
    this.reconciling = run.finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  /** A backfill of the lists beside the running poller: catches what Stripe sent no event for. */
  private async reconcile(cursor: EventCursor): Promise<void> {
    const startedAtMs = Date.now();
    const newest = await this.newestEvent();
    const payload: BackfillStarted = { reason: 'reconcile', last_event_before_backfill: newest.id, last_event_created: newest.created, per_parent: [], started_at_ms: startedAtMs };
    const backfillId = await this.log.write(this.sql, this.accountId, 'backfill_started', payload as unknown as Record<string, unknown>);
    const result = await this.runPhase(backfillId, 'reconcile', 'lists');
    await this.sweep(this.listJobs(), [], result, payload);
    await this.log.write(this.sql, this.accountId, 'backfill_complete', { backfill_id: backfillId, row_count: result.rows, last_event_before_backfill: newest.id, requests: result.requests, duration_ms: Math.round(result.durationMs), cursor_at_start: cursor.id });
  }

  noteError(err: unknown, what: string): void {
    const message = redactSecrets((err as Error)?.message ?? String(err));
    this.lastError = { at: new Date(), message };
    this.logger.error({ account: this.accountId, err: { message } }, what);
    void this.log.write(this.sql, this.accountId, 'error', { where: what, message }).catch(() => {});
  }

  /** Resolves when every change made before the call is in Postgres (see event-poller.ts). */
  async waitFresh(upcoming = false): Promise<EventCursor> {
    await this.caughtUp;
    for (;;) {
      if (this.state === 'stopped' || this.state === 'failed' || this.engine.signal.aborted) throw new Error(`account ${this.accountId} is ${this.state}`);
      const ready = this.pollerReady;
      const poller = await ready;
      try {
        const cursor = await poller.fresh();
        if (upcoming) await this.upcoming.idle();
        return cursor;
      } catch (err) {
        // Replaced by a re-backfill's poller: wait on that one. Stopped for good: say so.
        if (!(err instanceof PollerStoppedError) || this.pollerReady === ready) throw new Error(`event polling of account ${this.accountId} has stopped`, { cause: err });
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.reconcileTimer);
    clearInterval(this.validityTimer);
    await this.reconciling?.catch(() => {});
    await this.poller?.stop();
    await this.upcoming.stop();
    await Promise.allSettled(this.background);
    if (this.state !== 'failed') this.state = 'stopped';
  }
}

export class SyncEngine {
  readonly config: EngineConfig;
  readonly deps: EngineDeps;
  readonly writer: RowWriter;
  readonly accounts: AccountSync[] = [];
  private readonly controller = new AbortController();
  private readonly budgets: RequestBudget[] = [];
  private readonly inFlight: LimitFunction;
  private fatalError: Error | undefined;
  private onFatal: ((err: Error) => void) | undefined;
  /** Rejects when the engine must stop (a refused key). */
  readonly failure: Promise<never>;

  constructor(config: EngineConfig, deps: EngineDeps) {
    this.config = config;
    this.deps = deps;
    this.writer = new RowWriter(config.stripeSyncSchema, { hardDeletes: config.hardDeletes, logger: deps.logger });
    this.inFlight = pLimit(config.concurrency);
    this.failure = new Promise<never>((_, reject) => {
      this.onFatal = reject;
    });
    this.failure.catch(() => {});
    // Fail fast on a bad --per-parent before anything starts.
    selectParentJobs(syncPlan(), config.perParent);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  fatal(err: Error): void {
    if (this.fatalError) return;
    this.fatalError = err;
    this.deps.logger.error({ err: { message: redactSecrets(err.message) } }, 'stripe-sync stopping');
    this.onFatal?.(err);
  }

  private client(key: StripeKeyConfig, label: string, budget: RequestBudget, stripeAccount?: string): StripeClient {
    return new StripeClient({
      apiKey: key.key,
      accountLabel: label,
      apiBase: this.config.stripeApiBase.replace(/\/$/, ''),
      apiVersion: this.config.stripeVersion,
      stripeAccount,
      budget,
      inFlight: this.inFlight,
      logger: this.deps.logger,
      registry: this.deps.registry,
    });
  }

  private budget(accountId: string): RequestBudget {
    const budget = createRequestBudget({ redis: this.deps.redis, key: accountId, maxRps: this.config.maxRps, logger: this.deps.logger });
    this.budgets.push(budget);
    return budget;
  }

  /** Learns each key's account (GET /v1/account or its label) and sets up the account syncs. */
  async resolveAccounts(): Promise<AccountSync[]> {
    if (this.accounts.length) return this.accounts;
    if (this.config.hardDeletes) await pruneTombstones(this.writer, this.deps.sql).catch(() => 0);
    const seen = new Set<string>();
    for (const [i, key] of this.config.stripeKey.entries()) {
      // Until the account is known the budget is keyed by the key's position (never the key).
      const probe = this.client(key, key.label ?? `key #${i + 1}`, createRequestBudget({ key: `probe-${i}`, maxRps: 0 }));
      const accountId = await resolveAccountId(probe, key);
      if (seen.has(accountId)) throw new Error(`two keys belong to account ${accountId}; give each account one key`);
      seen.add(accountId);
      const budget = this.budget(accountId);
      this.accounts.push(new AccountSync(this, accountId, this.client(key, accountId, budget)));
      if (i === 0) {
        // Connect: connected accounts share the platform's budget.
        for (const connected of this.config.stripeAccount) {
          if (seen.has(connected)) continue;
          seen.add(connected);
          this.accounts.push(new AccountSync(this, connected, this.client(key, connected, budget, connected)));
        }
      }
    }
    return this.accounts;
  }

  /** `run`: every account backfills if needed, then polls until stop(). Resolves when all poll. */
  async run(): Promise<void> {
    await this.resolveAccounts();
    const runs = this.accounts.map((a) => a.run().catch((err: unknown) => {
      if (err instanceof StripeAuthError) this.fatal(err);
      throw err;
    }));
    await Promise.race([Promise.all(runs), this.failure]);
  }

  /** `backfill`: every account backfills (both phases) and replays events, then it resolves. */
  async backfill(): Promise<void> {
    await this.resolveAccounts();
    await Promise.race([Promise.all(this.accounts.map((a) => a.backfillOnce())), this.failure]);
  }

  /** Waits until every account (or the one named) holds every change made before the call. */
  async waitFresh(account?: string, upcoming = false): Promise<Record<string, string | null>> {
    const targets = account ? this.accounts.filter((a) => a.accountId === account) : this.accounts;
    if (account && targets.length === 0) throw new Error(`no account ${account}`);
    const cursors = await Promise.all(targets.map((a) => a.waitFresh(upcoming)));
    return Object.fromEntries(targets.map((a, i) => [a.accountId, cursors[i]!.id]));
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled(this.accounts.map((a) => a.stop()));
    for (const b of this.budgets) b.close();
    await sleep(0);
  }
}
