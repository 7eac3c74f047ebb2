// Monthly partitions: created ahead and on demand, dropped by retention with their dedupe rows;
// and the seed generator (bulk-loaded months, then plain COPY into existing ones). These tests
// use months before 2000 so they never touch the other tests' (recent) partitions.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startIngestWorker, toWritePart } from '../../src/chronicles/ingest-worker.ts';
import { queueConnection } from '../../src/chronicles/queues.ts';
import { dropExpiredPartitions, ensurePartitions, listPartitionMonths, monthOf, monthsAround, retentionCutoff } from '../../src/chronicles/partitions.ts';
import { seedEntries } from '../../src/chronicles/seed.ts';
import type { Sql } from '../../src/platform/db.ts';
import { testSql } from '../support/database.ts';
import { redisUrl, waitFor } from '../support/wait-for.ts';
import { deleteRedisKeys, entryValue, logger, newWriter, rawMessage, unique } from './support/chronicles.ts';

const month = (iso: string) => monthOf(new Date(iso));

describe('partitions and retention', () => {
  let sql: Sql;
  before(() => {
    sql = testSql();
  });
  after(async () => {
    // Leave nothing behind: every partition before 1991-12 (all of this suite's) goes.
    await dropExpiredPartitions(sql, { retentionMonths: 1, now: new Date('1992-01-01T00:00:00Z') });
    await sql.end();
  });

  test('partitions are created ahead of time, idempotently, for the entries and both taggings', async () => {
    const months = monthsAround(new Date('1990-03-15T00:00:00Z'), 1, 2);
    assert.deepEqual(months, [month('1990-02-01'), month('1990-03-01'), month('1990-04-01'), month('1990-05-01')]);
    await ensurePartitions(sql, months);
    assert.deepEqual(await ensurePartitions(sql, months), [], 'a second run creates nothing');
    const existing = await listPartitionMonths(sql);
    for (const m of months) assert.ok(existing.includes(m));
    const tables = await sql<{ name: string }[]>`
      select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where c.relname like '%_p1990_03' order by 1`;
    assert.deepEqual(tables.map((t) => t.name), ['access_taggings_p1990_03', 'entries_p1990_03', 'feed_taggings_p1990_03']);
  });

  test('a batch for a month without a partition creates it on demand', async () => {
    const app = unique('ondemand');
    assert.ok(!(await listPartitionMonths(sql)).includes(month('1991-07-01')));
    const writer = newWriter(sql);
    const values = [entryValue(app, { occurred_at: '1991-07-04T12:00:00Z' })];
    // The message schema refuses pre-2000 times; the writer itself does not care.
    const part = toWritePart(values.map((v) => rawMessage({ ...v, occurred_at: '2001-01-01T00:00:00Z' })), { maxMessageBytes: 65536 });
    part.entries[0]!.occurred_at = new Date('1991-07-04T12:00:00Z');
    assert.deepEqual(await writer.write(part), { inserted: 1, duplicates: 0 });
    assert.ok((await listPartitionMonths(sql)).includes(month('1991-07-01')));
  });

  test('retention drops whole partitions older than the window, with their dedupe rows', async () => {
    const app = unique('ret');
    const writer = newWriter(sql);
    const times = ['1990-01-15T00:00:00Z', '1990-02-15T00:00:00Z', '1990-02-28T23:59:59.999Z', '1990-03-01T00:00:00Z', '1990-04-20T00:00:00Z'];
    const part = toWritePart(times.map(() => rawMessage(entryValue(app))), { maxMessageBytes: 65536 });
    part.entries.forEach((e, i) => (e.occurred_at = new Date(times[i]!)));
    part.entries.forEach((e) => (e.feed_tags = ['retention-test']));
    await writer.write(part);

    // Now = 1990-05-10, keep 2 months before the current one: cutoff 1990-03-01.
    const now = new Date('1990-05-10T00:00:00Z');
    assert.equal(retentionCutoff(now, 2).toISOString(), '1990-03-01T00:00:00.000Z');
    const result = await dropExpiredPartitions(sql, { retentionMonths: 2, now });
    for (const name of ['entries_p1990_01', 'entries_p1990_02', 'feed_taggings_p1990_02', 'access_taggings_p1990_02']) assert.ok(result.dropped.includes(name), name);
    assert.ok(!result.dropped.some((n) => /1990_0[345]/.test(n)));
    assert.ok(result.deletedSequenceCodes >= 3);

    const left = await sql<{ occurred_at: Date; sequence_code: string }[]>`select occurred_at, sequence_code from chronicles.entries where app = ${app} order by occurred_at`;
    assert.deepEqual(left.map((r) => r.occurred_at.toISOString()), ['1990-03-01T00:00:00.000Z', '1990-04-20T00:00:00.000Z']);
    const codes = part.entries.map((e) => e.sequence_code);
    const [kept] = await sql<{ n: number }[]>`select count(*)::int as n from chronicles.sequence_codes where sequence_code = any(${codes}::uuid[])`;
    assert.equal(kept!.n, 2, 'only the dedupe rows of the kept months remain');
    const [taggings] = await sql<{ n: number }[]>`select count(*)::int as n from chronicles.feed_taggings where sequence_code = any(${codes}::uuid[])`;
    assert.equal(taggings!.n, 2);
    assert.ok(!(await listPartitionMonths(sql)).includes(month('1990-02-01')));
    // Idempotent.
    assert.deepEqual((await dropExpiredPartitions(sql, { retentionMonths: 2, now })).dropped, []);
  });

  test('a worker started with --retention-months runs retention from its maintenance schedule', async () => {
    await ensurePartitions(sql, [month('1990-06-01'), month('1991-02-01')]);
    // A window reaching back to 1991-01 exactly, whatever today is.
    const retentionMonths = monthOf(new Date()) - month('1991-01-01');
    const queuePrefix = unique('chrret');
    const worker = await startIngestWorker({
      sql,
      connection: queueConnection(redisUrl(), 'chronicles-test'),
      prefix: queuePrefix,
      logger,
      concurrency: 1,
      maxBatchRows: 100,
      lockDuration: 5000,
      stalledInterval: 5000,
      maxMessageBytes: 65536,
      ruleCacheTtl: 0,
      retentionMonths,
    });
    try {
      await waitFor('the 1990-06 partition to be dropped', async () => !(await listPartitionMonths(sql)).includes(month('1990-06-01')), 20_000);
      assert.ok((await listPartitionMonths(sql)).includes(month('1991-02-01')), 'months inside the window stay');
    } finally {
      await worker.close();
      await deleteRedisKeys(queuePrefix);
    }
  });
});

