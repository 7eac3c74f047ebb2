// Entry search: a validated filter compiled to one parameterized statement that an index serves,
// newest first, with a keyset cursor on (occurred_at desc, id desc).
//
// Query shapes and what serves them:
//   subject      (subject_type, subject_gid, occurred_at desc, id desc)
//   performer    (performer_gid, occurred_at desc, id desc)
//   action       (action_name, occurred_at desc, id desc), bounded by the time range
//   tag          taggings (tag_id, occurred_at, sequence_code) walked newest first, joined back
//                to the entry by (sequence_code, occurred_at) — one partition per lookup
//   payload      GIN (payload jsonb_path_ops) for EQ / IN / CONTAINS (payload-conditions.ts),
//                after a peek at the newest entries (searchByPayload)
//   time range   (occurred_at desc, id desc) and partition pruning
// A list with several values (e.g. three subjects) is searched once per value (a LATERAL
// subquery, each reading only its newest `first` rows) and merged, instead of reading every
// match and sorting. Other criteria are filters on the same statement.
//
// An empty or unselective filter is refused rather than scanning everything: a search needs
// subjectGids, performerGids, actionNames, tags, accessTags, sequenceCodes or an EQ/IN/CONTAINS
// payload condition — or a time range with both ends at most 31 days apart.
import postgres from 'postgres';
import { z } from 'zod';
import type { Sql } from '../platform/db.ts';
import { gidSchema, nameSchema, tagNameSchema } from './message-mappings.ts';
import { compileCondition, isIndexable, payloadConditionSchema } from './payload-conditions.ts';

export const MAX_FIRST = 100;
export const MAX_UNSELECTIVE_RANGE_DAYS = 31;

const list = <T extends z.ZodType>(item: T, max: number) => z.array(item).min(1).max(max);

export const entryFilterSchema = z
  .object({
    app: nameSchema.optional(),
    subjectType: nameSchema.optional(),
    subjectGids: list(gidSchema, 100).optional(),
    actionNames: list(nameSchema, 100).optional(),
    performerGids: list(gidSchema, 100).optional(),
    tags: list(tagNameSchema, 50).optional(),
    accessTags: list(tagNameSchema, 50).optional(),
    sequenceCodes: list(z.uuid(), 100).optional(),
    occurredAfter: z.date().optional(),
    occurredBefore: z.date().optional(),
    payload: z.array(payloadConditionSchema).max(10).optional(),
  })
  .superRefine((f, ctx) => {
    if (f.occurredAfter && f.occurredBefore && f.occurredAfter >= f.occurredBefore) {
      ctx.addIssue({ code: 'custom', path: ['occurredBefore'], message: 'must be later than occurredAfter' });
    }
    const selective = f.subjectGids || f.performerGids || f.actionNames || f.tags || f.accessTags || f.sequenceCodes || f.payload?.some(isIndexable);
    if (selective) return;
    const days = f.occurredAfter && f.occurredBefore ? (f.occurredBefore.getTime() - f.occurredAfter.getTime()) / 86_400_000 : Infinity;
    if (days > MAX_UNSELECTIVE_RANGE_DAYS) {
      ctx.addIssue({
        code: 'custom',
        message:
          'the filter must narrow the search: give subjectGids, performerGids, actionNames, tags, accessTags, sequenceCodes or an EQ/IN/CONTAINS payload condition, ' +
          `or a time range (occurredAfter and occurredBefore) of at most ${MAX_UNSELECTIVE_RANGE_DAYS} days`,
      });
    }
  });
export type EntryFilter = z.output<typeof entryFilterSchema>;

export const pageSchema = z.object({
  first: z.number().int().min(1, { error: `first must be 1-${MAX_FIRST}` }).max(MAX_FIRST, { error: `first must be 1-${MAX_FIRST}` }).default(20),
  after: z.string().max(200).optional(),
});

