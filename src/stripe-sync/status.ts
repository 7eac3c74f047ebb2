// What /status and `ledgerline stripe-sync status` report: rows per table (and per account), the
// backfill's progress by job, the event cursor and how far behind it is, and the last error.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Sql } from '../platform/db.ts';
import { parseInput } from '../platform/http-errors.ts';
import type { SyncEngine } from './engine.ts';
import { schemaMapping } from './schema-mapping.ts';

export interface TableCount {
  table: string;
  rows: number;
  /** Rows per account (exact counts only). */
  accounts?: Record<string, number>;
  deleted?: number;
}

/** Rows per table: exact (a count per table) or Postgres's estimates (instant on any size). */
export async function tableCounts(sql: Sql, schema: string, exact: boolean): Promise<TableCount[]> {
  const tables = schemaMapping().tables.map((t) => t.table);
  if (!exact) {
    const rows = await sql.unsafe(`select relname, greatest(n_live_tup, 0)::bigint as n from pg_stat_user_tables where schemaname = $1`, [schema]);
    const by = new Map(rows.map((r) => [String(r.relname), Number(r.n)]));
    return tables.map((table) => ({ table, rows: by.get(table) ?? 0 }));
  }
  const parts = tables.map((t) => `select '${t}' as t, _account_id as a, count(*)::bigint as n, count(_deleted_at)::bigint as d from "${schema}"."${t}" group by _account_id`);
  const rows = await sql.unsafe(parts.join(' union all '));
  const out = new Map<string, TableCount>(tables.map((t) => [t, { table: t, rows: 0, accounts: {}, deleted: 0 }]));
  for (const r of rows) {
    const c = out.get(String(r.t))!;
    c.rows += Number(r.n);
    c.deleted! += Number(r.d);
    c.accounts![String(r.a)] = Number(r.n);
  }
  return [...out.values()];
}

export interface AccountDbStatus {
  account: string;
  cursor: { event: string | null; created: string | null; position: number; events_applied: number; last_poll_at: string | null; lag_seconds: number | null };
  backfill: {
    id: number;
    reason: string;
    started_at: string;
    complete: boolean;
    completed_at: string | null;
    per_parent_complete: boolean;
    jobs: { total: number; done: number; rows: number; requests: number };
    phases: Record<string, { total: number; done: number; rows: number; requests: number }>;
  } | null;
  last_error: { at: string; message: string } | null;
  recent_log: Array<{ id: number; kind: string; payload: unknown; created_at: string }>;
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : v == null ? null : String(v));

/** The state in Postgres, per account: what `status` shows without a running engine. */
export async function databaseStatus(sql: Sql, schema: string): Promise<AccountDbStatus[]> {
  const s = `"${schema}"`;
  const accounts = await sql.unsafe(`select distinct account_id from ${s}._sync_log union select account_id from ${s}._sync_state order by 1`);
  const out: AccountDbStatus[] = [];
  for (const { account_id: account } of accounts) {
    const [state] = await sql.unsafe(`select * from ${s}._sync_state where account_id = $1`, [account]);
    const [started] = await sql.unsafe(`select * from ${s}._sync_log where account_id = $1 and kind = 'backfill_started' order by id desc limit 1`, [account]);
    let backfill: AccountDbStatus['backfill'] = null;
    if (started) {
      const [complete] = await sql.unsafe(`select * from ${s}._sync_log where account_id = $1 and kind = 'backfill_complete' and (payload->>'backfill_id')::bigint = $2 limit 1`, [account, started.id]);
      const [perParent] = await sql.unsafe(`select id from ${s}._sync_log where account_id = $1 and kind = 'per_parent_complete' and (payload->>'backfill_id')::bigint = $2 limit 1`, [account, started.id]);
      const jobs = await sql.unsafe(
        `select j.phase, count(*)::int as total, count(*) filter (where j.done)::int as done,
           coalesce(sum((select sum(rows_written) from ${s}._backfill_segments g where g.account_id = j.account_id and g.backfill_id = j.backfill_id and g.job = j.job)), 0)::bigint as rows,
           coalesce(sum((select sum(requests) from ${s}._backfill_segments g where g.account_id = j.account_id and g.backfill_id = j.backfill_id and g.job = j.job)), 0)::bigint as requests
         from ${s}._backfill_jobs j where j.account_id = $1 and j.backfill_id = $2 group by j.phase`,
        [account, started.id],
      );
      const phases = Object.fromEntries(jobs.map((j) => [String(j.phase), { total: Number(j.total), done: Number(j.done), rows: Number(j.rows), requests: Number(j.requests) }]));
      const sum = (k: 'total' | 'done' | 'rows' | 'requests') => Object.values(phases).reduce((a, p) => a + p[k], 0);
      const perParentList = ((started.payload as { per_parent?: string[] }).per_parent ?? []);
      backfill = {
        id: Number(started.id),
        reason: String((started.payload as { reason?: string }).reason ?? ''),
        started_at: iso(started.created_at)!,
        complete: !!complete,
        completed_at: complete ? iso(complete.created_at) : null,
        per_parent_complete: perParentList.length === 0 || !!perParent,
        jobs: { total: sum('total'), done: sum('done'), rows: sum('rows'), requests: sum('requests') },
        phases,
      };
    }
    const [error] = await sql.unsafe(`select * from ${s}._sync_log where account_id = $1 and kind = 'error' order by id desc limit 1`, [account]);
    const recent = await sql.unsafe(`select id, kind, payload, created_at from ${s}._sync_log where account_id = $1 order by id desc limit 10`, [account]);
    const lastPoll = state?.last_poll_at as Date | undefined;
    out.push({
      account: String(account),
      cursor: {
        event: (state?.event_cursor as string | null) ?? null,
        created: state?.event_cursor_created == null ? null : new Date(Number(state.event_cursor_created) * 1000).toISOString(),
        position: Number(state?.event_cursor_position ?? 0),
        events_applied: Number(state?.events_applied ?? 0),
        last_poll_at: iso(lastPoll),
        lag_seconds: lastPoll ? Math.max(0, (Date.now() - lastPoll.getTime()) / 1000) : null,
      },
      backfill,
      last_error: error ? { at: iso(error.created_at)!, message: String((error.payload as { message?: string }).message ?? '') } : null,
      recent_log: recent.map((r) => ({ id: Number(r.id), kind: String(r.kind), payload: r.payload, created_at: iso(r.created_at)! })),
    });
  }
  return out;
}

