// The article's background job: for 1,000 products, read each product's newest billing records (3,
// three fields) and decide whether the product is inactive (no payment in the last 90 days among
// them, no open invoice). Naive: one
// request per product, as the monolith did after AR relations became HTTP calls (sequential, like
// the job's loop). Client: the products are preloaded with one batched request (withRecords →
// billingRecordsForProducts; DataLoader gives the same for per-product calls in one tick).
// Both against the real `ledgerline billing api` (child process) over the bench database. The
// server's per-key rate limit is turned off for this run (BILLING_RATE_LIMIT=0): at 10 req/s the
// naive job would take 100 s of waiting, which measures the limit, not the job.
//
// Usage: bash scripts/node bench/billing-background-job.ts [--runs 3] [--products 1000] [--first 3]
import { parseArgs } from 'node:util';
import { createBillingClient, withRecords } from '../src/billing/client/index.ts';
import { benchDatabase, machineLine, startApi } from './billing-support.ts';
import { median } from './stats.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, products: { type: 'string', default: '1000' }, first: { type: 'string', default: '3' } } });
const RUNS = Number(args.runs);
const PRODUCTS = Number(args.products);
const FIELDS = ['kind', 'status', 'createdAt'] as const;
const FIRST = Number(args.first);

const sql = await benchDatabase(1_000_000);
const api = await startApi({ rateLimit: 0 });
const products = Array.from({ length: PRODUCTS }, (_, i) => ({ gid: `gid://platform/Product/${i + 1}`, inactive: false }));
const cutoff = Date.now() - 90 * 86_400_000;
type Row = { kind: string; status: string; createdAt: Date };
const inactive = (records: Row[]) => !records.some((r) => (r.kind === 'payment' && r.createdAt.getTime() > cutoff) || (r.kind === 'invoice' && r.status === 'open'));

const query = `query($filter: BillingRecordFilter!, $first: Int) { billingRecords(filter: $filter, first: $first) { nodes { ${FIELDS.join(' ')} } } }`;

async function naive(): Promise<number> {
  let flagged = 0;
  for (const product of products) {
    const response = await fetch(`${api.baseUrl}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.keys[0]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables: { filter: { productGids: [product.gid] }, first: FIRST } }),
    });
    if (!response.ok) throw new Error(`naive request answered ${response.status}`);
    const body = (await response.json()) as { data: { billingRecords: { nodes: Array<{ kind: string; status: string; createdAt: string }> } } };
    product.inactive = inactive(body.data.billingRecords.nodes.map((n) => ({ ...n, createdAt: new Date(n.createdAt) })));
    if (product.inactive) flagged++;
  }
  return flagged;
}

const client = createBillingClient({ baseUrl: api.baseUrl, apiKey: api.keys[0]!, sql, limiter: false });
async function batched(): Promise<number> {
  let flagged = 0;
  for (const { product, records } of await withRecords(client, products, (p) => p.gid, { first: FIRST, fields: FIELDS })) {
    product.inactive = inactive(records);
    if (product.inactive) flagged++;
  }
  return flagged;
}

async function measure(job: () => Promise<number>) {
  const before = await api.requests('/graphql');
  const started = performance.now();
  const flagged = await job();
  const ms = performance.now() - started;
  return { ms, requests: (await api.requests('/graphql')) - before, flagged };
}

try {
  await measure(batched); // warm-up: connections, prepared statements, JIT
  const runs: Array<{ naive: Awaited<ReturnType<typeof measure>>; client: Awaited<ReturnType<typeof measure>> }> = [];
  for (let i = 0; i < RUNS; i++) runs.push({ naive: await measure(naive), client: await measure(batched) });
  for (const r of runs) if (r.naive.flagged !== r.client.flagged) throw new Error(`the two jobs disagree: ${r.naive.flagged} vs ${r.client.flagged} inactive`);
  const naiveMs = median(runs.map((r) => r.naive.ms));
  const clientMs = median(runs.map((r) => r.client.ms));
  const naiveRequests = median(runs.map((r) => r.naive.requests));
  const clientRequests = median(runs.map((r) => r.client.requests));
  console.log(machineLine());
  console.log(`background job over ${PRODUCTS} products (newest ${FIRST} records each, ${FIELDS.length} fields; ${runs[0]!.client.flagged} found inactive), medians of ${RUNS} runs; server rate limit off for the bench key:`);
  console.log(`  naive  (one GraphQL request per product): ${naiveRequests} requests, ${naiveMs.toFixed(0)} ms`);
  console.log(`  client (withRecords, one batched request): ${clientRequests} requests, ${clientMs.toFixed(0)} ms`);
  console.log(`  requests ${(naiveRequests / clientRequests).toFixed(0)}x fewer (target ≥ 100x), wall time ${(naiveMs / clientMs).toFixed(1)}x lower (target ≥ 20x)`);
} finally {
  await api.stop();
  await sql.end();
}