export interface Cursor {
  occurredAt: Date;
  id: string;
}

const cursorSchema = z.tuple([z.iso.datetime(), z.string().regex(/^\d{1,19}$/)]);

export function encodeCursor(row: { occurred_at: Date; id: string }): string {
  return Buffer.from(JSON.stringify([row.occurred_at.toISOString(), String(row.id)])).toString('base64url');
}

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

export function decodeCursor(text: string): Cursor {
  try {
    const [at, id] = cursorSchema.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
    return { occurredAt: new Date(at), id };
  } catch {
    throw new InvalidCursorError('after is not a cursor returned by this API');
  }
}

export interface EntryRow {
  id: string;
  sequence_code: string;
  app: string;
  subject_type: string;
  subject_gid: string;
  action_name: string;
  performer_gid: string | null;
  payload: Record<string, unknown>;
  occurred_at: Date;
  created_at: Date;
}

export interface CompiledQuery {
  text: string;
  params: unknown[];
  /** Which list drives the search (one subquery per value), if any. */
  driver: Driver | undefined;
}

type Driver = 'subject' | 'performer' | 'tags' | 'accessTags' | 'action';

const COLUMNS = 'e.id, e.sequence_code, e.app, e.subject_type, e.subject_gid, e.action_name, e.performer_gid, e.payload, e.occurred_at, e.created_at';
const ORDER = 'order by e.occurred_at desc, e.id desc';

/**
 * The driver is the most selective list: subjects, then performers, then tags; actions only
 * when there are several (one action is served by its index as a plain filter).
 */
function pickDriver(f: EntryFilter): Driver | undefined {
  if (f.sequenceCodes) return undefined;
  if (f.subjectGids) return f.subjectGids.length > 1 ? 'subject' : undefined;
  if (f.performerGids) return f.performerGids.length > 1 ? 'performer' : undefined;
  if (f.tags) return 'tags';
  if (f.accessTags) return 'accessTags';
  if (f.actionNames && f.actionNames.length > 1) return 'action';
  return undefined;
}

const TAGGINGS = { tags: 'chronicles.feed_taggings', accessTags: 'chronicles.access_taggings' } as const;

type Param = (value: unknown) => string;

function paramList(): { params: unknown[]; $: Param } {
  const params: unknown[] = [];
  return {
    params,
    $: (value) => {
      params.push(value);
      return `$${params.length}`;
    },
  };
}

const whereText = (conditions: string[]) => (conditions.length ? `where ${conditions.join(' and ')}` : '');

/** A literal (validated 1-100), so the planner knows how few rows are wanted. */
function limitOf(first: number): string {
  if (!Number.isInteger(first) || first < 1 || first > MAX_FIRST) throw new Error(`first must be 1-${MAX_FIRST}`);
  return String(first + 1);
}

/**
 * The filter as conditions on `e` (and, for a tag-driven search, on its taggings `t`). A driving
 * list is compared with `d.v` / `d.tag_id`, the value of the LATERAL subquery it runs.
 */
