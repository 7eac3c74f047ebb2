// /wait right after a write: how long GET /wait takes to answer (every change made before the
// call in Postgres), against the emulator (latency 250 ms ± 50, rate limit 100/s; budget 50/s;
// 500 ms polling). Baseline: one emulator round trip (GET /v1/events?limit=1, measured here) +
// 100 ms. Target: /wait p50 ≤ that.
// Usage: bash scripts/node bench/stripe-sync-wait.ts [iterations=100]
import { percentile } from './stats.ts';
import { loadAverage, startBench, stripe } from './stripe-sync-support.ts';

const [iterations = 100] = process.argv.slice(2).map(Number);
const bench = await startBench(100);
try {
  const round: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    await stripe(bench.emulator, 'GET', '/v1/events', { limit: '1' });
    round.push(performance.now() - t);
  }
  const customer = String((await stripe(bench.emulator, 'POST', '/v1/customers', { name: 'wait' })).id);
  const waits: number[] = [];
  let stale = 0;
  console.log(`${iterations} × (write, then GET /wait) (${await loadAverage()})`);
  for (let i = 0; i < iterations; i++) {
    const name = `wait ${i}`;
    await stripe(bench.emulator, 'POST', `/v1/customers/${customer}`, { name });
    const t = performance.now();
    const response = await fetch(`${bench.sync.url}/wait`);
    waits.push(performance.now() - t);
    if (response.status !== 200) throw new Error(`/wait answered ${response.status}`);
    const [row] = await bench.sql.unsafe(`select name from "${bench.schema}".customer where id = $1`, [customer]);
    if (row?.name !== name) stale++;
    // Writes land at any point of the poll cycle.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 500));
  }
  const rt = percentile(round, 50);
  const p50 = percentile(waits, 50);
  console.log(`one emulator round trip: median ${rt.toFixed(0)} ms; /wait after a write: p50 ${p50.toFixed(0)} ms, p90 ${percentile(waits, 90).toFixed(0)} ms, max ${Math.max(...waits).toFixed(0)} ms`);
  console.log(`  /wait p50 ÷ (round trip + 100 ms = ${(rt + 100).toFixed(0)} ms) = ${(p50 / (rt + 100)).toFixed(2)} (target ≤ 1); stale reads after /wait: ${stale} of ${iterations}`);
} finally {
  await bench.close();
}
