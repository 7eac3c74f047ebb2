// Batched upserts into the mirrored tables. One statement per table and batch: the rows travel as
// one JSON parameter expanded by json_populate_recordset (a 500-row batch of 80-column invoices
// would otherwise be 40,000 bind parameters), and `on conflict … do update … where` keeps the
// newer state. That guard is in SQL, so no interleaving of backfill pages, replayed events and
// several processes can let an older state overwrite a newer one.
//
// How states are ordered (the row's "version"):
// - a state from an event: `_event_created` = the event's `created` plus its position among the
//   events of that second, in microseconds (Stripe lists one second's events in the order they
//   happened; the engine numbers them as it applies them, oldest first);
// - a state from a list or retrieve call: `_event_created` is null and `_synced_at` is when the
//   request was sent. It counts as `_synced_at - 2 s`: an event up to two seconds before the read
//   (event times are whole seconds, clocks differ) may or may not be in it, so such an event wins.
//   Whatever changed after it has a later event of its own, which will be applied.
// version = coalesce(_event_created, _synced_at - 2 s); a row is replaced only by a greater one.
import type { Sql, TransactionSql } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import { tableMapping, type Row } from './schema-mapping.ts';

export type Db = Sql | TransactionSql;

/** How much older than its request a list read counts (see above). */
export const READ_SKEW_MS = 2000;

export const VERSION_SQL = (alias: string) => `coalesce(${alias}._event_created, ${alias}._synced_at - interval '${READ_SKEW_MS} milliseconds')`;

/** `created` + position µs as an ISO timestamp with microseconds (JS Dates stop at ms). */
export function eventVersionText(created: number, position: number): string {
  if (position < 0 || position > 999_999) throw new Error(`event position ${position} out of range`);
  return `${new Date(created * 1000).toISOString().slice(0, 19)}.${String(position).padStart(6, '0')}Z`;
}

/** The numeric version (µs since the epoch) the SQL guard compares, for ordering in JS. */
export function rowVersion(row: Row): number {
  return row.__v as number;
}

/** Marks a row as read from a list or retrieve call sent at `readAt` (ms). */
export function stampRead(row: Row, readAt: number): Row {
  row._synced_at = new Date(readAt);
  row._event_created = null;
  row._deleted_at = null;
  row.__v = (readAt - READ_SKEW_MS) * 1000;
  return row;
}

/** Marks a row as the state an event carried; `deleted` for *.deleted events. */
export function stampEvent(row: Row, created: number, position: number, deleted: boolean, now = Date.now()): Row {
  row._synced_at = new Date(now);
  row._event_created = eventVersionText(created, position);
  row._deleted_at = deleted ? new Date(created * 1000) : null;
  row.__v = created * 1_000_000 + position;
  return row;
}

interface Statement {
  /** Columns computed in SQL from `_raw` (one JSON parse per row). */
  upsert: string;
  /** json_populate_recordset of the converted row: the per-row fallback for rows the fast path refuses. */
  populate: string;
  key: string[];
  parentColumn: string | null;
  kind: 'resource' | 'child' | 'virtual';
  /** Field columns sent beside _raw (see statement()). */
  passed: string[];
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

export interface UpsertOptions {
  /** Per-row fallback for rows Postgres refuses (a field whose type drifted from the spec). */
  safe?: boolean;
}

export class RowWriter {
  readonly schema: string;
  readonly hardDeletes: boolean;
  private readonly logger: Logger | undefined;
  private readonly statements = new Map<string, Statement>();

  constructor(schema: string, options: { hardDeletes?: boolean; logger?: Logger } = {}) {
    this.schema = schema;
    this.hardDeletes = options.hardDeletes ?? false;
    this.logger = options.logger;
  }

  table(name: string): string {
    return `${q(this.schema)}.${q(name)}`;
  }