function conditionsOf(filter: EntryFilter, after: Cursor | undefined, $: Param, driver: Driver | undefined): { where: string[]; taggingWhere: string[] } {
  const where: string[] = [];
  // Conditions on the taggings of a tag-driven search (their own range, for partition pruning).
  const taggingWhere: string[] = [];

  const listCondition = (column: string, values: string[] | undefined, type: string, drives: boolean) => {
    if (!values) return;
    if (drives) where.push(`${column} = d.v`);
    else if (values.length === 1) where.push(`${column} = ${$(values[0])}`);
    else where.push(`${column} = any(${$(values)}::${type}[])`);
  };

  if (filter.app) where.push(`e.app = ${$(filter.app)}`);
  if (filter.subjectType) where.push(`e.subject_type = ${$(filter.subjectType)}`);
  listCondition('e.subject_gid', filter.subjectGids, 'text', driver === 'subject');
  listCondition('e.performer_gid', filter.performerGids, 'text', driver === 'performer');
  listCondition('e.action_name', filter.actionNames, 'text', driver === 'action');
  listCondition('e.sequence_code', filter.sequenceCodes, 'uuid', false);
  for (const kind of ['tags', 'accessTags'] as const) {
    const names = filter[kind];
    if (!names || driver === kind) continue;
    // OFFSET 0 keeps this a per-entry probe of the taggings' primary key: flattened into a
    // join, the planner would read every tagging of the tags to hash them.
    where.push(
      `exists (select 1 from ${TAGGINGS[kind]} t where t.tag_id = any(array(select id from chronicles.tags where name = any(${$(names)}::text[])))` +
        ` and t.sequence_code = e.sequence_code and t.occurred_at = e.occurred_at offset 0)`,
    );
  }
  const timeBounds = (column: string, into: string[]) => {
    if (filter.occurredAfter) into.push(`${column} >= ${$(filter.occurredAfter)}`);
    if (filter.occurredBefore) into.push(`${column} < ${$(filter.occurredBefore)}`);
  };
  timeBounds('e.occurred_at', where);
  if (driver === 'tags' || driver === 'accessTags') timeBounds('t.occurred_at', taggingWhere);
  if (after) {
    const at = $(after.occurredAt);
    // The plain bound lets partitions be pruned; the row comparison is the exact keyset.
    where.push(`e.occurred_at <= ${at}`, `(e.occurred_at, e.id) < (${at}, ${$(after.id)}::bigint)`);
    if (driver === 'tags' || driver === 'accessTags') taggingWhere.push(`t.occurred_at <= ${at}`);
  }
  for (const condition of filter.payload ?? []) where.push(compileCondition(condition, 'e.payload', $));
  return { where, taggingWhere };
}

export interface ProbeWindow {
  /** Inclusive; none = no lower bound. */
  from?: Date;
  /** Exclusive. */
  to: Date;
}

/**
 * The probe of a payload-driven search over windows of time, newest first: in each window every
 * match is found through the GIN index (a materialized CTE is planned for all its rows, so no
 * LIMIT pulls it towards a walk of the time index) but only cap + 1 are read; each window's rows
 * come newest first with their count (`matched`) and window number. Windows run one after another
 * and stop as soon as `first + 1` rows are out — later CTEs are never evaluated.
 */
export function compileProbe(filter: EntryFilter, windows: ProbeWindow[], first: number, after: Cursor | undefined, cap: number): CompiledQuery {
  const { params, $ } = paramList();
  const limit = limitOf(first);
  const ctes: string[] = [];
  const parts: string[] = [];
  windows.forEach((w, i) => {
    const { where } = conditionsOf({ ...filter, occurredAfter: w.from, occurredBefore: w.to }, after, $, undefined);
    ctes.push(`w${i} as materialized (select ${COLUMNS} from chronicles.entries e ${whereText(where)})`);
    parts.push(`(select e.*, ${i} as probe_window, count(*) over () as matched from (select * from w${i} limit ${cap + 1}) e ${ORDER} limit ${limit})`);
  });
  return { driver: undefined, params, text: `with ${ctes.join(', ')} select * from (${parts.join(' union all ')}) x limit ${limit}` };
}

/**
 * The peek of a payload-driven search: the newest `rows` entries of the range (a walk of the time
 * index, the same few pages whatever the value), filtered by the whole filter. The rows it finds
 * are the newest matches; if it finds `first + 1` — a common value — the search is answered. The
 * walk is lazy: it stops as soon as `first + 1` rows match.
 */
