// `ledgerline chronicles seed --rows N`: realistic entries for benchmarks, written with COPY.
//
// Shape of the data (deterministic per --seed):
//   - a few apps (platform 50 %, billing 20 %, payments 15 %, hiring 10 %, community 5 %), each
//     with its subject types and tens of action names in all, the first actions most common;
//   - subjects and performers drawn with a Zipf-like (1/rank) skew, so a few subjects have
//     hundreds of thousands of entries and most have a handful; 8 % of entries have no performer;
//   - a handful of payload shapes (changes, money, status, flag, comment), some with a
//     high-cardinality request id;
//   - occurred_at spread over --months months ending now, recent months heavier (growth), in
//     time order within a month; sequence codes are UUIDv7 of occurred_at;
//   - about 38 % of entries with feed tags (300 tags, skewed) and 10 % with access tags.
//
// Months whose partitions do not exist yet (or are empty) are loaded into plain tables first and
// then attached, so their indexes are built once, in bulk, instead of row by row; months that
// already hold rows get a plain COPY into the partitioned tables.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Sql } from '../platform/db.ts';
import { monthLabel, monthOf, monthStart, partitionName, PARTITIONED_TABLES, type Month } from './partitions.ts';

export interface SeedOptions {
  rows: number;
  months: number;
  seed: number;
  now?: Date;
  /** Only this app (tests); default the mix below. */
  app?: string;
  /** Skip months that already hold entries (finishing an interrupted seed; their rows stand). */
  resume?: boolean;
  log?: (line: string) => void;
}

export interface SeedResult {
  rows: number;
  feedTaggings: number;
  accessTaggings: number;
  months: number;
  /** Rows generated and streamed per second while copying (index builds excluded). */
  copyRowsPerSecond: number;
  seconds: number;
}

interface SubjectSpec {
  type: string;
  weight: number;
  actions: string[];
}

const APPS: Array<{ app: string; weight: number; subjects: SubjectSpec[] }> = [
  {
    app: 'platform',
    weight: 50,
    subjects: [
      { type: 'Job', weight: 30, actions: ['updated', 'commented', 'created', 'approved', 'published', 'assigned', 'paused', 'closed', 'flagged', 'unassigned'] },
      { type: 'Talent', weight: 25, actions: ['updated', 'applied', 'screened', 'commented', 'accepted', 'rejected', 'flagged'] },
      { type: 'Engagement', weight: 20, actions: ['rate_changed', 'started', 'paused', 'resumed', 'ended'] },
      { type: 'Client', weight: 15, actions: ['updated', 'commented', 'signed_up', 'verified', 'flagged'] },
      { type: 'Interview', weight: 10, actions: ['scheduled', 'completed', 'rescheduled', 'cancelled'] },
    ],
  },
  {
    app: 'billing',
    weight: 20,
    subjects: [
      { type: 'BillingRecord', weight: 70, actions: ['billing_record.created', 'billing_record.paid', 'billing_record.voided', 'billing_record.refunded'] },
      { type: 'Invoice', weight: 30, actions: ['issued', 'paid', 'overdue'] },
    ],
  },
  { app: 'payments', weight: 15, subjects: [{ type: 'Payment', weight: 100, actions: ['payment.succeeded', 'payment.insufficient_funds', 'payment.declined', 'payment.failed'] }] },
  { app: 'hiring', weight: 10, subjects: [{ type: 'Application', weight: 100, actions: ['submitted', 'reviewed', 'advanced', 'rejected', 'withdrawn'] }] },
  { app: 'community', weight: 5, subjects: [{ type: 'Post', weight: 100, actions: ['published', 'commented', 'liked', 'flagged'] }] },
];

const MONEY = new Set(['rate_changed', 'billing_record.created', 'billing_record.paid', 'billing_record.voided', 'billing_record.refunded', 'issued', 'paid', 'overdue', 'payment.succeeded', 'payment.insufficient_funds', 'payment.declined', 'payment.failed']);
const CURRENCIES = ['USD', 'USD', 'USD', 'EUR', 'EUR', 'GBP', 'CAD', 'AUD'];
const FIELDS = ['title', 'description', 'rate', 'status', 'skills', 'timezone', 'owner', 'budget'];
const STATES = ['draft', 'active', 'paused', 'closed', 'pending', 'approved'];
const FLAGS = ['payment_risk', 'fraud_suspected', 'duplicate', 'vip', 'needs_review', 'chargeback'];
const SOURCES = ['web', 'web', 'api', 'admin', 'mobile'];
export const ACCESS_TAGS = ['role:admin', 'role:finance', 'role:support', 'role:recruiter', 'role:legal', 'team:emea', 'team:amer', 'team:apac'];
export const FEED_TAG_COUNT = 300;
export const feedTagName = (rank: number) => `feed-${rank}`;

