import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { instantiate, migrate, readMigrations } from '../../src/platform/migrations.ts';
import { projectRoot } from '../../src/platform/project-root.ts';
import { childRows, schemaMapping, tableMapping, toRow, type Row } from '../../src/stripe-sync/schema-mapping.ts';
import { readSpec, type OpenApiSchema } from '../../scripts/stripe-sync/openapi.ts';
import { generateSchemaFiles } from '../../scripts/stripe-sync/schema-files.ts';
import { testSql } from '../support/database.ts';

type JsonObject = Record<string, unknown>;

const sql = testSql();
const schema = `stripe_test_${randomBytes(4).toString('hex')}`;
const spec = readSpec();
const fixtures = (JSON.parse(readFileSync(join(projectRoot, '..', 'shared', 'stripe', 'fixtures3.json'), 'utf8')) as { resources: Record<string, JsonObject> }).resources;
const mapping = schemaMapping();
const table = (name: string) => tableMapping(name);
const column = (tableName: string, name: string) => table(tableName).columns.find((c) => c.name === name);
const insert = (tableName: string, rows: Row | Row[]) => sql`insert into ${sql(`${schema}.${tableName}`)} ${sql(rows)}`;

before(async () => {
  await migrate(sql, { parts: ['stripe-sync'], variables: { 'stripe-sync': { schema } } });
});

after(async () => {
  await sql.unsafe(`drop schema if exists ${schema} cascade`);
  await sql`delete from ledgerline.schema_migrations where part = ${`stripe-sync(schema=${schema})`}`;
  await sql.end();
});

test('the mapping has a table per resource: at least 80, named by `object` with . → _', () => {
  assert.ok(mapping.tables.length >= 80, `${mapping.tables.length} tables`);
  for (const t of mapping.tables.filter((t) => t.kind === 'resource')) assert.equal(t.table, t.object.replace(/\./g, '_'));
  for (const name of ['customer', 'invoice', 'invoiceitem', 'checkout_session', 'billing_portal_configuration', 'issuing_card', 'test_helpers_test_clock', 'event', 'person', 'capability', 'tax_id', 'fee_refund', 'transfer_reversal', 'usage_record_summary']) {
    assert.equal(table(name).kind, 'resource', name);
  }
  assert.ok(!mapping.tables.some((t) => t.table.startsWith('deleted_') || t.schema.startsWith('deleted_')), 'deletions are not tables');
  assert.ok(mapping.skipped.some((s) => s.schema === 'deleted_customer'));
});

test('columns are typed from the spec', () => {
  assert.deepEqual(column('customer', 'created'), { name: 'created', type: 'timestamptz', source: 'field', unixTime: true });
  assert.deepEqual(column('invoice', 'customer'), { name: 'customer', type: 'text', source: 'field', expandable: true });
  assert.ok(table('invoice').indexes.some((i) => i.columns.join() === 'customer'));
  assert.ok(table('invoice').indexes.some((i) => i.columns.join() === 'created'));
  assert.equal(column('charge', 'amount')?.type, 'bigint');
  assert.equal(column('customer', 'metadata')?.type, 'jsonb');
  assert.equal(column('coupon', 'percent_off')?.type, 'numeric');
  assert.equal(column('price', 'unit_amount_decimal')?.type, 'numeric');
  assert.equal(column('customer', 'livemode')?.type, 'boolean');
  assert.deepEqual(column('invoice', 'discounts'), { name: 'discounts', type: 'jsonb', source: 'field', expandable: true });
  assert.deepEqual(table('customer').key, ['_account_id', 'id']);
  assert.deepEqual(table('customer').columns.filter((c) => c.source === 'engine').map((c) => c.name), ['_account_id', '_raw', '_synced_at', '_event_created', '_deleted_at']);
});

