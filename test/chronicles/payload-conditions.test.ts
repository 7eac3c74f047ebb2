// Payload conditions: validation (paths are never SQL), and the SQL compilation agreeing with the
// JavaScript evaluation used by tag rules, on real Postgres.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compileEntriesQuery, entryFilterSchema, searchEntries, type EntryFilter } from '../../src/chronicles/entries-query.ts';
import { toWritePart } from '../../src/chronicles/ingest-worker.ts';
import { isIndexable, jsonContains, matchesCondition, payloadConditionSchema, type PayloadCondition } from '../../src/chronicles/payload-conditions.ts';
import type { Sql } from '../../src/platform/db.ts';
import { testSql } from '../support/database.ts';
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