/** mulberry32: small, fast, good enough for synthetic data. */
function rng(seed: number): () => number {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Ranks 1..n with P(rank) ∝ 1/rank (log-uniform), the skew of real activity. */
export const zipf = (random: () => number, n: number) => Math.min(n, Math.floor(Math.exp(random() * Math.log(n + 1))));

function pickWeighted<T extends { weight: number }>(random: () => number, items: T[], total: number): T {
  let r = random() * total;
  for (const item of items) if ((r -= item.weight) < 0) return item;
  return items[items.length - 1]!;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** UUIDv7: 48-bit Unix ms, version 7, random rest (from the seeded generator). */
function uuidV7(ms: number, random: () => number): string {
  const b = new Array<number>(16);
  let t = ms;
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  for (let i = 6; i < 16; i++) b[i] = (random() * 256) | 0;
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.map((x) => HEX[x]!);
  return `${h.slice(0, 4).join('')}-${h.slice(4, 6).join('')}-${h.slice(6, 8).join('')}-${h.slice(8, 10).join('')}-${h.slice(10).join('')}`;
}

/** COPY text format: backslash, tab, newline and carriage return escaped. */
const copyText = (s: string) => (/[\\\t\n\r]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : s);

function payloadFor(random: () => number, action: string, subjectGid: string): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  if (MONEY.has(action)) {
    p.amount = Math.round(100 + random() * random() * 500_000);
    p.currency = CURRENCIES[(random() * CURRENCIES.length) | 0];
    if (random() < 0.6) p.invoice_gid = `gid://billing/Invoice/${zipf(random, 400_000)}`;
  } else if (action === 'flagged') {
    const flag = zipf(random, 5000);
    p.flag = { gid: `gid://plat/Flag/${flag}`, name: FLAGS[flag % FLAGS.length] };
    p.severity = ['low', 'medium', 'high'][(random() * 3) | 0];
  } else if (action === 'commented') {
    p.comment = { id: Math.floor(random() * 50_000_000), length: Math.floor(20 + random() * 800) };
    if (random() < 0.3) p.mentions = [`gid://plat/User/${zipf(random, 50_000)}`];
  } else if (['paused', 'closed', 'ended', 'resumed', 'cancelled', 'rejected', 'withdrawn', 'voided'].includes(action)) {
    p.from = STATES[(random() * STATES.length) | 0];
    p.to = STATES[(random() * STATES.length) | 0];
    p.reason = ['client_request', 'budget', 'timeline', 'other'][(random() * 4) | 0];
  } else {
    const field = FIELDS[(random() * FIELDS.length) | 0]!;
    p.changes = { [field]: { from: `v${(random() * 1000) | 0}`, to: `v${(random() * 1000) | 0}` } };
  }
  p.source = SOURCES[(random() * SOURCES.length) | 0];
  if (random() < 0.2) p.request_id = `req_${Math.floor(random() * 2 ** 52).toString(36)}`;
  if (random() < 0.05) p.subject = subjectGid;
  return p;
}

interface Streams {
  entries: Writable;
  codes: Writable;
  feed: Writable;
  access: Writable;
}

async function write(stream: Writable, text: string): Promise<void> {
  if (text && !stream.write(text)) await once(stream, 'drain');
}

async function end(stream: Writable): Promise<void> {
  const done = once(stream, 'finish');
  stream.end();
  await done;
}

/**
 * `new`: no partition or only empty ones (bulk-loaded); `filled`: rows already there (plain
 * COPY); `leftover`: tables of an interrupted bulk load that never got attached.
 */
async function monthState(sql: Sql, month: Month): Promise<'new' | 'filled' | 'leftover'> {
  const names = PARTITIONED_TABLES.map((table) => partitionName(table, month));
  const tables = await sql<{ name: string; attached: boolean }[]>`
    select c.relname as name, c.relispartition as attached
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'chronicles' and c.relname = any(${names}::text[])`;
  if (tables.some((t) => !t.attached)) return 'leftover';
  for (const { name } of tables) {
    const [rows] = await sql.unsafe<{ any: boolean }[]>(`select exists (select 1 from chronicles.${name}) as any`);
    if (rows?.any) return 'filled';
  }
  return 'new';
}

/** Attaching builds the partition's indexes in bulk; a CHECK matching the range spares the scan. */
async function attachMonth(sql: Sql, month: Month): Promise<void> {
  const from = monthStart(month).toISOString();
  const to = monthStart(month + 1).toISOString();
  await sql.begin(async (tx) => {
    await tx.unsafe(`set local maintenance_work_mem = '256MB'`);
    for (const table of PARTITIONED_TABLES) {
      const name = `chronicles.${partitionName(table, month)}`;
      await tx.unsafe(`alter table ${name} add constraint seed_range check (occurred_at >= '${from}' and occurred_at < '${to}')`);
      await tx.unsafe(`alter table chronicles.${table} attach partition ${name} for values from ('${from}') to ('${to}')`);
      await tx.unsafe(`alter table ${name} drop constraint seed_range`);
    }
  });
}

export async function seedEntries(sql: Sql, options: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const random = rng(options.seed);
  const now = options.now ?? new Date();
  const apps = options.app ? [{ ...APPS[0]!, app: options.app }] : APPS;
  const appTotal = apps.reduce((n, a) => n + a.weight, 0);
  const subjectTotals = new Map(apps.map((a) => [a.app, a.subjects.reduce((n, s) => n + s.weight, 0)]));
  // About 15 entries per subject on average; at least 100 subjects per type.
  const subjectCounts = new Map<SubjectSpec, number>();
  for (const a of apps) {
    for (const s of a.subjects) {
      const rowsOfType = (((options.rows * a.weight) / appTotal) * s.weight) / subjectTotals.get(a.app)!;
      subjectCounts.set(s, Math.max(100, Math.round(rowsOfType / 15)));
    }
  }
  const performers = Math.max(200, Math.round(options.rows / 200));

  const tagNames = [...Array.from({ length: FEED_TAG_COUNT }, (_, i) => feedTagName(i + 1)), ...ACCESS_TAGS];
  await sql`insert into chronicles.tags (name) select unnest(${tagNames}::text[]) on conflict (name) do nothing`;
  const tagIds = new Map((await sql<{ id: number; name: string }[]>`select id, name from chronicles.tags where name = any(${tagNames}::text[])`).map((r) => [r.name, r.id]));

  // Rows per month, growing linearly to twice the first month's.
  const last = monthOf(now);
  const months = Array.from({ length: options.months }, (_, i) => last - options.months + 1 + i);
  const weights = months.map((_, i) => 1 + i / Math.max(1, options.months - 1));
  const weightTotal = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w) => Math.floor((options.rows * w) / weightTotal));
  counts[counts.length - 1]! += options.rows - counts.reduce((a, b) => a + b, 0);

  let copyMs = 0;
  let generated = 0;
  let attaching = Promise.resolve();
  let feedCount = 0;
  let accessCount = 0;
  for (const [i, month] of months.entries()) {
    const count = counts[i]!;
    if (count === 0) continue;
    const from = monthStart(month);
    const to = month === last ? now : monthStart(month + 1);
    let state = await monthState(sql, month);
    if (state === 'leftover') {
      // Its dedupe rows were committed on their own: with no entries left in the month, every
      // code of the month is an orphan.
      for (const table of PARTITIONED_TABLES) await sql.unsafe(`drop table if exists chronicles.${partitionName(table, month)}`);
      await sql`delete from chronicles.sequence_codes where occurred_at >= ${from} and occurred_at < ${monthStart(month + 1)}`;
      log(`dropped the tables of an interrupted load of ${monthLabel(month)}`);
      state = 'new';
    }
    if (state === 'filled' && options.resume) {
      log(`${monthLabel(month)} already holds entries: skipped (resume)`);
      continue;
    }
    const bulk = state === 'new';
    generated += count;
    const target = (table: (typeof PARTITIONED_TABLES)[number]) => `chronicles.${bulk ? `${partitionName(table, month)}` : table}`;
    if (bulk) {
      for (const table of PARTITIONED_TABLES) {
        await sql.unsafe(`drop table if exists chronicles.${partitionName(table, month)}`);
        await sql.unsafe(`create table chronicles.${partitionName(table, month)} (like chronicles.${table} including defaults)`);
      }
    }
    const copyStarted = performance.now();
    const streams: Streams = {
      entries: await sql
        .unsafe(`copy ${target('entries')} (sequence_code, app, subject_type, subject_gid, action_name, performer_gid, payload, occurred_at, created_at) from stdin`)
        .writable(),
      codes: await sql`copy chronicles.sequence_codes (sequence_code, occurred_at) from stdin`.writable(),
      feed: await sql.unsafe(`copy ${target('feed_taggings')} (tag_id, occurred_at, sequence_code) from stdin`).writable(),
      access: await sql.unsafe(`copy ${target('access_taggings')} (tag_id, occurred_at, sequence_code) from stdin`).writable(),
    };
    const span = to.getTime() - from.getTime();
    const BLOCK = 5000;
    for (let done = 0; done < count; ) {
      let entries = '';
      let codes = '';
      let feed = '';
      let access = '';
      const n = Math.min(BLOCK, count - done);
      for (let k = 0; k < n; k++, done++) {
        const ms = from.getTime() + Math.floor(((done + random()) * span) / count);
        const at = new Date(ms).toISOString();
        const code = uuidV7(ms, random);
        const app = pickWeighted(random, apps, appTotal);
        const subject = pickWeighted(random, app.subjects, subjectTotals.get(app.app)!);
        const action = subject.actions[zipf(random, subject.actions.length) - 1]!;
        const subjectGid = `gid://${app.app}/${subject.type}/${zipf(random, subjectCounts.get(subject)!)}`;
        const performer = random() < 0.08 ? '\\N' : `gid://plat/User/${zipf(random, performers)}`;
        const payload = copyText(JSON.stringify(payloadFor(random, action, subjectGid)));
        const created = new Date(ms + Math.floor(random() * 3000)).toISOString();
        entries += `${code}\t${app.app}\t${subject.type}\t${subjectGid}\t${action}\t${performer}\t${payload}\t${at}\t${created}\n`;
        codes += `${code}\t${at}\n`;
        const r = random();
        if (r < 0.38) {
          const tag = zipf(random, FEED_TAG_COUNT);
          feed += `${tagIds.get(feedTagName(tag))}\t${at}\t${code}\n`;
          feedCount++;
          if (r < 0.05) {
            // A second, different tag.
            feed += `${tagIds.get(feedTagName((tag % FEED_TAG_COUNT) + 1))}\t${at}\t${code}\n`;
            feedCount++;
          }
        }
        if (random() < 0.1) {
          access += `${tagIds.get(ACCESS_TAGS[zipf(random, ACCESS_TAGS.length) - 1]!)}\t${at}\t${code}\n`;
          accessCount++;
        }
      }
      await Promise.all([write(streams.entries, entries), write(streams.codes, codes), write(streams.feed, feed), write(streams.access, access)]);
    }
    await Promise.all(Object.values(streams).map(end));
    const monthCopyMs = performance.now() - copyStarted;
    copyMs += monthCopyMs;
    const copied = `seeded ${monthLabel(month)}: ${count} entries in ${Math.round(monthCopyMs)} ms`;
    if (bulk) {
      // The next month is generated and copied while this one's indexes are built.
      await attaching;
      const started = performance.now();
      attaching = attachMonth(sql, month).then(() => log(`${copied}, bulk-loaded and indexed on attach in ${Math.round(performance.now() - started)} ms`));
    } else {
      log(copied);
    }
  }
  await attaching;
  for (const table of [...PARTITIONED_TABLES, 'sequence_codes', 'tags']) await sql.unsafe(`analyze chronicles.${table}`);
  const seconds = (performance.now() - started) / 1000;
  return { rows: generated, feedTaggings: feedCount, accessTaggings: accessCount, months: options.months, copyRowsPerSecond: Math.round(generated / (copyMs / 1000)), seconds };
}