test('embedded sub-lists become child tables with the parent id', () => {
  const lines = table('invoice_line_item');
  assert.equal(lines.kind, 'child');
  assert.equal(lines.object, 'line_item');
  assert.deepEqual(lines.parents, [{ parentTable: 'invoice', parentColumn: 'invoice', parentProperty: 'lines', nestedListPath: '/v1/invoices/{invoice}/lines', parentParam: { name: 'invoice', in: 'path' } }]);
  assert.deepEqual(column('invoice_line_item', 'invoice'), { name: 'invoice', type: 'text', source: 'parent', notNull: true });
  assert.ok(lines.indexes.some((i) => i.columns.join() === 'invoice'));
  assert.equal(column('invoice', 'lines'), undefined, 'the lines live in the child table (and _raw)');
  for (const [child, parent] of [['checkout_session_line_item', 'checkout_session'], ['quote_line_item', 'quote'], ['payment_link_line_item', 'payment_link'], ['credit_note_line_item', 'credit_note']]) {
    assert.equal(table(child!).parents[0]?.parentTable, parent);
  }
  // Items that name their parent themselves stay in their own table, reached through the parent's list.
  const link = (t: string, parent: string) => table(t).parents.find((p) => p.parentTable === parent);
  assert.equal(link('subscription_item', 'subscription')?.parentColumn, 'subscription');
  assert.deepEqual(link('subscription_item', 'subscription')?.parentParam, { name: 'subscription', in: 'query' });
  assert.equal(link('refund', 'charge')?.nestedListPath, '/v1/charges/{charge}/refunds');
  assert.equal(link('transfer_reversal', 'transfer')?.parentProperty, 'reversals');
  assert.equal(link('tax_id', 'customer')?.parentProperty, 'tax_ids');
  assert.deepEqual(['bank_account', 'card', 'source'].map((t) => table(t).parents.find((p) => p.parentProperty === 'sources')?.parentColumn), ['customer', 'customer', 'customer']);
});

test('the upcoming invoice is a virtual table keyed by account, customer and subscription', () => {
  const upcoming = table('upcoming_invoice');
  assert.equal(upcoming.kind, 'virtual');
  assert.deepEqual(upcoming.key, ['_account_id', 'customer', 'subscription']);
  assert.equal(column('upcoming_invoice', 'id'), undefined);
  const invoiceFields = table('invoice').columns.filter((c) => c.source === 'field' && c.name !== 'id').map((c) => c.name);
  assert.deepEqual(upcoming.columns.filter((c) => c.source === 'field' && c.name !== 'lines').map((c) => c.name), invoiceFields);
});

test('every list endpoint of the spec backfills a table, but for the upcoming, preview and tax calculation lines', () => {
  const served = new Set(mapping.tables.flatMap((t) => [...t.listPaths.map((l) => l.path), ...t.parents.map((p) => p.nestedListPath)]));
  const unserved = new Set(['/v1/invoices/upcoming/lines', '/v1/credit_notes/preview/lines', '/v1/tax/calculations/{calculation}/line_items', '/v1/customers/{customer}/bank_accounts', '/v1/customers/{customer}/cards']);
  const counts = { top: 0, nested: 0 };
  for (const [path, methods] of Object.entries(spec.paths)) {
    let response: OpenApiSchema | undefined = methods.get?.responses['200']?.content?.['application/json']?.schema;
    if (response?.$ref) response = spec.components.schemas[response.$ref.split('/').pop()!];
    if (!response?.properties?.data || !response.properties.has_more) continue;
    counts[path.includes('{') ? 'nested' : 'top']++;
    assert.equal(served.has(path), !unserved.has(path), path);
  }
  assert.deepEqual(counts, { top: 82, nested: 27 });
});

test('the committed mapping and migrations are what the generator makes (deterministically)', () => {
  const first = generateSchemaFiles(spec);
  assert.deepEqual(generateSchemaFiles(readSpec()), first);
  for (const file of first) {
    assert.equal(readFileSync(join(projectRoot, file.path), 'utf8'), file.content, `${file.path} is stale or edited by hand: run bash scripts/node scripts/stripe-sync/generate-schema.ts`);
  }
});

