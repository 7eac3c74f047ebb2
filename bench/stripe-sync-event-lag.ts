// Event lag: Stripe write → row visible in Postgres, at 500 ms polling under 50 writes/s, against
// the emulator (latency 250 ms ± 50, rate limit 100/s; engine budget 50/s). Each write renames a
// different customer; a watcher reads the rows every 5 ms. Baseline: the poll interval itself.
// Targets: p50 ≤ 600 ms, p99 ≤ 1000 ms.
// Usage: bash scripts/node bench/stripe-sync-event-lag.ts [seconds=30] [writesPerSecond=50]
import { percentile } from './stats.ts';
import { loadAverage, startBench, stripe } from './stripe-sync-support.ts';

const [seconds = 30, rate = 50] = process.argv.slice(2).map(Number);
const bench = await startBench(300);
try {
  const customers = ((await stripe(bench.emulator, 'GET', '/v1/customers', { limit: '100' })).data as Array<{ id: string }>).map((c) => c.id);
  const more = ((await stripe(bench.emulator, 'GET', '/v1/customers', { limit: '100', starting_after: customers[customers.length - 1]! })).data as Array<{ id: string }>).map((c) => c.id);
  customers.push(...more);
  const pending = new Map<string, { name: string; writtenAt: number }>();
  const lags: number[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching || pending.size) {
      if (pending.size) {
        const rows = await bench.sql.unsafe(`select id, name from "${bench.schema}".customer where id = any($1::text[])`, [[...pending.keys()]]);
        const now = performance.now();
        for (const r of rows) {
          const p = pending.get(String(r.id));
          if (p && r.name === p.name) {
            lags.push(now - p.writtenAt);
            pending.delete(String(r.id));
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  console.log(`${rate} writes/s for ${seconds} s, polling every 500 ms (${await loadAverage()})`);
  const writes: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < seconds * rate; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const id = customers[i % customers.length]!;
    const name = `lag ${i}`;
    writes.push(
      stripe(bench.emulator, 'POST', `/v1/customers/${id}`, { name }).then(() => {
        pending.set(id, { name, writtenAt: performance.now() });
      }),
    );
  }
  await Promise.all(writes);
  watching = false;
  await watcher;
  const p50 = percentile(lags, 50);
  const p99 = percentile(lags, 99);
  console.log(`writes: ${lags.length}; lag p50 ${p50.toFixed(0)} ms (target ≤ 600: ${(p50 / 600).toFixed(2)}), p99 ${percentile(lags, 99).toFixed(0)} ms (target ≤ 1000: ${(p99 / 1000).toFixed(2)}), max ${Math.max(...lags).toFixed(0)} ms`);
  console.log(`  baseline: the poll interval, 500 ms: p50/interval ${(p50 / 500).toFixed(2)}, p99/interval ${(p99 / 500).toFixed(2)}`);
} finally {
  await bench.close();
}
