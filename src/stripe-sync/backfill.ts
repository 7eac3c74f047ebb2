// The backfill: every list endpoint under the account's request budget, large ones cut into
// `created` ranges walked in parallel (segments.ts), then (second phase) the nested endpoints
// walked once per parent. Each page is written in the transaction that moves its segment's
// checkpoint (_backfill_segments), so a backfill killed at any instant resumes where it stopped,
// skipping nothing and writing nothing twice.
import type { Sql, TransactionSql } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import { dataDbError, withDbRetry } from './db-retry.ts';
import { addObject, childRow, fetchAll, mergeRowSets, nestedRequest, RowSet, writeRowSet, type JsonObject, type RowContext } from './object-rows.ts';
import type { ProgressReporter } from './progress.ts';
import { stampRead, type RowWriter } from './row-writer.ts';
import { newSegment, pageParams, probeOldest, remainingEstimate, splitPoint, type Segment } from './segments.ts';
import { asList, retryable, StripeApiError, StripeAuthError, type StripeClient } from './stripe-client.ts';
import type { ListJob, ParentJob } from './sync-plan.ts';

export interface BackfillContext {
  sql: Sql;
  writer: RowWriter;
  schema: string;
  accountId: string;
  client: StripeClient;
  logger: Logger;
  progress: ProgressReporter;
  concurrency: number;
  maxRps: number;
  signal?: AbortSignal;
}

export interface PhaseOptions {
  backfillId: number;
  phase: 'lists' | 'parents';
  lists: ListJob[];
  parents: ParentJob[];
  /** Re-backfills remove children missing from complete sub-lists; a first backfill has none. */
  removeStale: boolean;
  /** Segments walked at once (default from the budget: enough to keep it busy). */
  activeSegments?: number;
}

export interface PhaseResult {
  rows: number;
  requests: number;
  durationMs: number;
  /** Jobs Stripe refused for good (a feature not enabled, a restricted key without the permission). */
  skipped: Array<{ job: string; message: string }>;
}

/** Parents whose nested list cannot hold anything are not asked (one request saved per parent). */
const PARENT_FILTERS: Record<string, string> = {
  // A setup intent with no latest_attempt has no attempts.
  setup_attempt: `_raw->>'latest_attempt' is not null`,
  // Usage record summaries exist only for metered prices.
  usage_record_summary: `_raw->'price'->'recurring'->>'usage_type' = 'metered'`,
};

interface JobState {
  def: ListJob | ParentJob;
  done: boolean;
  /** List jobs: 'new' until the lower bound of `created` is known, then 'split'. */
  state: string;
  segments: Segment[];
  nextSegment: number;
  probing: boolean;
  extraRequests: number;
  top?: number;
  bottom?: number;
  /** Parent jobs. */
  frontier?: string | null;
  exhausted?: boolean;
  totalParents?: number;
}

interface WalkState {
  /** created of the lowest item accepted (list segments): a split point stays at or below it. */
  walkCreated?: number;
  splitting?: Promise<void>;
  failures: number;
}

/** Pages of a list walked before it is probed and cut into ranges. */
const PROBE_AFTER_PAGES = 1;

/**
 * Pages a segment may have read but not committed. Lists that cannot be cut into ranges are
 * walked by one segment, so they get a deeper window: a slow Postgres must not set their pace.
 */