test('the migration made every table, column type and index, and is idempotent', async () => {
  const columns = await sql<{ table_name: string; column_name: string; data_type: string }[]>`
    select table_name, column_name, data_type from information_schema.columns where table_schema = ${schema}`;
  const pgType: Record<string, string> = { text: 'text', bigint: 'bigint', numeric: 'numeric', boolean: 'boolean', timestamptz: 'timestamp with time zone', jsonb: 'jsonb' };
  const expected = mapping.tables.flatMap((t) => t.columns.map((c) => `${t.table}.${c.name} ${pgType[c.type]}`)).sort();
  // The engine's own tables (migrations/003: sync log, checkpoints, cursor, tombstones) start with _.
  const engineTables = ['_backfill_jobs', '_backfill_segments', '_sync_log', '_sync_state', '_tombstones'];
  assert.deepEqual([...new Set(columns.filter((c) => c.table_name.startsWith('_')).map((c) => c.table_name))].sort(), engineTables);
  assert.deepEqual(columns.filter((c) => !c.table_name.startsWith('_')).map((c) => `${c.table_name}.${c.column_name} ${c.data_type}`).sort(), expected);
  const indexes = await sql<{ indexname: string }[]>`select indexname from pg_indexes where schemaname = ${schema}`;
  const names = new Set(indexes.map((i) => i.indexname));
  for (const index of mapping.tables.flatMap((t) => t.indexes)) assert.ok(names.has(index.name), index.name);

  const again = await migrate(sql, { parts: ['stripe-sync'], variables: { 'stripe-sync': { schema } } });
  assert.deepEqual([again.applied.length, again.alreadyApplied], [0, (await readMigrations(['stripe-sync'])).length]);
  // The statements themselves can run twice (a partly applied schema by hand, or another tool).
  for (const file of await readMigrations(['stripe-sync'])) await sql.unsafe(instantiate(file, { schema }).sql);
});

test('every fixture object converts and inserts into its table, keeping _raw whole', async (t) => {
  const filled = new Set<string>();
  for (const [name, object] of Object.entries(fixtures)) {
    for (const m of mapping.tables.filter((m) => m.schema === name && m.kind !== 'virtual')) {
      const row = toRow(m.table, object, { accountId: 'acct_fixtures', parentId: m.kind === 'child' ? 'parent_fixture' : undefined });
      await insert(m.table, row);
      const [stored] = await sql`select _raw from ${sql(`${schema}.${m.table}`)} where _account_id = 'acct_fixtures' and id = ${object.id as string}`;
      assert.deepEqual(stored?._raw, object, m.table);
      filled.add(m.table);
    }
  }
  t.diagnostic(`a fixture row in each of ${filled.size} tables`);
  assert.deepEqual([...filled].sort(), mapping.tables.filter((m) => m.kind !== 'virtual').map((m) => m.table), 'the fixtures cover every table');
  const [customer] = await sql`select created, metadata, _event_created, _synced_at from ${sql(`${schema}.customer`)} where _account_id = 'acct_fixtures'`;
  assert.deepEqual(customer?.created, new Date(fixtures.customer!.created as number * 1000));
  assert.deepEqual(customer?.metadata, {});
  assert.equal(customer?._event_created, null);
  assert.ok(customer?._synced_at instanceof Date);
});

test('embedded sub-lists of the fixtures insert as child rows with their parent id', async (t) => {
  const options = { accountId: 'acct_children' };
  const parents = mapping.tables.filter((t) => t.kind === 'resource' && fixtures[t.schema]);
  let rows = 0;
  for (const parent of parents) {
    for (const child of childRows(parent.table, fixtures[parent.schema]!, options)) {
      if (child.rows.length > 0) await insert(child.table, child.rows); // one multi-row insert: rows of a table share a shape
      rows += child.rows.length;
    }
  }
  t.diagnostic(`${rows} child rows`);
  assert.ok(rows >= 4, `${rows} child rows`);
  const [line] = await sql`select invoice, amount, price->>'id' as price from ${sql(`${schema}.invoice_line_item`)} where _account_id = 'acct_children'`;
  assert.deepEqual({ ...line }, { invoice: fixtures.invoice!.id, amount: '1000', price: 'price_1NnlpWGPxmnHQRkJl3IsxEZx' });
});

test('an upcoming invoice is one row per account, customer and subscription', async () => {
  const { id: _id, ...upcoming } = fixtures.invoice!;
  const row = toRow('upcoming_invoice', upcoming, { accountId: 'acct_fixtures' });
  await insert('upcoming_invoice', row);
  await assert.rejects(insert('upcoming_invoice', row), /duplicate key/, 'a null subscription is one key, not many');
  await insert('upcoming_invoice', { ...row, subscription: 'sub_1' });
  await insert('upcoming_invoice', { ...row, _account_id: 'acct_other' });
});

