import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { migrate } from '../../src/platform/migrations.ts';
import { testSql } from '../support/database.ts';

const sql = testSql();
const part = `mtest_${randomBytes(4).toString('hex')}`;
let root: string;

async function writeMigration(name: string, text: string) {
  await mkdir(join(root, 'src', part, 'migrations'), { recursive: true });
  await writeFile(join(root, 'src', part, 'migrations', name), text);
}

async function thingCount(): Promise<number> {
  const rows = await sql.unsafe<{ count: number }[]>(`select count(*)::int as count from ${part}.things`);
  return rows[0]!.count;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'll-migrations-'));
  await writeMigration('001_create.sql', `create schema ${part}; create table ${part}.things (id int primary key);`);
  await writeMigration('002_seed.sql', `insert into ${part}.things values (1), (2);`);
});

after(async () => {
  await sql.unsafe(`drop schema if exists ${part} cascade`);
  await sql`delete from ledgerline.schema_migrations where part = ${part}`;
  await sql.end();
  await rm(root, { recursive: true, force: true });
});

test('applies numbered files in order, records versions, and is idempotent', async () => {
  const first = await migrate(sql, { parts: [part], root });
  assert.deepEqual(first.applied.map((f) => f.version), [1, 2]);
  const second = await migrate(sql, { parts: [part], root });
  assert.equal(second.applied.length, 0);
  assert.equal(second.alreadyApplied, 2);
  const rows = await sql`select version, name from ledgerline.schema_migrations where part = ${part} order by version`;
  assert.deepEqual(rows.map((r) => `${r.version}_${r.name}`), ['1_create', '2_seed']);
  const count = await thingCount();
  assert.equal(count, 2);
});

test('a failing migration leaves nothing half-written', async () => {
  await writeMigration('003_broken.sql', `insert into ${part}.things values (3); select * from no_such_table;`);
  await assert.rejects(migrate(sql, { parts: [part], root }), /no_such_table/);
  const count = await thingCount();
  assert.equal(count, 2, 'the insert before the error was rolled back');
  const [row] = await sql`select 1 from ledgerline.schema_migrations where part = ${part} and version = 3`;
  assert.equal(row, undefined);
  await rm(join(root, 'src', part, 'migrations', '003_broken.sql'));
});

test('an applied migration that changed stops the run', async () => {
  await writeMigration('002_seed.sql', `insert into ${part}.things values (1), (2), (99);`);
  await assert.rejects(migrate(sql, { parts: [part], root }), /changed after it was applied/);
  await writeMigration('002_seed.sql', `insert into ${part}.things values (1), (2);`);
});

test('concurrent runs apply each file exactly once', async () => {
  await writeMigration('004_more.sql', `insert into ${part}.things values (4);`);
  const results = await Promise.all([1, 2, 3].map(() => migrate(sql, { parts: [part], root })));
  assert.equal(results.reduce((n, r) => n + r.applied.length, 0), 1);
  const count = await thingCount();
  assert.equal(count, 3);
});

test('placeholders are filled per part and each value set is recorded separately', async () => {
  const tpart = `${part}_tpl`;
  await mkdir(join(root, 'src', tpart, 'migrations'), { recursive: true });
  await writeFile(join(root, 'src', tpart, 'migrations', '001_schema.sql'), 'create schema {{schema}}; create table {{schema}}.t (id int);');
  try {
    for (const schema of [`${part}_a`, `${part}_b`]) {
      const result = await migrate(sql, { parts: [tpart], root, variables: { [tpart]: { schema } } });
      assert.equal(result.applied.length, 1);
    }
    const again = await migrate(sql, { parts: [tpart], root, variables: { [tpart]: { schema: `${part}_a` } } });
    assert.equal(again.applied.length, 0);
    const schemas = await sql`select nspname from pg_namespace where nspname like ${`${part}\\_%`} order by 1`;
    assert.deepEqual(schemas.map((r) => r.nspname), [`${part}_a`, `${part}_b`]);
    await assert.rejects(migrate(sql, { parts: [tpart], root, variables: { [tpart]: { schema: 'x; drop table y' } } }), /must be a lower-case SQL identifier/);
    await assert.rejects(migrate(sql, { parts: [tpart], root }), /needs variable \{\{schema\}\}/);
  } finally {
    await sql.unsafe(`drop schema if exists ${part}_a cascade; drop schema if exists ${part}_b cascade`);
    await sql`delete from ledgerline.schema_migrations where part like ${`${tpart}%`}`;
  }
});