  private statement(table: string): Statement {
    let s = this.statements.get(table);
    if (s) return s;
    const mapping = tableMapping(table);
    const cols = mapping.columns.map((c) => c.name);
    const key = mapping.key;
    const name = this.table(table);
    const update = cols.filter((c) => !key.includes(c)).map((c) => `${q(c)} = excluded.${q(c)}`).join(', ');
    const list = cols.map(q).join(', ');
    const conflict = `on conflict (${key.map(q).join(', ')}) do update set ${update} where ${VERSION_SQL('t')} < ${VERSION_SQL('excluded')} ` +
      `returning ${key.filter((k) => k !== '_account_id').map((k) => `t.${q(k)}`).join(', ')}`;
    // Columns whose value is not (only) the object's own field: a virtual row's key, the parent a
    // sub-list item came in (set even when the item's field is empty). They travel beside _raw.
    const passed = new Set<string>(mapping.kind === 'virtual' ? key.filter((k) => k !== '_account_id') : mapping.parents.map((l) => l.parentColumn));
    const exprs = mapping.columns.map((c) => (c.source === 'field' && passed.has(c.name) ? `e->'x'->>'${c.name.replace(/'/g, "''")}'` : columnFromRaw(c)));
    s = {
      upsert:
        `insert into ${name} as t (${list}) select ${exprs.join(', ')} from jsonb_array_elements($1::jsonb) as e, lateral (select e->'r' as r) x ${conflict}`,
      populate: `insert into ${name} as t (${list}) select ${list} from json_populate_recordset(null::${name}, $1::json) ${conflict}`,
      key,
      parentColumn: mapping.columns.find((c) => c.source === 'parent')?.name ?? null,
      kind: mapping.kind,
      passed: [...passed].filter((c) => mapping.columns.some((m) => m.name === c && m.source === 'field')),
    };
    this.statements.set(table, s);
    return s;
  }

  /** A row's key as one string (id, or customer|subscription for upcoming invoices). */
  keyOf(table: string, row: Row): string {
    const { key } = this.statement(table);
    return key.length === 2 ? String(row[key[1]!]) : key.slice(1).map((k) => String(row[k] ?? '')).join('|');
  }

