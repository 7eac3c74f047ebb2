// Monthly partitions (UTC) of the entries and of both tagging tables, which are always created and
// dropped together. There is no default partition: a row for a month without a partition would
// land there and block creating that month's partition later. Instead the workers create
// partitions ahead of time (`monthsAhead`) and on demand for a batch that needs a missing month
// (ensureFor, cached), and retention detaches and drops whole months, then deletes their rows
// from the dedupe table.
import type { Sql } from '../platform/db.ts';

export const PARTITIONED_TABLES = ['entries', 'feed_taggings', 'access_taggings'] as const;

/** A calendar month in UTC, as a count of months since year 0 (so arithmetic is plain). */
export type Month = number;

export const monthOf = (date: Date): Month => date.getUTCFullYear() * 12 + date.getUTCMonth();
export const monthStart = (month: Month): Date => new Date(Date.UTC(Math.floor(month / 12), month % 12, 1));
export const monthLabel = (month: Month): string => `${Math.floor(month / 12)}_${String((month % 12) + 1).padStart(2, '0')}`;

/** Identifiers are built from integers only, never from input. */
export const partitionName = (table: (typeof PARTITIONED_TABLES)[number], month: Month) => `${table}_p${monthLabel(month)}`;

const LOCK = `select pg_advisory_xact_lock(hashtext('chronicles.partitions'))`;

/** Months that have an entries partition (parsed from the catalog). */
export async function listPartitionMonths(sql: Sql): Promise<Month[]> {
  const rows = await sql<{ name: string }[]>`
    select c.relname as name
    from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'chronicles.entries'::regclass and not i.inhdetachpending`;
  const months: Month[] = [];
  for (const { name } of rows) {
    const m = /^entries_p(\d{4})_(\d{2})$/.exec(name);
    if (m) months.push(Number(m[1]) * 12 + Number(m[2]) - 1);
  }
  return months.sort((a, b) => a - b);
}

/** Creates the partitions of these months that do not exist yet (idempotent, concurrency-safe). */
export async function ensurePartitions(sql: Sql, months: Iterable<Month>): Promise<Month[]> {
  const created: Month[] = [];
  for (const month of new Set(months)) {
    const from = monthStart(month).toISOString();
    const to = monthStart(month + 1).toISOString();
    const made = await sql.begin(async (tx) => {
      await tx.unsafe(LOCK);
      const [row] = await tx<{ exists: boolean }[]>`select to_regclass(${`chronicles.${partitionName('entries', month)}`}) is not null as exists`;
      if (row?.exists) return false;
      for (const table of PARTITIONED_TABLES) {
        await tx.unsafe(`create table chronicles.${partitionName(table, month)} partition of chronicles.${table} for values from ('${from}') to ('${to}')`);
      }
      return true;
    });
    if (made) created.push(month);
  }
  return created;
}

/** Remembers which months have partitions so a batch costs no catalog query in the common case. */
export class PartitionCache {
  private known = new Set<Month>();
  private loaded = false;
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async ensureFor(dates: Iterable<Date>): Promise<void> {
    const needed = new Set<Month>();
    for (const d of dates) needed.add(monthOf(d));
    let missing = [...needed].filter((m) => !this.known.has(m));
    if (missing.length === 0) return;
    if (!this.loaded) {
      for (const m of await listPartitionMonths(this.sql)) this.known.add(m);
      this.loaded = true;
      missing = missing.filter((m) => !this.known.has(m));
    }
    await ensurePartitions(this.sql, missing);
    for (const m of missing) this.known.add(m);
  }

  /** After "no partition found for row" (retention dropped one): look at the catalog again. */
  invalidate(): void {
    this.known.clear();
    this.loaded = false;
  }
}

/** Months from `before` months ago to `ahead` months after the current one. */
export function monthsAround(now: Date, before: number, ahead: number): Month[] {
  const current = monthOf(now);
  const out: Month[] = [];
  for (let m = current - before; m <= current + ahead; m++) out.push(m);
  return out;
}

/**
 * Retention keeps the current month and the `retentionMonths` before it: everything older than
 * the start of month (current - retentionMonths) goes, whole partitions at a time.
 */
export function retentionCutoff(now: Date, retentionMonths: number): Date {
  return monthStart(monthOf(now) - retentionMonths);
}

export interface RetentionResult {
  dropped: string[];
  deletedSequenceCodes: number;
}

/**
 * Detaches (CONCURRENTLY, so searches are not blocked) and drops every partition entirely older
 * than the cutoff, then deletes the dedupe rows of those months in chunks.
 */
export async function dropExpiredPartitions(sql: Sql, options: { retentionMonths: number; now?: Date }): Promise<RetentionResult> {
  const cutoff = retentionCutoff(options.now ?? new Date(), options.retentionMonths);
  const last = monthOf(cutoff) - 1;
  const dropped: string[] = [];
  const all = await sql<{ parent: string; name: string; pending: boolean }[]>`
    select p.relname as parent, c.relname as name, i.inhdetachpending as pending
    from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    join pg_class p on p.oid = i.inhparent
    join pg_namespace n on n.oid = p.relnamespace
    where n.nspname = 'chronicles' and p.relname in ('entries', 'feed_taggings', 'access_taggings')`;
  for (const { parent, name, pending } of all) {
    const m = /_p(\d{4})_(\d{2})$/.exec(name);
    if (!m || Number(m[1]) * 12 + Number(m[2]) - 1 > last) continue;
    // Names come from the catalog and match the pattern above; quoted anyway.
    await sql.unsafe(`alter table chronicles."${parent}" detach partition chronicles."${name}" ${pending ? 'finalize' : 'concurrently'}`);
    await sql.unsafe(`drop table chronicles."${name}"`);
    dropped.push(name);
  }
  let deletedSequenceCodes = 0;
  for (;;) {
    const result = await sql`
      delete from chronicles.sequence_codes
      where ctid = any(array(select ctid from chronicles.sequence_codes where occurred_at < ${cutoff} limit 50000))`;
    deletedSequenceCodes += result.count;
    if (result.count === 0) break;
  }
  return { dropped: dropped.sort(), deletedSequenceCodes };
}
