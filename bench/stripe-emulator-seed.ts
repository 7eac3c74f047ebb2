// Seeding about 1,000,000 objects: seconds and peak RSS, medians of several runs (each in a fresh
// process). Also the time to serialize every seeded object once (what a full sync makes the
// emulator do; each then keeps only its JSON), beside a baseline: JSON.stringify of as many
// fixture clones (smaller on average, so MB/s is the comparable figure).
// Usage: bash scripts/node bench/stripe-emulator-seed.ts [customers=36000] [runs=3]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './stats.ts';

const [customers = 36000, runs = 3] = process.argv.slice(2, 4).map(Number);

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
  let jsonBytes = 0;
  const t1 = performance.now();
  for (const name of emu.store.names()) for (const e of emu.store.collection(name).all()) { jsonBytes += serialize(e).length; objects++; }
  const serializeS = (performance.now() - t1) / 1000;
  peak = Math.max(peak, process.memoryUsage.rss());
  // Baseline: stringify as many clones of a typical fixture mix.
  const fixtures = Object.values(loadStripeSpec().fixtures);
  const t2 = performance.now();
  let bytes = 0;
  for (let i = 0; i < objects; i++) bytes += JSON.stringify({ ...fixtures[i % fixtures.length], id: `x_${i}` }).length;
  const baselineS = (performance.now() - t2) / 1000;
  clearInterval(timer);
  console.log(JSON.stringify({ objects, seedS, serializeS, baselineS, peakMB: peak / 1e6, bytes, jsonBytes }));
} else {
  const results: Array<{ objects: number; seedS: number; serializeS: number; baselineS: number; peakMB: number; bytes: number; jsonBytes: number }> = [];
  for (let r = 0; r < runs; r++) {
    const out = execFileSync(process.execPath, ['--max-old-space-size=6000', fileURLToPath(import.meta.url), String(customers), '1', 'child'], { encoding: 'utf8' });
    const res = JSON.parse(out.trim().split('\n').pop()!);
    results.push(res);
    const rate = (bytes: number, s: number) => `${(bytes / 1e6 / s).toFixed(0)} MB/s`;
    console.log(`run ${r + 1}: ${res.objects} objects seeded in ${res.seedS.toFixed(1)} s, peak RSS ${res.peakMB.toFixed(0)} MB; serializing all once ${res.serializeS.toFixed(1)} s (${(res.jsonBytes / 1e6).toFixed(0)} MB, ${rate(res.jsonBytes, res.serializeS)}); baseline stringify of as many fixture clones ${res.baselineS.toFixed(1)} s (${(res.bytes / 1e6).toFixed(0)} MB, ${rate(res.bytes, res.baselineS)})`);
  }
  const m = (f: (r: (typeof results)[number]) => number) => median(results.map(f));
  console.log(`median of ${runs}: ${results[0]!.objects} objects, seed ${m((r) => r.seedS).toFixed(1)} s (limit 60 s), peak RSS ${m((r) => r.peakMB).toFixed(0)} MB (limit 4000 MB), serialize-all ${m((r) => r.serializeS).toFixed(1)} s = ${m((r) => r.jsonBytes / 1e6 / r.serializeS).toFixed(0)} MB/s, baseline ${m((r) => r.baselineS).toFixed(1)} s = ${m((r) => r.bytes / 1e6 / r.baselineS).toFixed(0)} MB/s`);
}
