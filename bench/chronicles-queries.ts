// p50 / p99 of every documented entry-search shape on a large seeded activity log — the article's
// log had 30 M rows, answered under 100 ms on average with some queries taking tens of seconds;
// the goal here is p99 < 50 ms for every shape. Any shape over that prints its plan.
//
// The data lives in its own database (default ledgerline_bench on the DATABASE_URL server), is
// seeded once by the seed generator (`ledgerline chronicles seed`) and reused while it has the
// requested row count. Each shape runs with varied parameters: values sampled from the rows
// (frequent subjects, performers, tags are drawn more often, as in real traffic) mixed with
// uniformly drawn ones (rare or absent values). Times are measured around searchEntries — the
// statement, its transaction and round trips — and, for one shape, around the whole GraphQL
// request with tags, access tags and the rendered text.
//
// Baselines, in the same run: the floor — a primary-key lookup (sequenceCodes) through the same
// searchEntries — and the naive query each shape replaces: the same conditions as one plain
// `where … order by occurred_at desc, id desc limit 21` (tags as `sequence_code in (taggings of
// the tags)`, payload conditions compiled the same way) on a pool with Postgres' default planner
// settings, replaying the filters the measured runs used (at most --baseline-runs of them, and
// --baseline-seconds per shape; a statement is cancelled at 10 s and counted as 10 s).
//
// Usage: bash scripts/node bench/chronicles-queries.ts [--rows 30000000] [--runs 300] [--baseline-runs 40]
//          [--baseline-seconds 60] [--only <part of a shape's name>] [--database ledgerline_bench_chronicles] [--reseed]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { buildChroniclesApi } from '../src/chronicles/api.ts';
import { createSearchSql, entryFilterSchema, searchEntries, type EntryFilter } from '../src/chronicles/entries-query.ts';
import { compileCondition } from '../src/chronicles/payload-conditions.ts';
import { feedTagName, FEED_TAG_COUNT, ACCESS_TAGS, seedEntries, zipf } from '../src/chronicles/seed.ts';
import { readServicesEnv } from '../src/platform/config.ts';
import { createSql } from '../src/platform/db.ts';
import { createLogger } from '../src/platform/log.ts';
import { createMetricsRegistry } from '../src/platform/metrics.ts';
import { migrate } from '../src/platform/migrations.ts';
import { percentile } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '30000000' },
    runs: { type: 'string', default: '300' },
    'baseline-runs': { type: 'string', default: '40' },
    'baseline-seconds': { type: 'string', default: '60' },
    only: { type: 'string' },
    database: { type: 'string', default: 'ledgerline_bench_chronicles' },
    reseed: { type: 'boolean', default: false },
  },
});
const ROWS = Number(args.rows);
const RUNS = Number(args.runs);
const BASELINE_RUNS = Number(args['baseline-runs']);
const BASELINE_SECONDS = Number(args['baseline-seconds']);
const NAIVE_TIMEOUT_MS = 10_000;
const GOAL_MS = 50;

const baseUrl = process.env.DATABASE_URL ?? readServicesEnv().DATABASE_URL;
if (!baseUrl) throw new Error('DATABASE_URL is not set (run `ledgerline services up`)');
const urlFor = (database: string) => {
  const url = new URL(baseUrl);
  url.pathname = `/${database}`;
  return url.toString();
};
if (!/^[a-z_][a-z0-9_]*$/.test(args.database!)) throw new Error('--database must be a plain identifier');

// ---------------------------------------------------------------------------------------------
// The database: created, migrated, seeded once.

const admin = postgres(urlFor('postgres'), { max: 1, onnotice: () => {} });
if (args.reseed) await admin.unsafe(`drop database if exists ${args.database} with (force)`);
if ((await admin`select 1 from pg_database where datname = ${args.database!}`).length === 0) await admin.unsafe(`create database ${args.database}`);
await admin.end();