  /**
   * Upserts `rows` (stamped with stampRead/stampEvent) and returns the keys that were written:
   * rows an existing newer state kept out are not among them. Duplicate keys keep the newest.
   */
  async upsert(db: Db, table: string, rows: Row[], options: UpsertOptions = {}): Promise<Set<string>> {
    if (rows.length === 0) return new Set();
    const statement = this.statement(table);
    const unique = new Map<string, Row>();
    for (const row of rows) {
      const k = `${String(row._account_id)}\u0000${this.keyOf(table, row)}`;
      const seen = unique.get(k);
      if (!seen || rowVersion(seen) < rowVersion(row)) unique.set(k, row);
    }
    // One lock order for every writer (backfill segments, the poller): fewer deadlocks between them.
    const batch = [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
    const applied = new Set<string>();
    const collect = (result: Record<string, unknown>[]) => {
      for (const r of result) applied.add(statement.key.length === 2 ? String(r[statement.key[1]!]) : statement.key.slice(1).map((k) => String(r[k] ?? '')).join('|'));
    };
    // Prepared: the statement is fixed per table, and planning its ~80 column expressions costs
    // more than writing one row (the poller writes a few rows at a time).
    const fast = (part: Row[], on: Db) => on.unsafe(statement.upsert, [part.map((row) => slim(row, statement)) as never], { prepare: true }).then(collect);
    const populate = (part: Row[], on: Db) => on.unsafe(statement.populate, [part as never], { prepare: true }).then(collect);
    if (!options.safe) {
      await fast(batch, db);
    } else {
      // One savepoint per row: a row Postgres refuses is written with its key and _raw only.
      for (const row of batch) {
        try {
          await savepoint(db, (sp) => populate([row], sp));
        } catch (err) {
          this.logger?.error({ err, table, id: row.id }, 'row refused by Postgres; storing its _raw only');
          await savepoint(db, (sp) => populate([rawOnly(table, row)], sp));
        }
      }
    }
    if (this.hardDeletes && statement.kind !== 'virtual') await this.purge(db, table, batch);
    return applied;
  }

  /** --hard-deletes: rows marked deleted go, leaving a tombstone; rows a tombstone outdates go too. */
  private async purge(db: Db, table: string, rows: Row[]): Promise<void> {
    const byAccount = new Map<string, string[]>();
    for (const row of rows) {
      const ids = byAccount.get(String(row._account_id)) ?? [];
      ids.push(String(row.id));
      byAccount.set(String(row._account_id), ids);
    }
    const name = this.table(table);
    const tombstones = this.table('_tombstones');
    for (const [account, ids] of byAccount) {
      await db.unsafe(
        `with gone as (delete from ${name} t where t._account_id = $1 and t.id = any($2::text[]) and t._deleted_at is not null returning t.id, ${VERSION_SQL('t')} as v)
         insert into ${tombstones} (account_id, table_name, id, deleted_version) select $1, $3, id, v from gone
         on conflict (account_id, table_name, id) do update set deleted_version = greatest(${tombstones}.deleted_version, excluded.deleted_version)`,
        [account, ids, table],
      );
      await db.unsafe(
        `delete from ${name} t using ${tombstones} d where t._account_id = $1 and t.id = any($2::text[]) and d.account_id = $1 and d.table_name = $3 and d.id = t.id and ${VERSION_SQL('t')} <= d.deleted_version`,
        [account, ids, table],
      );
    }
  }

  /**
   * After a parent's complete sub-list was written: its children that are no longer in it go
   * (child tables) or are marked deleted (resource tables), unless they hold a newer state.
   */
  async removeStaleChildren(db: Db, table: string, accountId: string, parents: Array<{ parentId: string; keep: string[]; version: Row }>): Promise<number> {
    if (parents.length === 0) return 0;
    const { parentColumn, kind } = this.statement(table);
    const column = parentColumn ?? staleParentColumn(table);
    if (!column) throw new Error(`${table} has no parent column`);
    const name = this.table(table);
    const input = parents.map((p) => ({ parent: p.parentId, keep: p.keep, ev: p.version._event_created ?? null, rd: p.version._synced_at }));
    const match = `from json_to_recordset($2::json) as x(parent text, keep jsonb, ev timestamptz, rd timestamptz)
      where t._account_id = $1 and t.${q(column)} = x.parent and not (x.keep ? t.id)
        and ${VERSION_SQL('t')} < coalesce(x.ev, x.rd - interval '${READ_SKEW_MS} milliseconds')`;
    if (kind === 'child' || this.hardDeletes) {
      const deleted = await db.unsafe(`delete from ${name} t using json_to_recordset($2::json) as x(parent text, keep jsonb, ev timestamptz, rd timestamptz)
        where t._account_id = $1 and t.${q(column)} = x.parent and not (x.keep ? t.id)
          and ${VERSION_SQL('t')} < coalesce(x.ev, x.rd - interval '${READ_SKEW_MS} milliseconds')`, [accountId, input as never], { prepare: true });
      return deleted.count;
    }
    const updated = await db.unsafe(
      `update ${name} t set _deleted_at = coalesce(x.ev, x.rd), _event_created = x.ev, _synced_at = x.rd
       ${match} and t._deleted_at is null`,
      [accountId, input as never],
      { prepare: true },
    );
    return updated.count;
  }
}

/** Tombstones older than the events window can no longer stop anything (no older state can arrive). */
export async function pruneTombstones(writer: RowWriter, db: Db, olderThanDays = 31): Promise<number> {
  const r = await db.unsafe(`delete from ${writer.table('_tombstones')} where deleted_version < now() - make_interval(days => $1)`, [olderThanDays]);
  return r.count;
}

/**
 * After a re-backfill listed every object of `table`: rows it did not see, and that no event
 * touched since it started, are of objects deleted while no event was seen (an expired cursor,
 * a deletion Stripe sent no event for). They are marked deleted (or deleted).
 */
export async function sweepUnseen(writer: RowWriter, db: Db, table: string, accountId: string, startedAtMs: number): Promise<number> {
  const name = writer.table(table);
  const before = new Date(startedAtMs - READ_SKEW_MS);
  const where = `t._account_id = $1 and ${VERSION_SQL('t')} < $2::timestamptz`;
  if (writer.hardDeletes) {
    const tombstones = writer.table('_tombstones');
    const r = await db.unsafe(
      `with gone as (delete from ${name} t where ${where} returning t.id)
       insert into ${tombstones} (account_id, table_name, id, deleted_version) select $1, $3, id, $2::timestamptz from gone
       on conflict (account_id, table_name, id) do update set deleted_version = greatest(${tombstones}.deleted_version, excluded.deleted_version)`,
      [accountId, before, table],
    );
    return r.count;
  }
  const r = await db.unsafe(`update ${name} t set _deleted_at = $2::timestamptz, _synced_at = now() where ${where} and t._deleted_at is null`, [accountId, before]);
  return r.count;
}

/**
 * The SQL that computes a column from the row's `_raw` (`r`, parsed once as part of the batch),
 * exactly as toRow() converts it in JavaScript: unix times → timestamptz, expandable references
 * → ids, JSON null → NULL. Key, parent and engine columns come from the batch element `e`.
 */
function columnFromRaw(c: import('./schema-mapping.ts').ColumnMapping): string {
  const f = `'${c.name.replace(/'/g, "''")}'`;
  if (c.source === 'parent') return `e->>'p'`;
  if (c.source === 'engine') {
    switch (c.name) {
      case '_account_id':
        return `e->>'a'`;
      case '_raw':
        return 'r';
      case '_synced_at':
        return `(e->>'s')::timestamptz`;
      case '_event_created':
        return `(e->>'v')::timestamptz`;
      case '_deleted_at':
        return `(e->>'d')::timestamptz`;
      default:
        return 'null';
    }
  }
  const v = `r->${f}`;
  if (c.unixTime) return `case jsonb_typeof(${v}) when 'number' then to_timestamp((r->>${f})::double precision) end`;
  if (c.expandable) {
    if (c.type === 'jsonb') {
      return `case jsonb_typeof(${v}) when 'array' then (select coalesce(jsonb_agg(case jsonb_typeof(x) when 'object' then x->'id' else x end order by n), '[]'::jsonb) from jsonb_array_elements(${v}) with ordinality as y(x, n)) when 'null' then null else ${v} end`;
    }
    return `case jsonb_typeof(${v}) when 'object' then ${v}->>'id' else r->>${f} end`;
  }
  switch (c.type) {
    case 'jsonb':
      return `nullif(${v}, 'null'::jsonb)`;
    case 'text':
      return `r->>${f}`;
    case 'boolean':
      return `(r->>${f})::boolean`;
    case 'bigint':
      return `(r->>${f})::bigint`;
    case 'numeric':
      return `(r->>${f})::numeric`;
    case 'timestamptz':
      return `(r->>${f})::timestamptz`;
  }
}

/** What the fast path sends per row: _raw and the columns that do not come from it. */
function slim(row: Row, statement: Statement): Record<string, unknown> {
  const out: Record<string, unknown> = { r: row._raw, a: row._account_id, s: row._synced_at, v: row._event_created, d: row._deleted_at };
  if (statement.parentColumn) out.p = row[statement.parentColumn];
  if (statement.passed.length) out.x = Object.fromEntries(statement.passed.map((c) => [c, row[c]]));
  return out;
}

/** Rows of `table` under deleted parents go too (see sync-plan cascadeOf), unless they hold a newer state. */
export async function cascadeDelete(writer: RowWriter, db: Db, table: string, column: string, accountId: string, parents: Array<{ parentId: string; version: Row }>): Promise<number> {
  if (parents.length === 0) return 0;
  const name = writer.table(table);
  const input = parents.map((p) => ({ parent: p.parentId, ev: p.version._event_created ?? null, rd: p.version._synced_at }));
  const match = `from json_to_recordset($2::json) as x(parent text, ev timestamptz, rd timestamptz)
    where t._account_id = $1 and t.${q(column)} = x.parent and ${VERSION_SQL('t')} < coalesce(x.ev, x.rd - interval '${READ_SKEW_MS} milliseconds')`;
  if (writer.hardDeletes) {
    const tombstones = writer.table('_tombstones');
    const r = await db.unsafe(
      `with gone as (delete from ${name} t using json_to_recordset($2::json) as x(parent text, ev timestamptz, rd timestamptz)
         where t._account_id = $1 and t.${q(column)} = x.parent and ${VERSION_SQL('t')} < coalesce(x.ev, x.rd - interval '${READ_SKEW_MS} milliseconds')
         returning t.id, coalesce(x.ev, x.rd) as v)
       insert into ${tombstones} (account_id, table_name, id, deleted_version) select $1, $3, id, v from gone
       on conflict (account_id, table_name, id) do update set deleted_version = greatest(${tombstones}.deleted_version, excluded.deleted_version)`,
      [accountId, input as never, table],
    );
    return r.count;
  }
  const r = await db.unsafe(`update ${name} t set _deleted_at = coalesce(x.ev, x.rd), _event_created = x.ev, _synced_at = x.rd ${match} and t._deleted_at is null`, [accountId, input as never]);
  return r.count;
}

/** Resource tables reached through a parent's sub-list name the parent in a field of their own. */
function staleParentColumn(table: string): string | null {
  return tableMapping(table).parents[0]?.parentColumn ?? null;
}

function rawOnly(table: string, row: Row): Row {
  const out: Row = {};
  for (const c of tableMapping(table).columns) out[c.name] = c.source === 'field' && !tableMapping(table).key.includes(c.name) ? null : row[c.name];
  out.__v = row.__v;
  return out;
}

async function savepoint<T>(db: Db, fn: (on: Db) => Promise<T>): Promise<T> {
  if ('savepoint' in db && typeof db.savepoint === 'function') return (db as TransactionSql).savepoint((sp) => fn(sp)) as Promise<T>;
  return fn(db);
}
