// stripe._sync_log: what the engine did, per account, newest last. At start the engine reads it
// to decide what to run (decideStart): a fresh backfill, a resumed one, or polling.
import type { Sql } from '../platform/db.ts';
import type { Db } from './row-writer.ts';

export type SyncLogKind =
  | 'backfill_started'
  | 'backfill_complete'
  | 'per_parent_complete'
  | 'events_caught_up'
  | 'cursor_expired'
  | 'error';

export type BackfillReason = 'initial' | 'cursor_expired' | 'reconcile' | 'manual';

export interface BackfillStarted {
  backfill_id?: number;
  reason: BackfillReason;
  last_event_before_backfill: string | null;
  last_event_created: number | null;
  per_parent: string[];
  /** When the backfill began (ms): rows not written since, nor touched by a later event, were not seen. */
  started_at_ms?: number;
}

export interface BackfillComplete {
  backfill_id: number;
  row_count: number;
  last_event_before_backfill: string | null;
  requests: number;
  duration_ms: number;
}

export interface SyncLogEntry {
  id: number;
  account_id: string;
  kind: SyncLogKind;
  payload: Record<string, unknown>;
  created_at: Date;
}

export class SyncLog {
  private readonly table: string;

  constructor(schema: string) {
    this.table = `"${schema}"._sync_log`;
  }

  async write(db: Db, accountId: string, kind: SyncLogKind, payload: Record<string, unknown>): Promise<number> {
    const [row] = await db.unsafe(`insert into ${this.table} (account_id, kind, payload) values ($1, $2, $3::jsonb) returning id`, [accountId, kind, payload as never]);
    return Number(row!.id);
  }

  async latest(db: Db, accountId: string, kinds: SyncLogKind[]): Promise<SyncLogEntry | undefined> {
    const [row] = await db.unsafe(`select * from ${this.table} where account_id = $1 and kind = any($2::text[]) order by id desc limit 1`, [accountId, kinds]);
    return row ? normalise(row) : undefined;
  }

  async recent(db: Db, accountId: string | undefined, limit = 20): Promise<SyncLogEntry[]> {
    const rows = accountId
      ? await db.unsafe(`select * from ${this.table} where account_id = $1 order by id desc limit $2`, [accountId, limit])
      : await db.unsafe(`select * from ${this.table} order by id desc limit $1`, [limit]);
    return rows.map(normalise);
  }

  /** The backfill that completes `backfill_id`, if any. */
  async completion(db: Db, accountId: string, backfillId: number, kind: 'backfill_complete' | 'per_parent_complete'): Promise<SyncLogEntry | undefined> {
    const [row] = await db.unsafe(`select * from ${this.table} where account_id = $1 and kind = $2 and (payload->>'backfill_id')::bigint = $3 order by id desc limit 1`, [accountId, kind, backfillId]);
    return row ? normalise(row) : undefined;
  }
}

function normalise(row: Record<string, unknown>): SyncLogEntry {
  return { id: Number(row.id), account_id: String(row.account_id), kind: row.kind as SyncLogKind, payload: (row.payload ?? {}) as Record<string, unknown>, created_at: row.created_at as Date };
}

export type StartDecision =
  | { action: 'fresh_backfill' }
  | { action: 'resume_backfill'; backfillId: number; started: BackfillStarted }
  | { action: 'poll'; backfillId: number; perParentPending: boolean; lastComplete: Date; started: BackfillStarted };

/**
 * What to run for an account, from its sync log: no backfill yet → a fresh one; the newest
 * backfill never completed its lists → resume it from its checkpoints; otherwise poll events
 * (finishing the per-parent phase in the background when it did not complete).
 */
export async function decideStart(db: Sql, log: SyncLog, accountId: string): Promise<StartDecision> {
  const started = await log.latest(db, accountId, ['backfill_started']);
  if (!started) return { action: 'fresh_backfill' };
  const payload = started.payload as unknown as BackfillStarted;
  const complete = await log.completion(db, accountId, started.id, 'backfill_complete');
  if (!complete) {
    // A reconcile backfill that did not finish leaves the previous complete one standing.
    if (payload.reason === 'reconcile') {
      const previous = await log.latest(db, accountId, ['backfill_complete']);
      if (previous) {
        return { action: 'poll', backfillId: Number(previous.payload.backfill_id), perParentPending: false, lastComplete: previous.created_at, started: payload };
      }
    }
    return { action: 'resume_backfill', backfillId: started.id, started: payload };
  }
  const perParent = payload.per_parent ?? [];
  const perParentDone = perParent.length === 0 || !!(await log.completion(db, accountId, started.id, 'per_parent_complete'));
  return { action: 'poll', backfillId: started.id, perParentPending: !perParentDone, lastComplete: complete.created_at, started: payload };
}