const sql = createSql(urlFor(args.database!), { applicationName: 'chronicles-bench', max: 6 });
await migrate(sql, { parts: ['chronicles'] });
const [{ count: existing }] = (await sql`select count(*)::bigint as count from chronicles.entries`) as unknown as [{ count: string }];
if (Number(existing) !== ROWS) {
  if (Number(existing) > ROWS) throw new Error(`${args.database} holds ${existing} entries, more than ${ROWS}: run with --reseed`);
  // Fewer: a seed was interrupted; the months it finished are kept.
  console.log(`seeding ${ROWS.toLocaleString('en')} entries into ${args.database} (COPY; months bulk-loaded then indexed)…`);
  const seeded = await seedEntries(sql, { rows: ROWS, months: 24, seed: 1, resume: true, log: (line) => console.log(`  ${line}`) });
  console.log(
    `seeded ${seeded.rows.toLocaleString('en')} entries in ${seeded.seconds.toFixed(0)} s: ${seeded.copyRowsPerSecond.toLocaleString('en')} rows/s while copying, ` +
      `${Math.round(seeded.rows / seeded.seconds).toLocaleString('en')} rows/s including index builds`,
  );
  // Visibility maps for index-only scans of the taggings.
  await sql`vacuum (analyze) chronicles.feed_taggings, chronicles.access_taggings, chronicles.tags`;
}

// Searches go through the API's pool: statement timeout and JIT off set at connect.
const search = createSearchSql(urlFor(args.database!), { applicationName: 'chronicles-bench-search', max: 4, statementTimeoutMs: 30_000 });
// The naive baseline's pool: Postgres' defaults, bounded by a statement timeout.
const naive = postgres(urlFor(args.database!), { max: 1, onnotice: () => {}, connection: { application_name: 'chronicles-bench-naive', statement_timeout: NAIVE_TIMEOUT_MS } });

const [info] = await sql<{ size: string; partitions: number; version: string; shared_buffers: string }[]>`
  select pg_size_pretty(pg_database_size(current_database())) as size,
         (select count(*)::int from pg_inherits where inhparent = 'chronicles.entries'::regclass) as partitions,
         current_setting('server_version') as version, current_setting('shared_buffers') as shared_buffers`;

// ---------------------------------------------------------------------------------------------
// Parameters: sampled from the rows (frequency-weighted) and drawn uniformly (rare or absent).

let state = 42;
const random = () => {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
};
const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
const DAY = 86_400_000;
const now = Date.now();

const sample = await sql<{ app: string; subject_type: string; subject_gid: string; performer_gid: string | null; action_name: string; payload: Record<string, unknown> }[]>`
  select app, subject_type, subject_gid, performer_gid, action_name, payload from chronicles.entries tablesample system (0.05) limit 5000`;
const actionsOf = new Map<string, string[]>();
for (const r of sample) {
  const key = `${r.app}/${r.subject_type}`;
  const list = actionsOf.get(key) ?? [];
  if (!list.includes(r.action_name)) list.push(r.action_name);
  actionsOf.set(key, list);
}
const allActions = [...new Set(sample.map((r) => r.action_name))];
const codes = (await sql<{ sequence_code: string }[]>`select sequence_code from chronicles.entries tablesample system (0.01) limit 2000`).map((r) => r.sequence_code);

const subject = () => {
  if (random() < 0.6) {
    const r = pick(sample);
    return { app: r.app, subjectType: r.subject_type, gid: r.subject_gid };
  }
  const r = pick(sample);
  return { app: r.app, subjectType: r.subject_type, gid: `gid://${r.app}/${r.subject_type}/${1 + Math.floor(random() * 20_000)}` };
};
const performer = () => (random() < 0.6 ? (pick(sample).performer_gid ?? 'gid://plat/User/1') : `gid://plat/User/${1 + Math.floor(random() * (ROWS / 200))}`);
const window = (maxDays: number) => {
  const days = 1 + random() * (maxDays - 1);
  const end = now - random() * (730 - days) * DAY;
  return { occurredAfter: new Date(end - days * DAY), occurredBefore: new Date(end) };
};
const tag = () => (random() < 0.8 ? feedTagName(zipf(random, FEED_TAG_COUNT)) : feedTagName(1 + Math.floor(random() * FEED_TAG_COUNT)));

