// How Postgres runs the searches: a search driven by a product, a client or neither is one ordered
// index walk whose filter columns are checked on the index tuple (no heap visit for a rejected row,
// no sort), and the API's pool plans each statement for its values. The walk is forced here
// (sequential and bitmap scans off): a test table is too small for the planner to prefer it, and
// what matters is that the index can answer the filter on its own.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { columnsFor, compileFind, recordFilterSchema } from '../../src/billing/records-query.ts';
import { loggedSql, type QueryLog } from './support/billing.ts';

let log: QueryLog;

before(() => {
  log = loggedSql();
});

after(async () => {
  await log.sql.end();
});

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Filter?: string;
  Plans?: PlanNode[];
}

const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

/** The plan of the search for `filter` (first 20, a few columns), with only index scans allowed. */
async function planOf(filter: Record<string, unknown>): Promise<PlanNode[]> {
  const query = compileFind(recordFilterSchema.parse(filter), 20, undefined, columnsFor(['gid', 'status', 'amount']));
  return log.sql.begin(async (tx) => {
    await tx`set local enable_seqscan = off`;
    await tx`set local enable_bitmapscan = off`;
    const [row] = await tx.unsafe<Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>>(`explain (format json) ${query.text}`, query.params as never[]);
    return nodes(row!['QUERY PLAN'][0]!.Plan);
  });
}

function assertCheckedOnIndex(plan: PlanNode[], index: string, columns: string[]) {
  const scan = plan.find((n) => n['Node Type'] === 'Index Scan');
  assert.ok(scan, `no index scan in ${JSON.stringify(plan.map((n) => n['Node Type']))}`);
  assert.equal(scan['Index Name'], index);
  for (const column of columns) assert.match(scan['Index Cond'] ?? '', new RegExp(`\\b${column}\\b`), `${column} is not an index condition: ${JSON.stringify(scan)}`);
  assert.equal(scan.Filter, undefined, 'no row is fetched from the heap only to be rejected');
  assert.ok(!plan.some((n) => n['Node Type'] === 'Sort'), 'the walk is already newest first');
}

describe('search plans', () => {
  const day = 86_400_000;
  // (Due, paid and amount ranges are keys of the same indexes, but a table this small would rather
  // use their own indexes and sort; the bench database's plans are in the README.)
  test('one product with statuses, a kind and a currency: one walk of the product index, every criterion on the index', async () => {
    const filter = { productGids: ['gid://test/Product/plan'], statuses: ['open', 'pending'], kinds: ['invoice'], currency: 'usd' };
    assertCheckedOnIndex(await planOf(filter), 'records_product_filters_idx', ['status', 'kind', 'currency']);
  });

  test('several products: one walk of the product index each, criteria on the index', async () => {
    const filter = { productGids: ['gid://test/Product/plan1', 'gid://test/Product/plan2'], statuses: ['open'] };
    const plan = await planOf(filter);
    const scan = plan.find((n) => n['Node Type'] === 'Index Scan');
    assert.equal(scan?.['Index Name'], 'records_product_filters_idx');
    assert.match(scan['Index Cond'] ?? '', /\bstatus\b/);
    assert.equal(scan.Filter, undefined);
  });

  test('a client with a status since a date: the client index', async () => {
    const filter = { clientGids: ['gid://test/Client/plan'], statuses: ['paid'], createdAfter: new Date(Date.now() - 180 * day) };
    assertCheckedOnIndex(await planOf(filter), 'records_client_filters_idx', ['status', 'created_at']);
  });

  test('no product or client: the created index, with currency and kind on it', async () => {
    assertCheckedOnIndex(await planOf({ currency: 'EUR', kinds: ['refund'] }), 'records_created_filters_idx', ['currency', 'kind']);
  });

  test("the API's pool plans every execution of a prepared statement for its own values", async () => {
    const [row] = await log.sql<{ plan_cache_mode: string }[]>`show plan_cache_mode`;
    assert.equal(row!.plan_cache_mode, 'force_custom_plan');
  });
});