export function compilePeek(filter: EntryFilter, first: number, after: Cursor | undefined, rows: number): CompiledQuery {
  const { params, $ } = paramList();
  const range = conditionsOf({ occurredAfter: filter.occurredAfter, occurredBefore: filter.occurredBefore }, after, $, undefined).where;
  const rest = conditionsOf({ ...filter, occurredAfter: undefined, occurredBefore: undefined }, undefined, $, undefined).where;
  const newest = `select ${COLUMNS} from chronicles.entries e ${whereText(range)} ${ORDER} limit ${Number(rows)}`;
  return { driver: undefined, params, text: `select * from (${newest}) e ${whereText(rest)} ${ORDER} limit ${limitOf(first)}` };
}

export function compileEntriesQuery(filter: EntryFilter, first: number, after?: Cursor): CompiledQuery {
  const { params, $ } = paramList();
  const driver = pickDriver(filter);
  const { where, taggingWhere } = conditionsOf(filter, after, $, driver);
  const limit = limitOf(first);

  if (driver === undefined) {
    return { driver, params, text: `select ${COLUMNS} from chronicles.entries e ${whereText(where)} ${ORDER} limit ${limit}` };
  }
  if (driver === 'tags' || driver === 'accessTags') {
    const names = $(filter[driver]);
    // The tag's taggings newest first, each joined to its entry by a primary-key lookup in the
    // one partition of its month. OFFSET 0 keeps that lookup a per-tagging nested loop: costed
    // as a probe of every partition, the join would otherwise become a hash join over all
    // entries.
    const entry = `select ${COLUMNS} from chronicles.entries e ${whereText(['e.sequence_code = t.sequence_code', 'e.occurred_at = t.occurred_at', ...where])} offset 0`;
    const inner =
      `select e.* from ${TAGGINGS[driver]} t cross join lateral (${entry}) e ` +
      // Ordered by the tagging's occurred_at (equal to the entry's) so the index order is used.
      `${whereText(['t.tag_id = d.tag_id', ...taggingWhere])} order by t.occurred_at desc, e.id desc limit ${limit}`;
    // An entry with two of the tags comes out of two subqueries: keep it once.
    return {
      driver,
      params,
      text:
        `select distinct on (e.occurred_at, e.id) e.* from (select id from chronicles.tags where name = any(${names}::text[])) as d(tag_id) ` +
        `cross join lateral (${inner}) e ${ORDER} limit ${limit}`,
    };
  }
  const values = $(driver === 'subject' ? filter.subjectGids : driver === 'performer' ? filter.performerGids : filter.actionNames);
  const inner = `select ${COLUMNS} from chronicles.entries e ${whereText(where)} ${ORDER} limit ${limit}`;
  return { driver, params, text: `select e.* from unnest(${values}::text[]) as d(v) cross join lateral (${inner}) e ${ORDER} limit ${limit}` };
}

export interface EntryPage {
  rows: EntryRow[];
  hasNextPage: boolean;
}

export interface SearchOptions {
  first: number;
  after?: Cursor;
  /** Diagnostics (bench): receives EXPLAIN ANALYZE of every statement the search runs. */
  explain?: (plan: string) => void;
}

/**
 * One round trip for most shapes; the statement timeout, JIT and bitmap scans are set on the
 * connection (createSearchSql). Shapes led by an index in newest-first order (subject, performer,
 * tag, action, time) walk it and stop after `first` rows: with bitmap scans off the planner cannot
 * trade that walk for "read every match, then sort", its choice whenever it underestimates a
 * heavy subject — 440 ms instead of 2 on 30 M rows. They are prepared statements: their generic
 * plan is the same index for any value and saves planning ~75 partitions per search.
 */
export async function searchEntries(sql: Sql, filter: EntryFilter, options: SearchOptions): Promise<EntryPage> {
  const run = runner(options.explain);
  const rows = payloadDriven(filter) ? await searchByPayload(sql, filter, options, run) : await run(sql, compileEntriesQuery(filter, options.first, options.after), true);
  return { rows: rows.slice(0, options.first), hasNextPage: rows.length > options.first };
}

