// Payload conditions: validation (paths are never SQL), and the SQL compilation agreeing with the
// JavaScript evaluation used by tag rules, on real Postgres.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compileEntriesQuery, createSearchSql, entryFilterSchema, PAYLOAD_PROBE_CAP, searchEntries, type EntryFilter } from '../../src/chronicles/entries-query.ts';
import { toWritePart } from '../../src/chronicles/ingest-worker.ts';
import { isIndexable, jsonContains, matchesCondition, payloadConditionSchema, type PayloadCondition } from '../../src/chronicles/payload-conditions.ts';
import type { Sql } from '../../src/platform/db.ts';
import { testDatabaseUrl, testSql } from '../support/database.ts';
import { entryValue, newWriter, rawMessage, unique } from './support/chronicles.ts';

describe('payload condition validation', () => {
  test('an injection attempt in a path is rejected with a clear error, before any SQL', () => {
    for (const segment of ["a'); drop table chronicles.entries; --", 'a b', 'a.b', '', 'x'.repeat(65), '$.a', 'a"', 'ü']) {
      const result = payloadConditionSchema.safeParse({ operation: 'EQ', path: ['flag', segment], value: 1 });
      assert.equal(result.success, false, `segment ${JSON.stringify(segment)} accepted`);
      assert.match(result.error!.issues[0]!.message, /path segment must be 1-64 letters, digits or _|at least one/);
      assert.deepEqual(result.error!.issues[0]!.path.slice(0, 1), ['path']);
    }
  });

  test('paths are bounded in depth, values in size; IN takes a bounded array; EXISTS takes no value', () => {
    const bad: unknown[] = [
      { operation: 'EQ', path: [], value: 1 },
      { operation: 'EQ', path: Array.from({ length: 9 }, () => 'a'), value: 1 },
      { operation: 'EQ', path: ['a'], value: 'x'.repeat(5000) },
      { operation: 'EQ', path: ['a'] },
      { operation: 'IN', path: ['a'], value: 1 },
      { operation: 'IN', path: ['a'], value: [] },
      { operation: 'IN', path: ['a'], value: Array.from({ length: 101 }, (_, i) => i) },
      { operation: 'EXISTS', path: ['a'], value: 1 },
      { operation: 'CONTAINS', path: ['a'], value: null },
      { operation: 'LIKE', path: ['a'], value: 'x' },
    ];
    for (const c of bad) assert.equal(payloadConditionSchema.safeParse(c).success, false, JSON.stringify(c).slice(0, 80));
    const good: unknown[] = [
      { operation: 'EQ', path: ['a', 'B_9'], value: null },
      { operation: 'EQ', path: Array.from({ length: 8 }, () => 'a'), value: { x: [1] } },
      { operation: 'IN', path: ['a'], value: [1, 'x', null] },
      { operation: 'EXISTS', path: ['a'] },
      { operation: 'NEQ', path: ['a'], value: 'x' },
      { operation: 'CONTAINS', path: ['a'], value: ['x'] },
    ];
    for (const c of good) assert.equal(payloadConditionSchema.safeParse(c).success, true, JSON.stringify(c));
  });

  test('containment follows jsonb below the top level', () => {
    assert.equal(jsonContains({ a: 1, b: [1, 2] }, { b: [2] }), true);
    assert.equal(jsonContains([1, [2, 3]], [[3]]), true);
    assert.equal(jsonContains({ a: [1, 2] }, { a: 1 }), false);
    assert.equal(jsonContains({ a: { b: 1 } }, { a: {} }), true);
    assert.equal(jsonContains('x', 'x'), true);
    assert.equal(jsonContains(1, 1.0), true);
  });
});

const PAYLOADS: Array<Record<string, unknown>> = [
  { flag: { gid: 'gid://plat/Flag/1', name: 'vip' }, amount: 10, currency: 'USD' },
  { flag: { gid: 'gid://plat/Flag/2' }, amount: 10.5, currency: 'EUR', tags: ['a', 'b'] },
  { flag: [{ gid: 'gid://plat/Flag/1' }], amount: '10' },
  { amount: null, note: "it's \"quoted\" \\ back'slash; drop table x; --" },
  { nested: { deep: { er: { value: [1, 2, { x: 'y' }] } } }, amount: 0 },
  { tags: ['b'], obj: { x: 1, y: [1, 2] } },
  { obj: { x: 1 } },
  { 0: 'zero', list: [0, 1] },
  {},
];

