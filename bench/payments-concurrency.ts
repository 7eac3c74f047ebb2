// Throughput against concurrency with the simulated processor at 50 ms: with C payments in flight
// the ideal is C / 0.05 s. 2 worker processes of `ledgerline payments worker`, each with C/2.
// Baselines beside each point, same run: that ideal, and the seed's loop, which holds one payment
// per loop, run with C/2 loops (connections) per process to have as many in flight.
//   bash scripts/node bench/payments-concurrency.ts        (LEVELS=10,50,100,250,500 RUNS=3 PROCS=2)
import { createLogger } from '../src/platform/log.ts';
import { createRedis } from '../src/platform/redis.ts';
import { dropKeys } from '../test/support/cleanup.ts';
import { median } from './stats.ts';
import { forkReady, prefillLedgerline, prefillSeed, ROLE_CHILD, SEED_CHILD, stopChildren, waitFor } from './payments-support.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const LEVELS = (process.env.LEVELS ?? '10,50,100,250,500').split(',').map(Number);
const RUNS = Number(process.env.RUNS ?? 3);
const PROCS = Number(process.env.PROCS ?? 2);
const LATENCY_MS = 50;
const SECONDS = Number(process.env.SECONDS ?? 3);

const logger = createLogger({ name: 'bench', level: 'warn' });
const redis = createRedis(REDIS_URL, { name: 'bench', logger, enableAutoPipelining: true });

async function once(mode: 'ledgerline' | 'seed', total: number, run: number): Promise<number> {
  const prefix = `bench:pay:conc:${mode}:${total}:${run}:${Date.now()}:`;
  const ideal = total / (LATENCY_MS / 1000);
  const n = Math.max(500, Math.round(ideal * SECONDS));
  const per = Math.max(1, Math.round(total / PROCS));
  const filled = mode === 'seed' ? await prefillSeed(redis, prefix, n) : await prefillLedgerline(redis, prefix, n);
  const children = await Promise.all(
    Array.from({ length: PROCS }, () =>
      mode === 'seed'
        ? forkReady(SEED_CHILD, [prefix, String(per), String(LATENCY_MS)])
        : forkReady(ROLE_CHILD, ['worker', JSON.stringify({ redisUrl: REDIS_URL, keyPrefix: prefix, busPrefix: `${prefix}bus:`, concurrency: String(per), simulatedMix: 'success=0.8,insufficient_funds=0.2', simulatedLatency: `${LATENCY_MS}ms` })]),
    ),
  );
  const started = performance.now();
  await filled.release();
  const ms = await waitFor(filled.finalCount, n, started);
  await stopChildren(children);
  await dropKeys(redis, prefix);
  return n / (ms / 1000);
}

const rows: Array<{ total: number; ours: number; seed: number; ideal: number }> = [];
for (const total of LEVELS) {
  const ours: number[] = [];
  const seed: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    ours.push(await once('ledgerline', total, run));
    seed.push(await once('seed', total, run));
  }
  const row = { total, ours: median(ours), seed: median(seed), ideal: total / (LATENCY_MS / 1000) };
  rows.push(row);
  console.log(`in flight ${String(total).padStart(4)}: ledgerline ${Math.round(row.ours)}/s (runs ${ours.map(Math.round).join(', ')}), seed loop ${Math.round(row.seed)}/s (runs ${seed.map(Math.round).join(', ')}), ideal ${row.ideal}/s`);
}
console.log(`\nSimulated processor at ${LATENCY_MS} ms, ${PROCS} worker processes, medians of ${RUNS}:`);
console.log('in flight | ledgerline/s | of ideal | seed loop ×C/s | ideal C/0.05 s');
for (const r of rows) {
  console.log(`${String(r.total).padStart(9)} | ${Math.round(r.ours).toString().padStart(12)} | ${`${Math.round((r.ours / r.ideal) * 100)}%`.padStart(8)} | ${Math.round(r.seed).toString().padStart(14)} | ${String(r.ideal).padStart(14)}`);
}
await redis.quit();