/** The running engine's view: state per account, live backfill jobs, poller and upcoming invoices. */
export function engineStatus(engine: SyncEngine) {
  return engine.accounts.map((a) => {
    const poller = a.poller?.status();
    return {
      account: a.accountId,
      state: a.state,
      backfill: a.backfill
        ? {
            id: a.backfill.id,
            reason: a.backfill.reason,
            phase: a.backfill.phase,
            started_at: a.backfill.startedAt.toISOString(),
            rows: [...a.backfill.jobs.values()].reduce((s, j) => s + j.rows, 0),
            requests: [...a.backfill.jobs.values()].reduce((s, j) => s + j.requests, 0),
            jobs_done: [...a.backfill.jobs.values()].filter((j) => j.done).length,
            jobs: a.backfill.jobs.size,
            running: [...a.backfill.jobs.entries()].filter(([, j]) => !j.done).map(([job, j]) => ({ job, rows: j.rows, requests: j.requests, percent: j.fraction === undefined ? null : Math.floor(j.fraction * 100) })),
          }
        : null,
      per_parent: a.perParent
        ? { done: a.perParent.done, rows: [...a.perParent.jobs.values()].reduce((s, j) => s + j.rows, 0), jobs_done: [...a.perParent.jobs.values()].filter((j) => j.done).length, jobs: a.perParent.jobs.size }
        : null,
      events: poller
        ? {
            cursor: poller.cursor.id,
            cursor_created: poller.cursor.created === null ? null : new Date(poller.cursor.created * 1000).toISOString(),
            last_poll_at: poller.lastPollAt?.toISOString() ?? null,
            // Every event created before the last completed poll started is applied.
            lag_ms: poller.caughtUpAt ? Date.now() - poller.caughtUpAt : null,
            applied: poller.applied,
            cycles: poller.cycles,
            last_error: poller.lastError,
          }
        : null,
      upcoming_invoices: a.upcoming.status(),
      last_error: a.lastError ?? null,
    };
  });
}

/** GET /status: the engine's live view, the database's, and rows per table (?exact=true counts them). */
export function registerStatusRoute(app: FastifyInstance, engine: SyncEngine, sql: Sql, schema: string): void {
  const query = z.object({ exact: z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1') });
  app.get('/status', async (request) => {
    const { exact } = parseInput(query, request.query, 'query');
    const [db, tables] = await Promise.all([databaseStatus(sql, schema), tableCounts(sql, schema, exact)]);
    return {
      schema,
      accounts: engineStatus(engine).map((live) => ({ ...live, database: db.find((d) => d.account === live.account) ?? null })),
      tables: Object.fromEntries(tables.filter((t) => t.rows > 0 || exact).map((t) => [t.table, exact ? { rows: t.rows, deleted: t.deleted, accounts: t.accounts } : t.rows])),
      row_counts: exact ? 'exact' : 'estimated (pg_stat_user_tables; ?exact=true counts)',
    };
  });
}