const CONDITIONS: PayloadCondition[] = [
  { operation: 'EQ', path: ['flag', 'gid'], value: 'gid://plat/Flag/1' },
  { operation: 'EQ', path: ['amount'], value: 10 },
  { operation: 'EQ', path: ['amount'], value: '10' },
  { operation: 'EQ', path: ['amount'], value: null },
  { operation: 'EQ', path: ['obj'], value: { x: 1 } },
  { operation: 'EQ', path: ['tags'], value: ['b'] },
  { operation: 'EQ', path: ['note'], value: "it's \"quoted\" \\ back'slash; drop table x; --" },
  { operation: 'EQ', path: ['0'], value: 'zero' },
  { operation: 'NEQ', path: ['amount'], value: 10 },
  { operation: 'NEQ', path: ['flag', 'gid'], value: 'gid://plat/Flag/1' },
  { operation: 'IN', path: ['currency'], value: ['USD', 'EUR', 'GBP'] },
  { operation: 'IN', path: ['amount'], value: [10, 0, null] },
  { operation: 'IN', path: ['obj'], value: [{ x: 1, y: [1, 2] }, { z: 1 }] },
  { operation: 'EXISTS', path: ['flag', 'gid'] },
  { operation: 'EXISTS', path: ['amount'] },
  { operation: 'EXISTS', path: ['nested', 'deep', 'er', 'value'] },
  { operation: 'EXISTS', path: ['list', '0'] },
  { operation: 'CONTAINS', path: ['tags'], value: ['b'] },
  { operation: 'CONTAINS', path: ['obj'], value: { x: 1 } },
  { operation: 'CONTAINS', path: ['nested'], value: { deep: { er: { value: [{ x: 'y' }] } } } },
  { operation: 'CONTAINS', path: ['flag'], value: { gid: 'gid://plat/Flag/1' } },
  { operation: 'CONTAINS', path: ['amount'], value: 10 },
];

describe('payload conditions on Postgres', () => {
  let sql: Sql;
  const app = unique('pc');
  const codeOf = new Map<string, number>();

  before(async () => {
    sql = testSql();
    const values = PAYLOADS.map((payload, i) => entryValue(app, { payload, subject_gid: `gid://plat/Job/${i}` }));
    values.forEach((v, i) => codeOf.set(String(v.sequence_code), i));
    await newWriter(sql).write(toWritePart(values.map((v) => rawMessage(v)), { maxMessageBytes: 65536 }));
  });
  after(() => sql.end());

  test('every operation returns exactly the entries the JavaScript evaluation (tag rules) matches', async () => {
    let matched = 0;
    for (const condition of CONDITIONS) {
      // A time range makes NEQ/EXISTS-only filters acceptable; the app keeps other tests' rows out.
      const filter = entryFilterSchema.parse({
        app,
        payload: [condition],
        occurredAfter: new Date(Date.now() - 3_600_000),
        occurredBefore: new Date(Date.now() + 3_600_000),
      });
      const { rows } = await searchEntries(sql, filter, { first: 100 });
      const fromSql = rows.map((r) => codeOf.get(r.sequence_code)!).sort();
      const fromJs = PAYLOADS.map((p, i) => (matchesCondition(p, condition) ? i : -1)).filter((i) => i >= 0);
      assert.deepEqual(fromSql, fromJs, `${condition.operation} ${condition.path.join('.')} ${JSON.stringify(condition.value)}`);
      if (fromSql.length > 0 && fromSql.length < PAYLOADS.length) matched++;
    }
    // The comparison means something only if most conditions select some entries but not all.
    assert.ok(matched >= CONDITIONS.length - 2, `only ${matched} conditions selected a proper subset`);
  });

  test('values with quotes and SQL are stored and matched literally; nothing was dropped', async () => {
    const filter = entryFilterSchema.parse({ app, payload: [{ operation: 'EQ', path: ['note'], value: "it's \"quoted\" \\ back'slash; drop table x; --" }] });
    const { rows } = await searchEntries(sql, filter, { first: 10 });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.payload.note, "it's \"quoted\" \\ back'slash; drop table x; --");
    const [{ n }] = (await sql`select count(*)::int as n from chronicles.entries where app = ${app}`) as unknown as [{ n: number }];
    assert.equal(n, PAYLOADS.length);
  });

  test('EQ, IN and CONTAINS are served by the GIN index; EXISTS and NEQ are filters', async () => {
    for (const condition of CONDITIONS) {
      const q = compileEntriesQuery({ payload: [condition] } as EntryFilter, 20);
      const plan = await sql.begin(async (tx) => {
        // With sequential and plain index scans off, only a bitmap scan of an index whose operator
        // matches the condition remains: the GIN one, if the compiled SQL is indexable.
        await tx`set local enable_seqscan = off`;
        await tx`set local enable_indexscan = off`;
        return tx.unsafe(`explain ${q.text}`, q.params as never[]);
      });
      const text = plan.map((r) => r['QUERY PLAN']).join('\n');
      const usesGin = /Bitmap Index Scan on entries_p\d{4}_\d{2}_payload_idx/.test(text);
      assert.equal(usesGin, isIndexable(condition), `${JSON.stringify(condition)}\n${text}`);
    }
  });
});