describe('seed generator', () => {
  let sql: Sql;
  before(() => {
    sql = testSql(6);
  });
  after(async () => {
    await dropExpiredPartitions(sql, { retentionMonths: 1, now: new Date('1996-01-01T00:00:00Z') });
    await sql.end();
  });

  test('seeds realistic, skewed entries with taggings, bulk-loading new months and copying into filled ones', async () => {
    const app = unique('seed');
    const now = new Date('1995-03-20T00:00:00Z');
    // What an interrupted bulk load leaves: a table never attached, and its month's dedupe rows.
    await sql`create table chronicles.entries_p1995_01 (like chronicles.entries including defaults)`;
    await sql`insert into chronicles.sequence_codes values (gen_random_uuid(), '1995-01-05T00:00:00Z')`;
    const lines: string[] = [];
    const result = await seedEntries(sql, { rows: 6000, months: 3, seed: 7, now, app, log: (l) => lines.push(l) });
    assert.equal(result.rows, 6000);
    assert.match(lines[0]!, /dropped the tables of an interrupted load of 1995_01/);
    assert.ok(lines.slice(1).every((l) => /bulk-loaded/.test(l)), lines.join('\n'));
    const stats = await sql<{ months: number; n: number; subjects: number; top: number; actions: number; performers: number; nulls: number }[]>`
      select count(distinct date_trunc('month', occurred_at))::int as months, count(*)::int as n,
             count(distinct subject_gid)::int as subjects,
             (select count(*) from chronicles.entries where app = ${app} group by subject_gid order by 1 desc limit 1)::int as top,
             count(distinct action_name)::int as actions, count(distinct performer_gid)::int as performers,
             count(*) filter (where performer_gid is null)::int as nulls
      from chronicles.entries where app = ${app}`;
    const s = stats[0]!;
    assert.equal(s.n, 6000);
    assert.equal(s.months, 3);
    assert.ok(s.actions >= 20, `${s.actions} action names`);
    assert.ok(s.top > (6000 / s.subjects) * 10, `skew: the top subject has ${s.top} of ${s.n} entries over ${s.subjects} subjects`);
    assert.ok(s.nulls > 300 && s.nulls < 700, `${s.nulls} entries without performer`);
    const [tags] = await sql<{ feed: number; access: number; codes: number }[]>`
      select (select count(*)::int from chronicles.feed_taggings t join chronicles.entries e using (sequence_code, occurred_at) where e.app = ${app}) as feed,
             (select count(*)::int from chronicles.access_taggings t join chronicles.entries e using (sequence_code, occurred_at) where e.app = ${app}) as access,
             (select count(*)::int from chronicles.sequence_codes c join chronicles.entries e using (sequence_code) where e.app = ${app}) as codes`;
    assert.equal(tags!.feed, result.feedTaggings);
    assert.equal(tags!.access, result.accessTaggings);
    assert.equal(tags!.codes, 6000, 'every seeded entry is in the dedupe table');
    const [orphans] = await sql<{ n: number }[]>`
      select count(*)::int as n from chronicles.sequence_codes c
      where c.occurred_at >= '1995-01-01' and c.occurred_at < '1995-04-01'
        and not exists (select 1 from chronicles.entries e where e.sequence_code = c.sequence_code)`;
    assert.equal(orphans!.n, 0, 'the interrupted load’s dedupe rows are gone');
    // Attached partitions carry the parent's indexes.
    const [idx] = await sql<{ n: number }[]>`select count(*)::int as n from pg_indexes where tablename = 'entries_p1995_02'`;
    assert.equal(idx!.n, 6);

    const again: string[] = [];
    await seedEntries(sql, { rows: 600, months: 1, seed: 8, now, app, log: (l) => again.push(l) });
    assert.ok(!again.some((l) => /bulk-loaded/.test(l)), 'a month with rows gets a plain COPY');
    const resumed = await seedEntries(sql, { rows: 600, months: 2, seed: 9, now, app, resume: true });
    assert.equal(resumed.rows, 0, 'resuming skips months that hold entries');
    const [total] = await sql<{ n: number }[]>`select count(*)::int as n from chronicles.entries where app = ${app}`;
    assert.equal(total!.n, 6600);
  });
});
