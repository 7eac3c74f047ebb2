// The GraphQL API on the real database: an empty filter answers nothing (and reads nothing), the
// selection decides the columns read, batch fields are one statement, nested fields cost O(1)
// statements per page, filters and cursors, and the depth and cost limits.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRecord } from '../../src/billing/records-writer.ts';
import { createRecords, graphql, loggedSql, recordInput, testApi, unique, type QueryLog, type TestApi } from './support/billing.ts';

let log: QueryLog;
let api: TestApi;
const product = unique('gid://test/Product/g');
const other = unique('gid://test/Product/h');

/** The column list of the statement that read billing.records for the page. */
const selectedColumns = (query: string) => {
  const m = /select (.*?) from billing\.records e/.exec(query);
  assert.ok(m, `not a records query: ${query}`);
  return m[1]!.split(', ').map((c) => c.replace(/^e\./, '')).sort();
};

before(async () => {
  log = loggedSql();
  api = await testApi(log.sql);
  await createRecords(log.sql, product, 12, (i) => ({ amount: (i + 1) * 100, kind: i % 3 === 0 ? 'payment' : 'invoice', status: i % 2 ? 'paid' : 'open', currency: i < 10 ? 'usd' : 'eur' }));
  await createRecords(log.sql, other, 3, () => ({ clientGid: 'gid://test/Client/2', dueAt: new Date('2030-01-15T00:00:00Z') }));
});

after(async () => {
  await api.close();
  await log.sql.end();
});

describe('billingRecord and billingRecordsByGids', () => {
  test('a record by gid reads only the selected columns; an unknown gid is null; a list keeps input order in one statement', async () => {
    const [a, b] = (await log.sql<{ gid: string }[]>`select gid from billing.records where product_gid = ${product} order by created_at desc limit 2`).map((r) => r.gid);
    log.reset();
    const one = await graphql(api.app, 'query($g: ID!) { billingRecord(gid: $g) { gid amount } }', { g: a });
    assert.equal(one.body.errors, undefined);
    assert.equal(one.body.data!.billingRecord.gid, a);
    assert.deepEqual(Object.keys(one.body.data!.billingRecord).sort(), ['amount', 'gid']);
    assert.deepEqual(selectedColumns(log.recordQueries()[0]!), ['amount', 'created_at', 'gid', 'id']);
    const none = await graphql(api.app, '{ billingRecord(gid: "gid://billing/Record/none") { gid } }');
    assert.equal(none.body.data!.billingRecord, null);

    log.reset();
    const list = await graphql(api.app, 'query($g: [ID!]!) { billingRecordsByGids(gids: $g) { gid productGid } }', { g: [b, 'gid://billing/Record/none', a] });
    assert.deepEqual(list.body.data!.billingRecordsByGids, [{ gid: b, productGid: product }, null, { gid: a, productGid: product }]);
    assert.equal(log.recordQueries().length, 1);
  });
});

