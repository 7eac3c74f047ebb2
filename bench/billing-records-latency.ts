// billingRecords latency under load: 200 concurrent GraphQL requests with varied filters (a
// product, a few products and kinds, a client and status since a date, amounts, due-date ranges,
// the last day across everyone), each asking for 7 fields, against the real `ledgerline billing
// api` (child process, rate limit off, request logs written to /dev/null) over 1,000,000 records
// in the bench database. Baseline, same run, same server: GET /ping at the same concurrency (the
// HTTP floor of this machine). The load generator (Node's fetch) shares the 2 cores with the
// server and Postgres. p50/p99 per run after a warm-up second; medians of the runs. 200 closed
// loops measure queueing (Little's law: latency = concurrency / throughput), so the same is run
// at 10 and at 1 (the service time of a request), and the throughput the target implies is set
// against the /ping throughput measured here: whether the target is reachable on this machine.
//
// Usage: bash scripts/node bench/billing-records-latency.ts [--runs 3] [--seconds 8] [--concurrency 200]
import { parseArgs } from 'node:util';
import { benchDatabase, machineLine, startApi } from './billing-support.ts';
import { median, percentile } from './stats.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, seconds: { type: 'string', default: '8' }, concurrency: { type: 'string', default: '200' } } });
const RUNS = Number(args.runs);
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const RECORDS = 1_000_000;
const TARGET_P99_MS = 20;

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

interface Stats {
  p50: number;
  p99: number;
  rps: number;
}

/** `concurrency` loops for SECONDS; latencies after the first second. */
async function load(request: () => Promise<void>, concurrency: number): Promise<Stats> {
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
  const levels = [...new Set([CONCURRENCY, 10, 1])];
  const results = new Map<number, { graphql: Stats; ping: Stats }>();
  for (const concurrency of levels) {
    const runs: Array<{ graphql: Stats; ping: Stats }> = [];
    for (let i = 0; i < RUNS; i++) runs.push({ graphql: await load(graphqlRequest, concurrency), ping: await load(pingRequest, concurrency) });
    const m = (of: (r: (typeof runs)[number]) => Stats) => ({ p50: median(runs.map((r) => of(r).p50)), p99: median(runs.map((r) => of(r).p99)), rps: median(runs.map((r) => of(r).rps)) });
    results.set(concurrency, { graphql: m((r) => r.graphql), ping: m((r) => r.ping) });
  }
  const fmt = (s: Stats) => `p50 ${s.p50.toFixed(1).padStart(6)} ms, p99 ${s.p99.toFixed(1).padStart(6)} ms, ${s.rps.toFixed(0).padStart(5)} req/s`;
  console.log(`billingRecords over ${Number(n).toLocaleString('en')} records (${FILTERS.length} filter shapes, first 20, 7 fields) vs GET /ping on the same server; medians of ${RUNS} runs of ${SECONDS} s:`);
  for (const concurrency of levels) {
    const { graphql, ping } = results.get(concurrency)!;
    const what = concurrency === 1 ? 'service time' : concurrency === CONCURRENCY ? 'the target load' : 'light load';
    console.log(`  ${String(concurrency).padStart(3)} concurrent (${what}): billingRecords ${fmt(graphql)} | /ping ${fmt(ping)} | p50 ratio ${(graphql.p50 / ping.p50).toFixed(1)}x`);
  }
  // Little's law: CONCURRENCY requests always in flight at a mean latency L need CONCURRENCY / L
  // completions per second; a p99 under 20 ms means a mean below it, so at least this.
  const target = results.get(CONCURRENCY)!;
  const needed = CONCURRENCY / (TARGET_P99_MS / 1000);
  console.log(
    `  target: billingRecords p99 < ${TARGET_P99_MS} ms at ${CONCURRENCY} concurrent ⇒ at least ${CONCURRENCY} / ${TARGET_P99_MS / 1000} s = ${needed.toLocaleString('en')} req/s; ` +
      `measured: /ping ${target.ping.rps.toFixed(0)} req/s (${(needed / target.ping.rps).toFixed(1)}x short), billingRecords ${target.graphql.rps.toFixed(0)} req/s (${(needed / target.graphql.rps).toFixed(1)}x short); ` +
      `p99 ${target.graphql.p99.toFixed(1)} ms → target ${target.graphql.p99 < TARGET_P99_MS ? 'met' : 'NOT met'}${needed > target.ping.rps ? ": not reachable on this machine, whose HTTP floor alone serves fewer requests than the target needs" : ''}`,
  );
} finally {
  await api.stop();
}
