// Seeding about 1,000,000 objects: seconds and peak RSS, medians of several runs (each in a fresh
// process). Baseline: merely JSON.stringify-ing the same number of fixture clones. Also the time
// to serialize every seeded object once (what a full sync makes the emulator do).
// Usage: bash scripts/node bench/stripe-emulator-seed.ts [customers=36000] [runs=3]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const [customers = 36000, runs = 3] = process.argv.slice(2, 4).map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (process.argv[4] === 'child') {
  const { createEmulatorState } = await import('../src/stripe-emulator/index.ts');
  const { loadStripeSpec } = await import('../src/stripe-emulator/spec.ts');
  const { serialize } = await import('../src/stripe-emulator/store.ts');
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  loadStripeSpec();
  const t0 = performance.now();
  const emu = createEmulatorState({ seed: 1, customers, now: 1_700_000_000 });
  const seedS = (performance.now() - t0) / 1000;
  peak = Math.max(peak, process.memoryUsage.rss());
  let objects = 0;
  const t1 = performance.now();
  for (const name of emu.store.names()) for (const e of emu.store.collection(name).all()) { serialize(e); objects++; }
  const serializeS = (performance.now() - t1) / 1000;
  peak = Math.max(peak, process.memoryUsage.rss());
  // Baseline: stringify as many clones of a typical fixture mix.
  const fixtures = Object.values(loadStripeSpec().fixtures);
  const t2 = performance.now();
  let bytes = 0;
  for (let i = 0; i < objects; i++) bytes += JSON.stringify({ ...fixtures[i % fixtures.length], id: `x_${i}` }).length;
  const baselineS = (performance.now() - t2) / 1000;
  clearInterval(timer);
  console.log(JSON.stringify({ objects, seedS, serializeS, baselineS, peakMB: peak / 1e6, bytes }));
} else {
  const results: Array<{ objects: number; seedS: number; serializeS: number; baselineS: number; peakMB: number }> = [];
  for (let r = 0; r < runs; r++) {
    const out = execFileSync(process.execPath, ['--max-old-space-size=6000', fileURLToPath(import.meta.url), String(customers), '1', 'child'], { encoding: 'utf8' });
    const res = JSON.parse(out.trim().split('\n').pop()!);
    results.push(res);
    console.log(`run ${r + 1}: ${res.objects} objects seeded in ${res.seedS.toFixed(1)} s, peak RSS ${res.peakMB.toFixed(0)} MB; serializing all once ${res.serializeS.toFixed(1)} s; baseline stringify of as many fixture clones ${res.baselineS.toFixed(1)} s`);
  }
  console.log(`median: ${results[0]!.objects} objects, seed ${median(results.map((r) => r.seedS)).toFixed(1)} s (limit 60 s), peak RSS ${median(results.map((r) => r.peakMB)).toFixed(0)} MB (limit 4000 MB), serialize-all ${median(results.map((r) => r.serializeS)).toFixed(1)} s, baseline ${median(results.map((r) => r.baselineS)).toFixed(1)} s`);
}