type Run = (sql: Sql, query: CompiledQuery, prepare: boolean) => Promise<EntryRow[]>;

function runner(explain: SearchOptions['explain']): Run {
  return async (sql, query, prepare) => {
    if (explain) {
      const plan = await sql.unsafe(`explain (analyze, buffers) ${query.text}`, query.params as never[]);
      explain(plan.map((r) => r['QUERY PLAN']).join('\n'));
    }
    return sql.unsafe<EntryRow[]>(query.text, query.params as never[], { prepare });
  };
}

/** Only payload conditions (and filters no index leads with) narrow the search. */
const payloadDriven = (f: EntryFilter) =>
  !!f.payload?.some(isIndexable) && !f.subjectGids && !f.performerGids && !f.tags && !f.accessTags && !f.sequenceCodes;

/** A probe reads at most this many matches of a window before giving way to the walk. */
export const PAYLOAD_PROBE_CAP = 2000;
/** Newest entries the peek reads: a value in more than ~1 % of them is answered there. */
export const PAYLOAD_PEEK_ROWS = 2000;
/**
 * A peek that found at least this many matches, but not enough, reads on up to
 * PAYLOAD_PEEK_FURTHER_ROWS: a value in ≥ 0.2 % of entries is found in ~10,000 rows, cheaper than
 * its month's GIN bitmap (65 ms for ~20,000 matches on 30 M rows). It stops at `first + 1`.
 */
export const PAYLOAD_PEEK_FURTHER_MATCHES = 4;
export const PAYLOAD_PEEK_FURTHER_ROWS = 20_000;
/** Windows of months, newest first: the last month, the 3 before, the 12 before, the rest. */
const WINDOW_MONTHS = [1, 3, 12, Infinity];

function probeWindows(filter: EntryFilter, after: Cursor | undefined): ProbeWindow[] {
  const bounds = [filter.occurredBefore, after && new Date(after.occurredAt.getTime() + 1), new Date(Date.now() + 2 * 86_400_000)];
  let to = new Date(Math.min(...bounds.filter((d): d is Date => !!d).map((d) => d.getTime())));
  const lowest = filter.occurredAfter;
  const windows: ProbeWindow[] = [];
  for (const months of WINDOW_MONTHS) {
    if (lowest && to <= lowest) break;
    const from = months === Infinity ? lowest : laterOf(lowest, monthStartDate(monthOfDate(new Date(to.getTime() - 1)) - months + 1));
    windows.push({ from, to });
    if (!from) break;
    to = from;
  }
  return windows;
}

/**
 * Payload conditions: how many rows `payload @> …` matches depends entirely on the value, and the
 * planner cannot know it — guessing "rare" it reads the GIN matches and sorts them (seconds for a
 * common value), guessing "common" it walks the time index filtering (1.8 s over a whole partition
 * for a rare one, seen on 30 M rows). So a peek first reads the newest PAYLOAD_PEEK_ROWS entries
 * (a common value is answered there: its GIN bitmap alone would cost 115 ms on a 1.6 M-row month),
 * and further if it found a few matches (a middling value); then windows of months, newest first,
 * are probed through the GIN index reading at most PAYLOAD_PROBE_CAP matches each, in one
 * statement (bitmap scans on: GIN has no other scan); a window with more is then searched by
 * walking the time index, which finds its rows at once, and the windows after it are probed again
 * if need be.
 */