const SHAPES: Record<string, () => unknown> = {
  'by subject': () => {
    const s = subject();
    return { subjectType: s.subjectType, subjectGids: [s.gid] };
  },
  'by subject, 3 subjects': () => {
    const s = subject();
    return { subjectType: s.subjectType, subjectGids: [s.gid, subject().gid, subject().gid] };
  },
  'by performer': () => ({ performerGids: [performer()] }),
  'by action + time range': () => ({ actionNames: [pick(allActions)], ...window(90) }),
  'by tag': () => ({ tags: [tag()] }),
  'by access tag + time range': () => ({ accessTags: [pick(ACCESS_TAGS)], ...window(30) }),
  // Rare: a flag or an invoice drawn uniformly — most have a handful of entries or none.
  'by payload path EQ, rare value': () =>
    random() < 0.5
      ? { payload: [{ operation: 'EQ', path: ['flag', 'gid'], value: `gid://plat/Flag/${1 + Math.floor(random() * 5000)}` }] }
      : { payload: [{ operation: 'EQ', path: ['invoice_gid'], value: `gid://billing/Invoice/${1 + Math.floor(random() * 400_000)}` }] },
  // Common: values carried by 5-40 % of all entries.
  'by payload path EQ, common value': () =>
    pick([
      { payload: [{ operation: 'EQ', path: ['source'], value: pick(['web', 'api', 'admin', 'mobile']) }] },
      { payload: [{ operation: 'EQ', path: ['currency'], value: pick(['USD', 'EUR']) }] },
      { payload: [{ operation: 'EQ', path: ['flag', 'name'], value: pick(['vip', 'duplicate']) }] },
    ]),
  'combined: subject + actions + payload + year': () => {
    const s = subject();
    const actions = actionsOf.get(`${s.app}/${s.subjectType}`) ?? allActions;
    return {
      app: s.app,
      subjectType: s.subjectType,
      subjectGids: [s.gid],
      actionNames: [pick(actions), pick(actions)],
      payload: [{ operation: 'EXISTS', path: ['source'] }],
      ...window(365),
    };
  },
  'combined: tag + app + action + 180 days': () => {
    const r = pick(sample);
    return { app: r.app, tags: [tag()], actionNames: [r.action_name], ...window(180) };
  },
  'combined: performer + payload IN': () => ({ performerGids: [performer()], payload: [{ operation: 'IN', path: ['currency'], value: ['EUR', 'GBP'] }] }),
};

/**
 * The naive statement of a filter: every condition in one plain where clause, newest first. What
 * the search would be without drivers, probes and planner settings — the baseline.
 */
function naiveQuery(f: EntryFilter): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const $ = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where: string[] = [];
  const any = (column: string, values: string[] | undefined, type = 'text') => values && where.push(`${column} = any(${$(values)}::${type}[])`);
  if (f.app) where.push(`app = ${$(f.app)}`);
  if (f.subjectType) where.push(`subject_type = ${$(f.subjectType)}`);
  any('subject_gid', f.subjectGids);
  any('performer_gid', f.performerGids);
  any('action_name', f.actionNames);
  any('sequence_code', f.sequenceCodes, 'uuid');
  for (const [names, table] of [[f.tags, 'feed_taggings'], [f.accessTags, 'access_taggings']] as const) {
    if (names) where.push(`sequence_code in (select t.sequence_code from chronicles.${table} t join chronicles.tags g on g.id = t.tag_id where g.name = any(${$(names)}::text[]))`);
  }
  if (f.occurredAfter) where.push(`occurred_at >= ${$(f.occurredAfter)}`);
  if (f.occurredBefore) where.push(`occurred_at < ${$(f.occurredBefore)}`);
  for (const c of f.payload ?? []) where.push(compileCondition(c, 'payload', $));
  return { params, text: `select * from chronicles.entries where ${where.join(' and ')} order by occurred_at desc, id desc limit 21` };
}