const COMMIT_WINDOW = { split: 4, serial: 16 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class BackfillPhase {
  private readonly ctx: BackfillContext;
  private readonly options: PhaseOptions;
  private readonly jobs = new Map<string, JobState>();
  private readonly pending: Segment[] = [];
  private readonly active = new Set<Segment>();
  private readonly walk = new WeakMap<Segment, WalkState>();
  private fatal: unknown;
  private readonly skipped: PhaseResult['skipped'] = [];
  private notify: (() => void) | undefined;
  private readonly rowContext: RowContext;
  /** Lists that cannot be cut into ranges set the backfill's end: their requests go first. */
  private readonly serialContext: RowContext;
  /** The bottom the first probe found: most lists of an account start about then. */
  private bottomHint: number | undefined;
  private readonly t: { segments: string; jobs: string };

  constructor(ctx: BackfillContext, options: PhaseOptions) {
    this.ctx = ctx;
    this.options = options;
    this.rowContext = { client: ctx.client, accountId: ctx.accountId, priority: 'bulk' };
    this.serialContext = { ...this.rowContext, priority: 'serial' };
    this.t = { segments: `"${ctx.schema}"._backfill_segments`, jobs: `"${ctx.schema}"._backfill_jobs` };
  }

  private get defs(): Array<ListJob | ParentJob> {
    return this.options.phase === 'lists' ? this.options.lists : this.options.parents;
  }

  private wake(): void {
    const n = this.notify;
    this.notify = undefined;
    n?.();
  }

  async run(): Promise<PhaseResult> {
    const started = performance.now();
    await this.load();
    // Each segment is sequential (a page's cursor is the previous page's last id), so as many
    // segments as requests may be in flight keep the budget busy; a segment's last page is partial,
    // which costs half a request per segment.
    const target = this.options.activeSegments ?? this.ctx.concurrency;
    for (;;) {
      if (this.fatal) throw this.fatal;
      if (this.ctx.signal?.aborted) throw new Error('backfill stopped');
      for (const job of this.jobs.values()) await this.finishJobIfDone(job);
      if ([...this.jobs.values()].every((j) => j.done)) break;
      await this.fill(target);
      await new Promise<void>((resolve) => {
        this.notify = resolve;
        setTimeout(resolve, 250).unref?.();
      });
    }
    let rows = 0;
    let requests = 0;
    for (const job of this.jobs.values()) {
      rows += job.segments.reduce((s, g) => s + g.rows, 0);
      requests += job.segments.reduce((s, g) => s + g.requests, 0) + job.extraRequests;
    }
    return { rows, requests, durationMs: performance.now() - started, skipped: this.skipped };
  }

  // ---- state in Postgres ----

  private async load(): Promise<void> {
    const { sql, accountId } = this.ctx;
    const { backfillId, phase } = this.options;
    const jobRows = await sql.unsafe(`select job, state, done, requests from ${this.t.jobs} where account_id = $1 and backfill_id = $2`, [accountId, backfillId]);
    const segRows = await sql.unsafe(`select * from ${this.t.segments} where account_id = $1 and backfill_id = $2 order by job, segment`, [accountId, backfillId]);
    for (const def of this.defs) {
      const row = jobRows.find((r) => r.job === def.name);
      if (!row) await sql.unsafe(`insert into ${this.t.jobs} (account_id, backfill_id, job, phase) values ($1, $2, $3, $4) on conflict do nothing`, [accountId, backfillId, def.name, phase]);
      const segments = segRows.filter((r) => r.job === def.name).map(segmentFromRow);
      const job: JobState = {
        def,
        done: row?.done === true,
        state: String(row?.state ?? 'new'),
        segments,
        nextSegment: segments.reduce((m, s) => Math.max(m, s.segment + 1), 0),
        probing: false,
        extraRequests: 0,
      };
      if (def.kind === 'parents') {
        job.frontier = segments.reduce<string | null>((m, s) => (s.parentLast !== null && (m === null || s.parentLast > m) ? s.parentLast : m), null);
      } else if (segments.length === 0) {
        const seg = newSegment(def.name, 0);
        await this.insertSegment(sql, seg);
        segments.push(seg);
        job.nextSegment = 1;
      }
      for (const seg of segments) if (!seg.done && !job.done) this.pending.push(seg);
      this.jobs.set(def.name, job);
      if (def.kind === 'parents' && !job.done) job.totalParents = await this.countParents(def);
      this.report(job);
    }
  }

  private async insertSegment(db: Sql | TransactionSql, seg: Segment): Promise<void> {
    await db.unsafe(
      `insert into ${this.t.segments} (account_id, backfill_id, job, segment, created_gte, created_lt, starting_after, cursor_created, parent_after, parent_last)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict do nothing`,
      [this.ctx.accountId, this.options.backfillId, seg.job, seg.segment, seg.gte, seg.lt, seg.startingAfter, seg.cursorCreated, seg.parentAfter, seg.parentLast],
    );
  }

  private async finishJobIfDone(job: JobState): Promise<void> {
    if (job.done) return;
    if (job.segments.some((s) => !s.done) || job.probing) return;
    if (job.def.kind === 'parents' && !job.exhausted) return;
    if (job.def.kind === 'list' && job.segments.length === 0) return;
    const rows = job.segments.reduce((s, g) => s + g.rows, 0);
    const requests = job.segments.reduce((s, g) => s + g.requests, 0) + job.extraRequests;
    await withDbRetry(
      () => this.ctx.sql.unsafe(`update ${this.t.jobs} set done = true, rows_written = $4, requests = requests + $5, updated_at = now() where account_id = $1 and backfill_id = $2 and job = $3`, [this.ctx.accountId, this.options.backfillId, job.def.name, rows, requests]),
      { logger: this.ctx.logger, what: 'backfill job', signal: this.ctx.signal },
    );
    job.done = true;
    this.report(job);
  }

  // ---- scheduling ----

  private async fill(target: number): Promise<void> {
    while (this.active.size < target && !this.fatal) {
      let seg = this.pending.shift();
      if (!seg) seg = await this.nextParentSegment();
      if (!seg) seg = await this.splitOne();
      if (!seg) return;
      this.start(seg);
    }
  }

  private start(seg: Segment): void {
    const job = this.jobs.get(seg.job)!;
    const state = this.walk.get(seg) ?? { failures: 0 };
    this.walk.set(seg, state);
    this.active.add(seg);
    const walking = job.def.kind === 'list' ? this.walkList(job, job.def, seg, state) : this.walkParents(job, job.def, seg);
    walking
      .then(() => {
        state.failures = 0;
      })
      .catch(async (err: unknown) => {
        if (err instanceof StripeAuthError || this.ctx.signal?.aborted) {
          this.fatal ??= err;
          return;
        }
        if (err instanceof StripeApiError && !retryable(err) && [400, 403, 404].includes(err.status)) {
          // Asking again will not help (Issuing not enabled, a restricted key without the permission…):
          // the segment is closed and the job reported; the rest of the backfill goes on.
          this.skipped.push({ job: seg.job, message: err.message });
          this.ctx.logger.error({ job: seg.job, err: { message: err.message } }, 'Stripe refused a backfill request for good; skipping that segment');
          await this.commit(job, seg, new RowSet(), { startingAfter: seg.startingAfter, cursorCreated: seg.cursorCreated, done: true }).catch(() => {});
          return;
        }
        state.failures++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(state.failures, 6)) * Math.random();
        this.ctx.logger.warn({ err: { message: (err as Error).message }, job: seg.job, segment: seg.segment, failures: state.failures }, 'backfill segment failed; resuming it from its checkpoint');
        await sleep(delay);
        if (!seg.done) this.pending.push(seg);
      })
      .finally(() => {
        this.active.delete(seg);
        this.wake();
      });
  }

  /** Cuts the segment with the most rows left in two; the new lower half is returned to be walked. */
  private async splitOne(): Promise<Segment | undefined> {
    let best: { seg: Segment; rows: number; m: number } | undefined;
    for (const seg of this.active) {
      const job = this.jobs.get(seg.job)!;
      const state = this.walk.get(seg);
      if (job.def.kind !== 'list' || !state || state.splitting || state.walkCreated === undefined) continue;
      const probe = { ...seg, cursorCreated: state.walkCreated };
      const rows = remainingEstimate(probe);
      const m = splitPoint(probe);
      if (rows === undefined || m === undefined || rows < 150) continue;
      if (!best || rows > best.rows) best = { seg, rows, m };
    }
    if (!best) return undefined;
    const { seg, m } = best;
    const job = this.jobs.get(seg.job)!;
    const state = this.walk.get(seg)!;
    const child = newSegment(seg.job, job.nextSegment++, { gte: seg.gte, lt: m });
    let release!: () => void;
    state.splitting = new Promise<void>((resolve) => (release = resolve));
    try {
      // The boundary moves in Postgres first; only then does the walker drop items below it.
      await withDbRetry(
        () =>
          this.ctx.sql.begin(async (tx) => {
            await tx.unsafe(`update ${this.t.segments} set created_gte = $5, updated_at = now() where account_id = $1 and backfill_id = $2 and job = $3 and segment = $4`, [this.ctx.accountId, this.options.backfillId, seg.job, seg.segment, m]);
            await this.insertSegment(tx, child);
          }),
        { logger: this.ctx.logger, what: 'segment split', signal: this.ctx.signal },
      );
      seg.gte = m;
      job.segments.push(child);
    } finally {
      state.splitting = undefined;
      release();
    }
    return child;
  }

  // ---- list segments ----

  private async walkList(job: JobState, def: ListJob, seg: Segment, state: WalkState): Promise<void> {
    const { client } = this.ctx;
    let cursorId = seg.startingAfter;
    let cursorCreated = seg.cursorCreated;
    /** Set when the cursor object vanished: list what is left of its second by time instead. */
    let ltOverride: number | undefined;
    let writeError: unknown;
    // Page k+1 is requested as soon as page k arrives; k's sub-list completions and its commit
    // follow behind, in page order, at most COMMIT_WINDOW pages behind the requests. When
    // Postgres is slower than Stripe, the pages that queued up meanwhile go in one transaction.
    const queue: Array<{ rows: Promise<RowSet>; ready: boolean; next: { startingAfter: string | null; cursorCreated: number | null; done: boolean } }> = [];
    let uncommitted = 0;
    let flushing: Promise<void> = Promise.resolve();
    let flushed = Promise.withResolvers<void>();
    const flush = () => {
      flushing = flushing
        .then(async () => {
          if (writeError || queue.length === 0) return;
          await queue[0]!.rows;
          let n = 1;
          while (n < queue.length && queue[n]!.ready) n++;
          const batch = queue.splice(0, n);
          await this.commit(job, seg, mergeRowSets(await Promise.all(batch.map((b) => b.rows))), batch[n - 1]!.next);
          uncommitted -= n;
        })
        .catch((err: unknown) => {
          writeError ??= err;
        })
        .finally(() => {
          const { resolve } = flushed;
          flushed = Promise.withResolvers<void>();
          resolve();
        });
      return flushing;
    };
    let pages = seg.requests;
    const serial = !def.createdFilter || !def.paginated;
    const context = serial ? this.serialContext : this.rowContext;
    state.walkCreated = seg.cursorCreated ?? undefined;
    try {
      for (;;) {
        if (this.ctx.signal?.aborted) break;
        const params = { ...def.params, ...pageParams({ ...seg, startingAfter: cursorId, lt: ltOverride ?? seg.lt }, 100, def.paginated) };
        let response;
        try {
          response = await client.get(def.path, params, { priority: serial ? 'serial' : 'bulk' });
        } catch (err) {
          if (cursorId && err instanceof StripeApiError && err.code === 'resource_missing' && err.param === 'starting_after' && cursorCreated !== null) {
            // Rows of that second are read again: the version guard makes the second write a no-op.
            ltOverride = cursorCreated + 1;
            cursorId = null;
            continue;
          }
          throw err;
        }
        const page = asList(response.body);
        if (state.splitting) await state.splitting;
        // Synchronously from here to walkCreated: a split cannot slip between the filter and the accept.
        let items = page.data as JsonObject[];
        const createdOf = (o: JsonObject | undefined): number | null => {
          const v = o?.[def.createdField];
          return typeof v === 'number' && Number.isFinite(v) ? v : null;
        };
        let crossed = false;
        if (seg.gte !== null && def.createdFilter) {
          const gte = seg.gte;
          const kept = items.filter((o) => (createdOf(o) ?? gte) >= gte);
          crossed = kept.length < items.length;
          items = kept;
        }
        const last = items[items.length - 1];
        const lastCreated = createdOf(last);
        if (lastCreated !== null) state.walkCreated = lastCreated;
        const firstCreated = createdOf(items[0]);
        if (firstCreated !== null && seg.firstCreated === undefined) seg.firstCreated = firstCreated;
        seg.rowsSeen = (seg.rowsSeen ?? 0) + items.length;
        const done = crossed || !def.paginated || !page.has_more || items.length === 0;
        if (seg.segment === 0 && job.top === undefined && firstCreated !== null) job.top = firstCreated;
        pages++;
        // Only lists that prove larger than a page are cut: probing costs a few requests.
        if (!done && pages >= PROBE_AFTER_PAGES && def.createdFilter && seg.gte === null && seg.segment === 0 && lastCreated !== null && !job.probing && job.state === 'new') {
          void this.probe(job, def, seg, lastCreated);
        }

        const stamp = (row: Record<string, unknown>) => stampRead(row, response.startedAt);
        const rows = (async () => {
          const set = new RowSet();
          set.requests = 1;
          await Promise.all(items.map((o) => addObject(context, set, def.table, o, stamp, def.children, def.expanded)));
          return set;
        })();
        rows.catch(() => {});
        const next = { startingAfter: last ? String(last.id) : cursorId, cursorCreated: last ? lastCreated : cursorCreated, done };
        const entry = { rows, ready: false, next };
        rows.then(() => (entry.ready = true), () => (entry.ready = true));
        queue.push(entry);
        uncommitted++;
        void flush();
        if (done) break;
        while (uncommitted >= (serial ? COMMIT_WINDOW.serial : COMMIT_WINDOW.split) && !writeError) await flushed.promise;
        if (writeError) break;
        cursorId = next.startingAfter;
        cursorCreated = next.cursorCreated;
      }
    } finally {
      // Never hand the segment back (to a retry) while an earlier page may still move its cursor.
      await flush();
    }
    if (writeError) throw writeError;
    if (this.ctx.signal?.aborted) throw new Error('backfill stopped');
  }

  /** Writes one page and moves its segment's checkpoint, in one transaction. */
  private async commit(job: JobState, seg: Segment, set: RowSet, next: { startingAfter: string | null; cursorCreated: number | null; done: boolean }): Promise<void> {
    const { sql, writer, accountId, logger } = this.ctx;
    const write = (safe: boolean) =>
      sql.begin(async (tx) => {
        // The rows and the checkpoint commit together, so a commit Postgres loses in a crash
        // (the last fraction of a second) is a page read again on resume, never a page skipped:
        // no need to wait for the WAL flush.
        await tx.unsafe('set local synchronous_commit = off');
        await writeRowSet(tx, writer, accountId, set, { removeStale: this.options.removeStale, safe });
        await tx.unsafe(
          `update ${this.t.segments} set starting_after = $5, cursor_created = $6, done = $7, rows_written = rows_written + $8, requests = requests + $9, updated_at = now()
           where account_id = $1 and backfill_id = $2 and job = $3 and segment = $4`,
          [accountId, this.options.backfillId, seg.job, seg.segment, next.startingAfter, next.cursorCreated, next.done, set.count, set.requests],
          { prepare: true },
        );
      });
    await withDbRetry(
      async () => {
        try {
          await write(false);
        } catch (err) {
          if (!dataDbError(err)) throw err;
          await write(true);
        }
      },
      { logger, what: `backfill ${seg.job}`, signal: this.ctx.signal },
    );
    seg.startingAfter = next.startingAfter;
    seg.cursorCreated = next.cursorCreated;
    seg.done = next.done;
    seg.rows += set.count;
    seg.requests += set.requests;
    this.report(job);
    if (next.done) this.wake();
  }

  /** Finds a lower bound for the job's oldest `created`, so its segment can be split. */
  private async probe(job: JobState, def: ListJob, seg: Segment, oldestSeen: number): Promise<void> {
    job.probing = true;
    try {
      const { expand: _expand, ...params } = def.params;
      const bottom = await probeOldest(async (p) => {
        job.extraRequests++;
        return asList((await this.ctx.client.get(def.path, { ...params, ...p })).body);
      }, oldestSeen, def.createdField, this.bottomHint);
      this.bottomHint ??= bottom;
      await withDbRetry(
        () =>
          this.ctx.sql.begin(async (tx) => {
            await tx.unsafe(`update ${this.t.segments} set created_gte = $5 where account_id = $1 and backfill_id = $2 and job = $3 and segment = $4 and created_gte is null`, [this.ctx.accountId, this.options.backfillId, seg.job, seg.segment, bottom]);
            await tx.unsafe(`update ${this.t.jobs} set state = 'split', updated_at = now() where account_id = $1 and backfill_id = $2 and job = $3`, [this.ctx.accountId, this.options.backfillId, def.name]);
          }),
        { logger: this.ctx.logger, what: 'backfill probe', signal: this.ctx.signal },
      );
      if (seg.gte === null) seg.gte = bottom;
      job.bottom = bottom;
      job.state = 'split';
    } catch (err) {
      if (err instanceof StripeAuthError) this.fatal ??= err;
      else this.ctx.logger.warn({ err: { message: (err as Error).message }, job: def.name }, 'could not find the oldest object; the endpoint is walked by one worker');
    } finally {
      job.probing = false;
      this.wake();
    }
  }

  // ---- parent segments ----

  private parentQuery(def: ParentJob): { table: string; filter: string } {
    const filters = [PARENT_FILTERS[def.table], ...Object.values(def.parentFields).map((f) => `_raw->>'${f.replace(/'/g, "''")}' is not null`)].filter(Boolean);
    return { table: `"${this.ctx.schema}"."${def.parentTable}"`, filter: filters.map((f) => ` and ${f}`).join('') };
  }

  private async countParents(def: ParentJob): Promise<number> {
    const { table, filter } = this.parentQuery(def);
    const [row] = await this.ctx.sql.unsafe(`select count(*)::bigint as n from ${table} where _account_id = $1 and _deleted_at is null${filter}`, [this.ctx.accountId]);
    return Number(row?.n ?? 0);
  }

  /** The next 100 parents of a parent job become a segment. */
  private async nextParentSegment(): Promise<Segment | undefined> {
    for (const job of this.jobs.values()) {
      if (job.done || job.exhausted || job.def.kind !== 'parents') continue;
      const { table, filter } = this.parentQuery(job.def);
      const ids = await withDbRetry(
        () => this.ctx.sql.unsafe(`select id from ${table} where _account_id = $1 and _deleted_at is null and ($2::text is null or id > $2)${filter} order by id limit 100`, [this.ctx.accountId, job.frontier ?? null]),
        { logger: this.ctx.logger, what: 'parents', signal: this.ctx.signal },
      );
      if (ids.length === 0) {
        job.exhausted = true;
        continue;
      }
      const seg = newSegment(job.def.name, job.nextSegment++, { parentAfter: job.frontier ?? null, parentLast: String(ids[ids.length - 1]!.id) });
      await withDbRetry(() => this.insertSegment(this.ctx.sql, seg), { logger: this.ctx.logger, what: 'parents', signal: this.ctx.signal });
      job.frontier = seg.parentLast;
      job.segments.push(seg);
      return seg;
    }
    return undefined;
  }

  private async walkParents(job: JobState, def: ParentJob, seg: Segment): Promise<void> {
    const { table, filter } = this.parentQuery(def);
    const after = seg.startingAfter ?? seg.parentAfter;
    const fields = Object.entries(def.parentFields);
    const select = ['id', ...fields.map(([, f], i) => `_raw->>'${f.replace(/'/g, "''")}' as f${i}`)].join(', ');
    const ids = await withDbRetry(
      () => this.ctx.sql.unsafe(`select ${select} from ${table} where _account_id = $1 and _deleted_at is null and ($2::text is null or id > $2) and id <= $3${filter} order by id`, [this.ctx.accountId, after, seg.parentLast]),
      { logger: this.ctx.logger, what: 'parents', signal: this.ctx.signal },
    );
    if (ids.length === 0) {
      await this.commit(job, seg, new RowSet(), { startingAfter: seg.startingAfter, cursorCreated: null, done: true });
      return;
    }
    for (let i = 0; i < ids.length; i++) {
      const parentId = String(ids[i]!.id);
      const req = nestedRequest(def.path, def.parentParam, parentId);
      const fromParent = Object.fromEntries(fields.map(([param], k) => [param, ids[i]![`f${k}`]]));
      const set = new RowSet();
      try {
        const { items, requests, startedAt } = await fetchAll(this.rowContext, req.path, { ...def.params, ...fromParent, ...req.params }, undefined, def.paginated);
        set.requests = requests;
        for (const item of items) set.add(def.table, stampRead(childRow(def.table, item, this.ctx.accountId, parentId), startedAt));
      } catch (err) {
        // The parent was deleted in Stripe since it was listed: nothing to list (its event will mark it).
        if (!(err instanceof StripeApiError && err.status === 404)) throw err;
        set.requests = 1;
      }
      await this.commit(job, seg, set, { startingAfter: parentId, cursorCreated: null, done: i === ids.length - 1 });
    }
  }

  // ---- progress ----

  private report(job: JobState): void {
    const rows = job.segments.reduce((s, g) => s + g.rows, 0);
    const requests = job.segments.reduce((s, g) => s + g.requests, 0) + job.extraRequests;
    let fraction: number | undefined;
    if (job.done) fraction = 1;
    else if (job.def.kind === 'parents') {
      const done = job.segments.filter((s) => s.done).length * 100;
      fraction = job.totalParents ? Math.min(0.99, done / job.totalParents) : undefined;
    } else if (job.top !== undefined && job.segments[0]?.gte !== null && job.segments[0]?.gte !== undefined) {
      const bottom = job.bottom ?? job.segments[0].gte;
      const span = Math.max(1, job.top - bottom);
      let left = 0;
      for (const s of job.segments) {
        if (s.done || s.gte === null) continue;
        const upper = this.walk.get(s)?.walkCreated ?? s.cursorCreated ?? s.lt ?? job.top;
        left += Math.max(0, upper - s.gte);
      }
      fraction = Math.max(0, Math.min(0.99, 1 - left / span));
    }
    this.ctx.progress.update(job.def.name, { rows, requests, fraction, segments: job.segments.filter((s) => !s.done).length, done: job.done });
  }
}

function segmentFromRow(r: Record<string, unknown>): Segment {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return newSegment(String(r.job), Number(r.segment), {
    gte: n(r.created_gte),
    lt: n(r.created_lt),
    startingAfter: (r.starting_after as string | null) ?? null,
    cursorCreated: n(r.cursor_created),
    parentAfter: (r.parent_after as string | null) ?? null,
    parentLast: (r.parent_last as string | null) ?? null,
    done: r.done === true,
    rows: Number(r.rows_written ?? 0),
    requests: Number(r.requests ?? 0),
  });
}