test('toRow: ids for expandable references, Dates for unix times, unknown fields only in _raw', () => {
  const charge = { ...fixtures.charge!, customer: { id: 'cus_expanded', object: 'customer' }, created: 1700000000, brand_new_field: 1 };
  const row = toRow('charge', charge, { accountId: 'acct_1', eventCreated: 1700000123 });
  assert.equal(row.customer, 'cus_expanded');
  assert.equal(toRow('charge', { ...charge, customer: 'cus_plain' }, { accountId: 'acct_1' }).customer, 'cus_plain');
  assert.deepEqual(row.created, new Date(1700000000_000));
  assert.deepEqual(row._event_created, new Date(1700000123_000));
  assert.equal(row._raw, charge);
  assert.equal(row._account_id, 'acct_1');
  assert.ok(!('brand_new_field' in row));
  assert.ok(!('_synced_at' in row) && !('_deleted_at' in row), 'left to the database default and the sync');
  const sparse = toRow('charge', { id: 'ch_1', object: 'charge' }, { accountId: 'acct_1' });
  assert.deepEqual(Object.keys(sparse), Object.keys(row), 'every row of a table has the same columns');
  assert.equal(sparse.amount, null);
  const invoice = toRow('invoice', { id: 'in_1', discounts: ['di_1', { id: 'di_2', object: 'discount' }] }, { accountId: 'acct_1' });
  assert.deepEqual(invoice.discounts, ['di_1', 'di_2']);
  assert.throws(() => toRow('invoice_line_item', fixtures.line_item!, { accountId: 'acct_1' }), /parent's id/);
  assert.throws(() => toRow('no_such_table', {}, { accountId: 'acct_1' }), /no table no_such_table/);
});

test('childRows: routes items by object type, reports has_more, and says when a list emptied', () => {
  const customer: JsonObject = {
    ...fixtures.customer!,
    sources: { object: 'list', has_more: true, url: '/v1/customers/cus_1/sources', data: [fixtures.card, fixtures.source, { id: 'x_1', object: 'newfangled' }] },
    tax_ids: { object: 'list', has_more: false, url: '/v1/customers/cus_1/tax_ids', data: [] },
  };
  const lists = childRows('customer', customer, { accountId: 'acct_1', eventCreated: 1700000000 });
  const summary = lists.map((l) => `${l.property}→${l.table}:${l.rows.length}${l.hasMore ? '+' : ''}`).sort();
  assert.deepEqual(summary, ['sources→bank_account:0+', 'sources→card:1+', 'sources→source:1+', 'tax_ids→tax_id:0']);
  const cards = lists.find((l) => l.table === 'card')!;
  assert.equal(cards.rows[0]!.customer, customer.id);
  assert.deepEqual(cards.rows[0]!._event_created, new Date(1700000000_000));
  assert.equal(cards.nestedListPath, '/v1/customers/{customer}/sources');
  assert.deepEqual(childRows('customer', fixtures.customer!, { accountId: 'acct_1' }), [], 'unexpanded lists say nothing');
});

test('stripe_reader exists, cannot log in, and can select but not write', async () => {
  const [role] = await sql`select rolcanlogin from pg_roles where rolname = 'stripe_reader'`;
  assert.equal(role?.rolcanlogin, false);
  await sql.begin(async (tx) => {
    await tx`set local role stripe_reader`;
    const rows = await tx`select id from ${tx(`${schema}.customer`)} limit 1`;
    assert.equal(rows.length, 1);
    await tx`select count(*) from ${tx(`${schema}.upcoming_invoice`)}`;
  });
  await assert.rejects(sql.begin(async (tx) => {
    await tx`set local role stripe_reader`;
    await tx`insert into ${tx(`${schema}.customer`)} (id, _account_id, _raw) values ('cus_x', 'acct_x', '{}')`;
  }), /permission denied/);
  await sql.unsafe(`create table ${schema}.later_table (id int)`);
  await sql.begin(async (tx) => {
    await tx`set local role stripe_reader`;
    await tx`select * from ${tx(`${schema}.later_table`)}`;
  });
});
