// billingRecords latency under load: 200 concurrent GraphQL requests with varied filters (a
// product, a few products and kinds, a client and status since a date, amounts, due-date ranges,
// the last day across everyone), each asking for 7 fields, against the real `ledgerline billing
// api` (child process, rate limit off, request logs written to /dev/null) over 1,000,000 records
// in the bench database. Baseline, same run, same server: GET /ping at the same concurrency (the
// HTTP floor of this machine). The load generator (Node's fetch) shares the 2 cores with the
// server and Postgres. p50/p99 per run after a warm-up second; medians of the runs. 200 closed
// loops measure queueing (Little's law: latency = concurrency / throughput), so the same is also
// run with one loop, which measures the service time of a request.
//
// Usage: bash scripts/node bench/billing-records-latency.ts [--runs 3] [--seconds 8] [--concurrency 200]
import { parseArgs } from 'node:util';
import { benchDatabase, machineLine, median, percentile, startApi } from './billing-support.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, seconds: { type: 'string', default: '8' }, concurrency: { type: 'string', default: '200' } } });
const RUNS = Number(args.runs);
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const RECORDS = 1_000_000;

const sql = await benchDatabase(RECORDS);
const [{ n }] = (await sql`select count(*)::bigint as n from billing.records`) as unknown as [{ n: string }];
await sql.end();
const api = await startApi({ rateLimit: 0 });

const day = 86_400_000;
const now = Date.now();
const pick = (max: number) => 1 + Math.floor(max * Math.random() ** 3);
const product = () => `gid://platform/Product/${pick(10_000)}`;
const client = () => `gid://platform/Client/${pick(2_000)}`;
const iso = (ms: number) => new Date(ms).toISOString();
const FILTERS: Array<() => Record<string, unknown>> = [
  () => ({ productGids: [product()] }),
  () => ({ productGids: [product(), product(), product(), product(), product()], kinds: ['invoice'] }),
  () => ({ clientGids: [client()], statuses: ['paid'], createdAfter: iso(now - 180 * day) }),
  () => ({ clientGids: [client()], kinds: ['payment'], amountMin: 1000 }),
  () => ({ productGids: [product()], dueAfter: iso(now - 30 * day), dueBefore: iso(now + 30 * day) }),
  () => ({ createdAfter: iso(now - day), currency: 'usd' }),
  () => ({ productGids: [product()], statuses: ['open'], kinds: ['invoice'] }),
];
const query = 'query($filter: BillingRecordFilter!, $first: Int) { billingRecords(filter: $filter, first: $first) { nodes { gid productGid kind status amount currency createdAt } pageInfo { hasNextPage endCursor } } }';
const headers = { authorization: `Bearer ${api.keys[0]}`, 'content-type': 'application/json' };

const graphqlRequest = async () => {
  const filter = FILTERS[Math.floor(Math.random() * FILTERS.length)]!();
  const response = await fetch(`${api.baseUrl}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables: { filter, first: 20 } }) });
  const body = (await response.json()) as { errors?: unknown[] };
  if (!response.ok || body.errors) throw new Error(`billingRecords answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
};
const pingRequest = async () => {
  const response = await fetch(`${api.baseUrl}/ping`);
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`/ping answered ${response.status}`);
};

/** `concurrency` loops for SECONDS; latencies after the first second. */
async function load(request: () => Promise<void>, concurrency: number) {
  const started = performance.now();
  const until = started + SECONDS * 1000;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        await request();
        if (t - started > 1000) latencies.push(performance.now() - t);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), rps: latencies.length / (SECONDS - 1) };
}

try {
  console.log(machineLine());
  for (const concurrency of [CONCURRENCY, 1]) {
    const runs: Array<{ graphql: Awaited<ReturnType<typeof load>>; ping: Awaited<ReturnType<typeof load>> }> = [];
    for (let i = 0; i < RUNS; i++) runs.push({ graphql: await load(graphqlRequest, concurrency), ping: await load(pingRequest, concurrency) });
    const m = (pickOne: (r: (typeof runs)[number]) => number) => median(runs.map(pickOne));
    const g = { p50: m((r) => r.graphql.p50), p99: m((r) => r.graphql.p99), rps: m((r) => r.graphql.rps) };
    const p = { p50: m((r) => r.ping.p50), p99: m((r) => r.ping.p99), rps: m((r) => r.ping.rps) };
    console.log(`billingRecords over ${Number(n).toLocaleString('en')} records, ${concurrency} concurrent, ${FILTERS.length} filter shapes, first 20, 7 fields; medians of ${RUNS} runs of ${SECONDS} s:`);
    console.log(`  billingRecords: p50 ${g.p50.toFixed(1)} ms, p99 ${g.p99.toFixed(1)} ms (${g.rps.toFixed(0)} req/s)${concurrency === CONCURRENCY ? '  target p99 < 20 ms' : ''}`);
    console.log(`  GET /ping     : p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms (${p.rps.toFixed(0)} req/s)  (the HTTP floor)`);
    console.log(`  ratio billingRecords / ping: p50 ${(g.p50 / p.p50).toFixed(1)}x, p99 ${(g.p99 / p.p99).toFixed(1)}x`);
  }
} finally {
  await api.stop();
}