describe('billingRecords', () => {
  test('a filter with no criteria is an empty connection, and no statement reads billing.records', async () => {
    log.reset();
    const { body } = await graphql(api.app, '{ billingRecords(filter: {}) { nodes { gid } edges { cursor } pageInfo { hasNextPage endCursor } } }');
    assert.equal(body.errors, undefined);
    assert.deepEqual(body.data!.billingRecords, { nodes: [], edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    assert.deepEqual(log.recordQueries(), []);
  });

  test('an empty productGids list is a criterion that matches nothing', async () => {
    const { body } = await graphql(api.app, '{ billingRecords(filter: { productGids: [] }) { nodes { gid } } }');
    assert.deepEqual(body.data!.billingRecords.nodes, []);
  });

  test('only the selected fields are read from Postgres (plus id and created_at for the cursor)', async () => {
    log.reset();
    const { body } = await graphql(api.app, 'query($p: [ID!]) { billingRecords(filter: { productGids: $p }, first: 3) { nodes { gid amount } } }', { p: [product] });
    assert.equal(body.data!.billingRecords.nodes.length, 3);
    assert.equal(typeof body.data!.billingRecords.nodes[0].amount, 'number');
    const [query, ...rest] = log.recordQueries();
    assert.equal(rest.length, 0);
    assert.deepEqual(selectedColumns(query!), ['amount', 'created_at', 'gid', 'id']);
  });

  test('fields selected through edges, fragments and nested fields add exactly their columns', async () => {
    log.reset();
    await graphql(
      api.app,
      `query($p: [ID!]) { billingRecords(filter: { productGids: $p }, first: 2) { edges { node { ...F status } } } }
       fragment F on BillingRecord { clientGid dueAt stripeInvoice { id } }`,
      { p: [product] },
    );
    assert.deepEqual(selectedColumns(log.recordQueries()[0]!), ['client_gid', 'created_at', 'due_at', 'id', 'status', 'stripe_id']);
  });

  test('newest first, and the cursor walks every record exactly once', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const { body } = await graphql(api.app, 'query($p: [ID!], $a: String) { billingRecords(filter: { productGids: $p }, first: 5, after: $a) { nodes { gid amount } pageInfo { hasNextPage endCursor } } }', {
        p: [product],
        a: after,
      });
      const page = body.data!.billingRecords;
      seen.push(...page.nodes.map((n: { amount: number }) => n.amount));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    assert.deepEqual(seen, [1200, 1100, 1000, 900, 800, 700, 600, 500, 400, 300, 200, 100]);
  });

  test('filters: kinds, statuses, amount range, currency, due range and several products', async () => {
    const amounts = async (filter: string) => {
      const { body } = await graphql(api.app, `query($p: [ID!]) { billingRecords(filter: { productGids: $p, ${filter} }, first: 100) { nodes { amount } } }`, { p: [product, other] });
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      return body.data!.billingRecords.nodes.map((n: { amount: number }) => n.amount);
    };
    assert.deepEqual(await amounts('kinds: [payment]'), [1000, 700, 400, 100]);
    assert.deepEqual(await amounts('kinds: [invoice], statuses: ["paid"], amountMin: 400, amountMax: 1000'), [800, 600]);
    assert.deepEqual(await amounts('currency: "EUR"'), [1200, 1100]);
    assert.deepEqual(await amounts('dueAfter: "2030-01-01T00:00:00Z", dueBefore: "2030-02-01T00:00:00Z"'), [1000, 1000, 1000]);
    assert.equal((await amounts('clientGids: ["gid://test/Client/1"]')).length, 12);
  });

  test('bad input names the field and what it expects', async () => {
    const { body } = await graphql(api.app, '{ billingRecords(filter: { statuses: ["late"] }) { nodes { gid } } }');
    assert.match(body.errors![0]!.message, /filter\.statuses\.0: expected one of open, paid/);
    const long = await graphql(api.app, '{ billingRecords(filter: { amountMin: 1.5 }) { nodes { gid } } }');
    assert.match(long.body.errors![0]!.message, /Long must be an integer/);
    const range = await graphql(api.app, '{ billingRecords(filter: { createdAfter: "2024-02-01T00:00:00Z", createdBefore: "2024-01-01T00:00:00Z" }) { nodes { gid } } }');
    assert.match(range.body.errors![0]!.message, /filter\.createdBefore: must be later than createdAfter/);
    const first = await graphql(api.app, '{ billingRecords(filter: { currency: "usd" }, first: 900) { nodes { gid } } }');
    assert.match(first.body.errors![0]!.message, /first: must be 1-500/);
    const cursor = await graphql(api.app, '{ billingRecords(filter: { currency: "usd" }, after: "nope") { nodes { gid } } }');
    assert.match(cursor.body.errors![0]!.message, /not a cursor/);
  });
});

describe('batches and nested fields', () => {
  test('billingRecordsForProducts answers every product with one statement, in input order', async () => {
    const missing = unique('gid://test/Product/none');
    log.reset();
    const { body } = await graphql(api.app, 'query($p: [ID!]!) { billingRecordsForProducts(productGids: $p, first: 2) { productGid records { amount } } }', { p: [other, missing, product] });
    assert.deepEqual(body.data!.billingRecordsForProducts, [
      { productGid: other, records: [{ amount: 1000 }, { amount: 1000 }] },
      { productGid: missing, records: [] },
      { productGid: product, records: [{ amount: 1200 }, { amount: 1100 }] },
    ]);
    assert.equal(log.recordQueries().length, 1);
  });

  test('lastBillingRecordCreatedAt answers every product with one statement', async () => {
    const missing = unique('gid://test/Product/none');
    log.reset();
    const { body } = await graphql(api.app, 'query($p: [ID!]!) { lastBillingRecordCreatedAt(productGids: $p) { productGid createdAt } }', { p: [missing, product] });
    const [none, last] = body.data!.lastBillingRecordCreatedAt;
    assert.deepEqual(none, { productGid: missing, createdAt: null });
    assert.equal(last.productGid, product);
    assert.ok(Date.parse(last.createdAt) > 0);
    assert.equal(log.recordQueries().length, 1);
  });

  test('a page with nested productRecords and stripeInvoice costs the same number of statements for 5 or 50 records', async () => {
    const products = Array.from({ length: 25 }, (_, i) => unique(`gid://test/Product/n${i}-`));
    for (const p of products) await createRecords(log.sql, p, 2, (i) => ({ stripeId: i === 0 ? unique('in_test') : null }));
    const statementsFor = async (first: number) => {
      log.reset();
      const { body } = await graphql(
        api.app,
        'query($p: [ID!], $n: Int) { billingRecords(filter: { productGids: $p }, first: $n) { nodes { gid productRecords(first: 3) { gid amount } stripeInvoice { id status } } } }',
        { p: products, n: first },
      );
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      assert.equal(body.data!.billingRecords.nodes.length, first);
      for (const node of body.data!.billingRecords.nodes) assert.equal(node.productRecords.length, 1);
      return log.recordQueries().length;
    };
    const small = await statementsFor(5);
    const large = await statementsFor(50);
    assert.equal(large, small);
    assert.ok(large <= 3, `expected the page, productRecords and stripeInvoice statements, got ${large}`);
  });
});

describe('limits', () => {
  test('a query nested deeper than the depth limit is refused', async () => {
    const { body } = await graphql(
      api.app,
      '{ billingRecords(filter: { currency: "usd" }, first: 1) { nodes { productRecords(first: 1) { productRecords(first: 1) { productRecords(first: 1) { productRecords(first: 1) { gid } } } } } } }',
    );
    assert.ok(body.errors?.length);
    assert.match(body.errors[0]!.message, /depth/i);
  });

  test('a query that may read too many rows is refused before it runs', async () => {
    log.reset();
    const { body } = await graphql(api.app, '{ billingRecords(filter: { currency: "usd" }, first: 500) { nodes { productRecords(first: 100) { gid } } } }');
    assert.match(body.errors![0]!.message, /Query too costly: it may read 50500 rows/);
    assert.deepEqual(log.recordQueries(), []);
  });

  test('mutations need an internal key', async () => {
    const { body } = await graphql(api.app, 'mutation($i: BillingRecordInput!) { createBillingRecord(input: $i) { gid } }', {
      i: { productGid: product, clientGid: 'c', kind: 'invoice', status: 'open', amount: 1, currency: 'usd' },
    });
    assert.equal(body.errors![0]!.extensions!.code, 'FORBIDDEN');
  });
});

test('createBillingRecord and updateBillingRecord with an internal key', async () => {
  const { INTERNAL_KEY } = await import('./support/billing.ts');
  const p = unique('gid://test/Product/m');
  const created = await graphql(
    api.app,
    'mutation($i: BillingRecordInput!, $k: String) { createBillingRecord(input: $i, idempotencyKey: $k) { gid amount currency dueAt } }',
    { k: unique('k-'), i: { productGid: p, clientGid: 'c', kind: 'invoice', status: 'open', amount: 2500, currency: 'EUR', dueAt: '2030-01-01T00:00:00Z' } },
    INTERNAL_KEY,
  );
  assert.equal(created.body.errors, undefined, JSON.stringify(created.body.errors));
  const record = created.body.data!.createBillingRecord;
  assert.deepEqual({ ...record, gid: undefined }, { gid: undefined, amount: 2500, currency: 'eur', dueAt: '2030-01-01T00:00:00.000Z' });
  const updated = await graphql(api.app, 'mutation($g: ID!) { updateBillingRecord(gid: $g, patch: { status: "paid", paidAt: "2030-01-02T00:00:00Z", dueAt: null }) { status paidAt dueAt } }', { g: record.gid }, INTERNAL_KEY);
  assert.deepEqual(updated.body.data!.updateBillingRecord, { status: 'paid', paidAt: '2030-01-02T00:00:00.000Z', dueAt: null });
  const bad = await graphql(api.app, 'mutation { updateBillingRecord(gid: "gid://billing/Record/none", patch: { status: "paid" }) { status } }', {}, INTERNAL_KEY);
  assert.equal(bad.body.errors![0]!.extensions!.code, 'NOT_FOUND');
  // The writer is the service layer the client's direct mode uses too.
  assert.ok((await createRecord(log.sql, recordInput(p))).record.gid.startsWith('gid://billing/Record/'));
});