describe('payload-driven searches (probed month windows, newest first)', () => {
  let sql: Sql;
  let search: Sql;
  const app = unique('probe');
  const MONTH = 30 * 86_400_000;
  // Rare values across every window (this month, the 3 before, the 12 before, older), and a value
  // with more matches in this month than a probe reads.
  const rareAges = [0.1, 2, 8, 20, 40].map((months) => months * MONTH);

  before(async () => {
    sql = testSql();
    search = createSearchSql(testDatabaseUrl(), { applicationName: 'chronicles-test', max: 2, statementTimeoutMs: 10_000 });
    const now = Date.now();
    const values = [
      ...rareAges.map((age, i) => ({ ...entryValue(app, { payload: { kind: 'rare', i } }), at: now - age })),
      ...Array.from({ length: PAYLOAD_PROBE_CAP + 100 }, (_, i) => ({ ...entryValue(app, { payload: { kind: 'common', i } }), at: now - 1000 - i * 60_000 })),
    ];
    const part = toWritePart(values.map(({ at: _, ...v }) => rawMessage(v)), { maxMessageBytes: 65536 });
    part.entries.forEach((e, i) => (e.occurred_at = new Date(values[i]!.at)));
    await newWriter(sql).write(part);
  });
  after(async () => {
    await search.end();
    await sql.end();
  });

  const expected = async (kind: string, limit: number) =>
    (await sql<{ sequence_code: string }[]>`
      select sequence_code from chronicles.entries where app = ${app} and payload->>'kind' = ${kind}
      order by occurred_at desc, id desc limit ${limit}`).map((r) => r.sequence_code);

  test('a rare value is found in every window, in order', async () => {
    const { rows, hasNextPage } = await searchEntries(search, entryFilterSchema.parse({ app, payload: [{ operation: 'EQ', path: ['kind'], value: 'rare' }] }), { first: 20 });
    assert.deepEqual(rows.map((r) => r.sequence_code), await expected('rare', 20));
    assert.equal(rows.length, 5);
    assert.equal(hasNextPage, false);
  });

  test('the probe reads through the GIN index even though the search pool has bitmap scans off', async () => {
    const plans: string[] = [];
    await searchEntries(search, entryFilterSchema.parse({ app, payload: [{ operation: 'EQ', path: ['kind'], value: 'rare' }] }), { first: 20, explain: (p) => plans.push(p) });
    assert.equal(plans.length, 2, 'a rare value costs the peek and one probe');
    assert.doesNotMatch(plans[0]!, /Bitmap/, 'the peek walks the newest entries');
    // Bitmap scans exist only if the probe's own setting took effect.
    assert.match(plans[1]!, /Bitmap Index Scan on entries_p\d{4}_\d{2}_payload_idx/);
  });

  test('a value common among the newest entries is answered by the peek alone, newest first', async () => {
    // An hour of its own (five months ago, at a random minute), so other tests' rows stay out of it.
    const end = Date.now() - 5 * MONTH - Math.floor(Math.random() * 10_000) * 60_000;
    const values = Array.from({ length: 40 }, (_, i) => ({ ...entryValue(app, { payload: { kind: i % 4 === 3 ? 'other' : 'dense', i } }), at: end - i * 1000 }));
    const part = toWritePart(values.map(({ at: _, ...v }) => rawMessage(v)), { maxMessageBytes: 65536 });
    part.entries.forEach((e, i) => (e.occurred_at = new Date(values[i]!.at)));
    await newWriter(sql).write(part);
    const plans: string[] = [];
    const filter = entryFilterSchema.parse({
      app,
      payload: [{ operation: 'EQ', path: ['kind'], value: 'dense' }],
      occurredAfter: new Date(end - 3_600_000),
      occurredBefore: new Date(end + 1),
    });
    const { rows, hasNextPage } = await searchEntries(search, filter, { first: 20, explain: (p) => plans.push(p) });
    const dense = part.entries.filter((e) => (e.payload as { kind: string }).kind === 'dense').map((e) => e.sequence_code);
    assert.deepEqual(rows.map((r) => r.sequence_code), dense.slice(0, 20));
    assert.equal(hasNextPage, true);
    assert.equal(plans.length, 1, 'one statement: the probe never ran');
    assert.doesNotMatch(plans[0]!, /Bitmap/);
  });

  test('a middling value (a few matches among the newest entries) is walked on, without the probe', async () => {
    const end = Date.now() - 6 * MONTH - Math.floor(Math.random() * 10_000) * 60_000;
    // 1 entry in 150: 13 among the newest 2000 (PAYLOAD_PEEK_ROWS), 21 among 3200.
    const values = Array.from({ length: 3200 }, (_, i) => ({ ...entryValue(app, { payload: { kind: i % 150 === 0 ? 'middling' : 'filler' } }), at: end - i * 1000 }));
    const part = toWritePart(values.map(({ at: _, ...v }) => rawMessage(v)), { maxMessageBytes: 65536 });
    part.entries.forEach((e, i) => (e.occurred_at = new Date(values[i]!.at)));
    await newWriter(sql).write(part);
    const plans: string[] = [];
    const filter = entryFilterSchema.parse({
      app,
      payload: [{ operation: 'EQ', path: ['kind'], value: 'middling' }],
      occurredAfter: new Date(end - 2 * 3_600_000),
      occurredBefore: new Date(end + 1),
    });
    const { rows, hasNextPage } = await searchEntries(search, filter, { first: 20, explain: (p) => plans.push(p) });
    const middling = part.entries.filter((e) => (e.payload as { kind: string }).kind === 'middling').map((e) => e.sequence_code);
    assert.deepEqual(rows.map((r) => r.sequence_code), middling.slice(0, 20));
    assert.equal(hasNextPage, true);
    assert.equal(plans.length, 2, 'the peek, then a longer one; no probe');
    assert.ok(plans.every((p) => !/Bitmap/.test(p)));
  });

  test('a value with more matches than a probe reads is walked newest first', async () => {
    const { rows, hasNextPage } = await searchEntries(search, entryFilterSchema.parse({ app, payload: [{ operation: 'EQ', path: ['kind'], value: 'common' }] }), { first: 20 });
    assert.deepEqual(rows.map((r) => r.sequence_code), await expected('common', 20));
    assert.equal(hasNextPage, true);
  });

  test('pages of a payload search follow each other across windows', async () => {
    const filter = entryFilterSchema.parse({ app, payload: [{ operation: 'IN', path: ['kind'], value: ['rare'] }] });
    const seen: string[] = [];
    let after;
    for (let page = 0; page < 5; page++) {
      const { rows, hasNextPage } = await searchEntries(search, filter, { first: 2, after });
      seen.push(...rows.map((r) => r.sequence_code));
      if (!hasNextPage) break;
      const last = rows[rows.length - 1]!;
      after = { occurredAt: last.occurred_at, id: last.id };
    }
    assert.deepEqual(seen, await expected('rare', 20));
  });
});