// ---------------------------------------------------------------------------------------------


interface Result {
  shape: string;
  p50: number;
  p99: number;
  max: number;
  rows: number;
  /** The filters of the measured runs, in order (replayed by the naive baseline). */
  filters: EntryFilter[];
  slowest: EntryFilter;
  naive?: { p50: number; p99: number; runs: number; timeouts: number };
}

/** run returns the rows it got, or the rows and its own timing (to time only part of it). */
async function measure(shape: string, make: () => unknown, run: (filter: EntryFilter) => Promise<number | { rows: number; ms: number }>): Promise<Result> {
  for (let i = 0; i < 10; i++) await run(entryFilterSchema.parse(make()));
  const times: Array<{ ms: number; filter: EntryFilter }> = [];
  let rows = 0;
  for (let i = 0; i < RUNS; i++) {
    const filter = entryFilterSchema.parse(make());
    const started = performance.now();
    const out = await run(filter);
    const ms = typeof out === 'number' ? performance.now() - started : out.ms;
    rows += typeof out === 'number' ? out : out.rows;
    times.push({ ms, filter });
  }
  const sorted = times.map((t) => t.ms).sort((a, b) => a - b);
  const slowest = times.reduce((a, b) => (b.ms > a.ms ? b : a));
  return {
    shape,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1]!,
    rows: rows / RUNS,
    filters: times.map((t) => t.filter),
    slowest: slowest.filter,
  };
}

/** The naive statement of the same filters; a cancelled one (statement timeout) counts as the timeout. */
async function measureNaive(r: Result): Promise<NonNullable<Result['naive']>> {
  const times: number[] = [];
  let timeouts = 0;
  const deadline = performance.now() + BASELINE_SECONDS * 1000;
  for (const filter of r.filters.slice(0, BASELINE_RUNS)) {
    if (times.length > 0 && performance.now() > deadline) break;
    const q = naiveQuery(filter);
    const started = performance.now();
    try {
      await naive.unsafe(q.text, q.params as never[]);
      times.push(performance.now() - started);
    } catch (error) {
      if ((error as { code?: string }).code !== '57014') throw error;
      timeouts++;
      times.push(NAIVE_TIMEOUT_MS);
    }
  }
  const sorted = times.sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), runs: sorted.length, timeouts };
}

console.log(
  `\n${ROWS.toLocaleString('en')} entries in ${info!.partitions} monthly partitions, database ${info!.size}; PostgreSQL ${info!.version}, shared_buffers ${info!.shared_buffers}; ` +
    `${RUNS} runs per shape, first page of 20; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`,
);
const floor = await measure('floor: primary-key lookup (sequenceCodes)', () => ({ sequenceCodes: [pick(codes)] }), async (filter) => (await searchEntries(search, filter, { first: 20 })).rows.length);
const results: Result[] = [];
const wanted = (shape: string) => !args.only || shape.includes(args.only);
for (const [shape, make] of Object.entries(SHAPES)) {
  if (wanted(shape)) results.push(await measure(shape, make, async (filter) => (await searchEntries(search, filter, { first: 20 })).rows.length));
}
if (wanted('next page (cursor), by performer')) results.push(
  await measure('next page (cursor), by performer', SHAPES['by performer']!, async (filter) => {
    const first = await searchEntries(search, filter, { first: 20 });
    const last = first.rows[first.rows.length - 1];
    if (!last) return 0;
    const started = performance.now();
    const next = await searchEntries(search, filter, { first: 20, after: { occurredAt: last.occurred_at, id: last.id } });
    return { rows: next.rows.length, ms: performance.now() - started };
  }),
);