async function searchByPayload(sql: Sql, filter: EntryFilter, options: SearchOptions, run: Run): Promise<EntryRow[]> {
  const wanted = options.first + 1;
  // Prepared: the plan is the same walk whatever the value (a generic plan of the probe, tried,
  // was 50 times slower than planning it with its values).
  const peeked = await run(sql, compilePeek(filter, options.first, options.after, PAYLOAD_PEEK_ROWS), true);
  if (peeked.length >= wanted) return peeked;
  if (peeked.length >= PAYLOAD_PEEK_FURTHER_MATCHES) {
    const further = await run(sql, compilePeek(filter, options.first, options.after, PAYLOAD_PEEK_FURTHER_ROWS), true);
    if (further.length >= wanted) return further;
  }
  const rows: EntryRow[] = [];
  let windows = probeWindows(filter, options.after);
  while (windows.length && rows.length < wanted) {
    const probe = compileProbe(filter, windows, options.first, options.after, PAYLOAD_PROBE_CAP);
    const probed = (await sql.begin(async (tx) => {
      // Sent at once: one round trip with the probe.
      const setting = tx`select set_config('enable_bitmapscan', 'on', true)`.execute();
      const out = await run(tx as unknown as Sql, probe, false);
      await setting;
      return out;
    })) as Array<EntryRow & { probe_window: number; matched: string }>;
    const common = probed.find((r) => Number(r.matched) > PAYLOAD_PROBE_CAP);
    for (const { probe_window: window, matched: _, ...row } of probed) {
      if (common && window >= common.probe_window) break;
      rows.push(row);
    }
    if (!common) break;
    const w = windows[common.probe_window]!;
    const walk = compileEntriesQuery({ ...filter, occurredAfter: w.from, occurredBefore: w.to }, options.first, options.after);
    rows.push(...(await run(sql, walk, false)));
    windows = windows.slice(common.probe_window + 1);
  }
  return rows.slice(0, wanted);
}

const monthOfDate = (d: Date) => d.getUTCFullYear() * 12 + d.getUTCMonth();
const monthStartDate = (m: number) => new Date(Date.UTC(Math.floor(m / 12), m % 12, 1));
const laterOf = (a: Date | undefined, b: Date) => (a && a > b ? a : b);

export interface SearchSqlOptions {
  applicationName: string;
  max: number;
  statementTimeoutMs: number;
}

/**
 * The API's Postgres pool: src/platform/db.ts' createSql settings, plus session settings sent at
 * connect, so a search needs no transaction to set them: a statement timeout (a search never runs
 * away), JIT and parallel workers off (their start-up dwarfs these short index scans) and bitmap
 * scans off (see searchEntries; payload probes turn them back on in their own transaction).
 */
export function createSearchSql(url: string, options: SearchSqlOptions): Sql {
  return postgres(url, {
    max: options.max,
    connect_timeout: 5,
    idle_timeout: 30,
    onnotice: () => {},
    connection: {
      application_name: options.applicationName,
      statement_timeout: options.statementTimeoutMs,
      jit: 'off',
      enable_bitmapscan: 'off',
      // Starting parallel workers costs more than these searches take.
      max_parallel_workers_per_gather: '0',
    },
  });
}

/** Tag names per entry (feed or access): one query for a whole page. */
export async function tagsOf(sql: Sql, kind: 'feed' | 'access', entries: Array<{ sequence_code: string; occurred_at: Date }>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (entries.length === 0) return out;
  const table = kind === 'feed' ? sql`chronicles.feed_taggings` : sql`chronicles.access_taggings`;
  // One primary-key probe per entry, in the partition of its month (OFFSET 0 keeps it a per-entry
  // lookup rather than a join the planner would cost against every partition).
  const rows = await sql<{ sequence_code: string; name: string }[]>`
    select k.code as sequence_code, g.name
    from unnest(${entries.map((e) => e.sequence_code)}::uuid[], ${entries.map((e) => e.occurred_at.toISOString())}::timestamptz[]) as k(code, at)
    cross join lateral (select t.tag_id from ${table} t where t.sequence_code = k.code and t.occurred_at = k.at offset 0) t
    join chronicles.tags g on g.id = t.tag_id
    order by g.name`;
  for (const r of rows) {
    const names = out.get(r.sequence_code) ?? [];
    names.push(r.name);
    out.set(r.sequence_code, names);
  }
  return out;
}