// The whole GraphQL request (HTTP inject, validation, search, tags, access tags, templates).
const api = await buildChroniclesApi({
  sql: search,
  redisUrl: process.env.REDIS_URL ?? readServicesEnv().REDIS_URL ?? 'redis://127.0.0.1:6379',
  queuePrefix: 'chronicles-bench',
  apiKeys: ['bench-key-0123456789abcdef'],
  internalApiKeys: ['bench-internal-0123456789abcdef'],
  logger: createLogger({ name: 'bench', level: 'error' }),
  registry: createMetricsRegistry('bench'),
});
const QUERY = `query($f: EntryFilter!) { entries(filter: $f, first: 20) { edges { cursor node { id subjectGid actionName payload occurredAt tags accessTags text } } pageInfo { hasNextPage } } }`;
if (wanted('GraphQL request: by subject, with tags + text')) results.push(
  await measure('GraphQL request: by subject, with tags + text', SHAPES['by subject']!, async (filter) => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: 'Bearer bench-key-0123456789abcdef' },
      payload: { query: QUERY, variables: { f: { ...filter } } },
    });
    const body = response.json() as { data?: { entries: { edges: unknown[] } }; errors?: unknown };
    if (!body.data) throw new Error(JSON.stringify(body.errors));
    return body.data.entries.edges.length;
  }),
);
await api.close();

// Last, so its full scans do not evict what the measured searches read.
if (BASELINE_RUNS > 0) for (const r of results) if (r.shape in SHAPES) r.naive = await measureNaive(r);

const ms = (x: number) => x.toFixed(1).padStart(8);
console.log(
  `${'shape'.padEnd(48)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'rows/pg'.padStart(7)} ${'goal'.padStart(6)} ${'p50/floor'.padStart(9)}  ` +
    `${'naive p50'.padStart(9)} ${'naive p99'.padStart(9)} ${'runs'.padStart(4)} ${'naive/p50'.padStart(9)} ${'naive/p99'.padStart(9)}`,
);
for (const r of [floor, ...results]) {
  const base = r.naive
    ? `${ms(r.naive.p50).padStart(9)} ${ms(r.naive.p99).padStart(9)} ${String(r.naive.runs).padStart(4)} ${`${(r.naive.p50 / r.p50).toFixed(1)}×`.padStart(9)} ${`${(r.naive.p99 / r.p99).toFixed(1)}×`.padStart(9)}` +
      (r.naive.timeouts ? `  (${r.naive.timeouts} cancelled at ${NAIVE_TIMEOUT_MS / 1000} s)` : '')
    : '';
  console.log(
    `${r.shape.padEnd(48)} ${ms(r.p50)} ${ms(r.p99)} ${ms(r.max)} ${r.rows.toFixed(1).padStart(7)} ${(r.p99 < GOAL_MS ? 'ok' : 'MISSED').padStart(6)} ` +
      `${`${(r.p50 / floor.p50).toFixed(1)}×`.padStart(9)}  ${base}`,
  );
}
console.log(
  `floor = a primary-key lookup through the same searchEntries; naive = the same filters as one plain where … order by occurred_at desc, id desc limit 21 on Postgres' default planner settings` +
    ` (first ${BASELINE_RUNS} filters of the measured runs, at most ${BASELINE_SECONDS} s per shape); ratios > 1× = the search is faster`,
);
console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

// Plans of the search shapes that missed, with every statement the search runs (the GraphQL line
// is the same search plus HTTP and loaders).
for (const r of results.filter((x) => x.p99 >= GOAL_MS && !x.shape.startsWith('GraphQL'))) {
  console.log(`\nplans of the slowest "${r.shape}" (${JSON.stringify(r.slowest)}):`);
  const started = performance.now();
  await searchEntries(search, r.slowest, { first: 20, explain: (plan) => console.log(`${plan}\n`) });
  console.log(`(the search with EXPLAIN ANALYZE of each statement took ${(performance.now() - started).toFixed(1)} ms)`);
}
await naive.end();
await search.end();
await sql.end();
