// Payments/s with the simulated processor at 0 ms, 2 worker processes, same Redis, side by side:
//   seed×1      the seed's loop as written (RPUSH / BRPOP / INCR / MULTI-EXEC), one loop per process
//   seed×K      the same loop, K loops (connections) per process: the seed's "add workers"
//   bullmq      BullMQ workers (concurrency C) calling the same simulated processor and recording
//               the outcome with the seed's MULTI/EXEC (a step apart from BullMQ's own completion)
//   ledgerline  `ledgerline payments worker` (concurrency C): crash-safe queue, idempotent
//               processor ledger, one-script outcome + outbox, relay to the bus (Redis Streams)
//   ledgerline-norelay  the same with --outbox-relay false: outcomes (and their outbox entries)
//               recorded, not yet relayed — the work the seed's loop does, made crash-safe
// Each run pre-fills N payments, starts the workers, then releases the queue and times until N
// outcomes are recorded. Medians of RUNS runs, modes interleaved.
//   bash scripts/node bench/payments-throughput.ts        (N=50000 RUNS=3 PROCS=2 C=200 SEED_LOOPS=50)
import { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { createLogger } from '../src/platform/log.ts';
import { createRedis, type Redis } from '../src/platform/redis.ts';
import { paymentKeys } from '../src/payments/keys.ts';
import { createSimulatedProcessor } from '../src/payments/processors/simulated.ts';
import { dropKeys } from '../test/support/cleanup.ts';
import { median } from './stats.ts';
import { forkReady, prefillLedgerline, prefillSeed, processCpuSeconds, redisCpuSeconds, ROLE_CHILD, SEED_CHILD, stopChildren, waitFor } from './payments-support.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const N = Number(process.env.N ?? 50_000);
const RUNS = Number(process.env.RUNS ?? 3);
const PROCS = Number(process.env.PROCS ?? 2);
const C = Number(process.env.C ?? 200);
const SEED_LOOPS = Number(process.env.SEED_LOOPS ?? 50);
const MODES = (process.env.MODES ?? 'seed1,seedK,bullmq,ledgerline,ledgerline-norelay').split(',');
const logger = createLogger({ name: 'bench', level: process.env.LOG_LEVEL ?? 'warn' });
const MIX = { success: 0.8, insufficient_funds: 0.2, declined: 0, api_error: 0 };

// ---------------------------------------------------------------- children
async function bullChild(prefix: string, concurrency: number): Promise<void> {
  const redis = createRedis(REDIS_URL, { name: 'bull-cmd', logger, enableAutoPipelining: true });
  const processor = createSimulatedProcessor({ redis, prefix, mix: MIX, latency: { baseMs: 0, jitterMs: 0 }, seed: 1 });
  const worker = new BullWorker(
    'payments',
    async (job) => {
      const p = job.data as { trackingId: string; payer_id: string; recipient_id: string; amount: number; currency: string };
      const r = await processor.process({ trackingId: p.trackingId, payerId: p.payer_id, recipientId: p.recipient_id, amount: p.amount, currency: p.currency, metadata: {}, attempt: job.attemptsMade + 1, idempotencyKey: `payment-${p.trackingId}` });
      const now = Date.now();
      const [all, payer, recipient] = r.outcome === 'success' ? ['successful_txns', 'payments_made_by', 'payments_received_by'] : ['insufficient_funds_txns', 'insufficient_funds_for', 'insufficient_funds_to'];
      await redis.multi().zadd(`${prefix}${all}`, now, p.trackingId).hset(`${prefix}txns`, r.txnId ?? p.trackingId, JSON.stringify(p)).zadd(`${prefix}${payer}|${p.payer_id}`, now, p.trackingId).zadd(`${prefix}${recipient}|${p.recipient_id}`, now, p.trackingId).exec();
    },
    { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix: `${prefix}bull`, concurrency, removeOnComplete: { count: 0 } },
  );
  await worker.waitUntilReady();
  process.send?.({ type: 'ready' });
}

// ---------------------------------------------------------------- parent
const outcomeCount = (redis: Redis, prefix: string, sets: string[]) => async () => {
  const counts = await Promise.all(sets.map((s) => redis.zcard(`${prefix}${s}`)));
  return counts.reduce((a, b) => a + b, 0);
};

interface RunResult {
  perSecond: number;
  relayPerSecond?: number;
  /** CPU µs per payment: worker processes, Redis. Robust to other load on the machine. */
  workerCpuUs: number;
  redisCpuUs: number;
}

async function runOnce(redis: Redis, mode: string, run: number): Promise<RunResult> {
  const prefix = `bench:pay:${mode}:${run}:${Date.now()}:`;
  const busPrefix = `${prefix}bus:`;
  let file = new URL(import.meta.url).pathname;
  let release: () => Promise<unknown>;
  let count: () => Promise<number>;
  let args: string[];
  let bull: BullQueue | undefined;

  if (mode === 'seed1' || mode === 'seedK') {
    const filled = await prefillSeed(redis, prefix, N);
    release = filled.release;
    count = filled.finalCount;
    file = SEED_CHILD;
    args = [prefix, String(mode === 'seed1' ? 1 : SEED_LOOPS), '0'];
  } else if (mode === 'bullmq') {
    bull = new BullQueue('payments', { connection: { url: REDIS_URL }, prefix: `${prefix}bull` });
    await bull.pause();
    for (let i = 0; i < N; i += 1000) {
      const jobs = [];
      for (let k = i; k < Math.min(N, i + 1000); k++) jobs.push({ name: 'pay', data: { trackingId: String(k + 1), payer_id: `payer${k % 1000}`, recipient_id: `recipient${k % 500}`, amount: 100 + (k % 9000), currency: 'USD' } });
      await bull.addBulk(jobs);
    }
    release = () => bull!.resume();
    count = outcomeCount(redis, prefix, ['successful_txns', 'insufficient_funds_txns']);
    args = ['child', 'bullmq', prefix, String(C)];
  } else {
    const filled = await prefillLedgerline(redis, prefix, N);
    release = filled.release;
    count = filled.finalCount;
    file = ROLE_CHILD;
    const outboxRelay = mode === 'ledgerline' ? 'true' : 'false';
    args = ['worker', JSON.stringify({ redisUrl: REDIS_URL, keyPrefix: prefix, busPrefix, concurrency: String(C), simulatedMix: 'success=0.8,insufficient_funds=0.2', simulatedLatency: '0', outboxRelay })];
  }

  const children = await Promise.all(Array.from({ length: PROCS }, () => forkReady(file, args)));
  const cpu = () => children.reduce((sum, c) => sum + processCpuSeconds(c.pid!), 0);
  const [cpu0, redis0] = [cpu(), await redisCpuSeconds(redis)];
  const started = performance.now();
  await release();
  const ms = await waitFor(count, N, started);
  let relayMs: number | undefined;
  if (mode === 'ledgerline') {
    // Every outcome published on the bus (the outbox drained, all entries acknowledged).
    const outbox = paymentKeys(prefix).outbox;
    relayMs = await waitFor(async () => N - (await redis.xlen(outbox)), N, started);
  }
  const [workerCpuUs, redisCpuUs] = [((cpu() - cpu0) / N) * 1e6, (((await redisCpuSeconds(redis)) - redis0) / N) * 1e6];
  await stopChildren(children);
  await bull?.close();
  await dropKeys(redis, prefix);
  return { perSecond: N / (ms / 1000), workerCpuUs, redisCpuUs, ...(relayMs ? { relayPerSecond: N / (relayMs / 1000) } : {}) };
}

async function main(): Promise<void> {
  const redis = createRedis(REDIS_URL, { name: 'bench', logger, enableAutoPipelining: true });
  const results = new Map<string, RunResult[]>();
  for (let run = 0; run < RUNS; run++) {
    for (const mode of MODES) {
      const r = await runOnce(redis, mode, run);
      results.set(mode, [...(results.get(mode) ?? []), r]);
      console.log(
        `run ${run + 1} ${mode.padEnd(18)} ${Math.round(r.perSecond).toString().padStart(6)} payments/s, CPU/payment: workers ${Math.round(r.workerCpuUs)} µs + redis ${Math.round(r.redisCpuUs)} µs` +
          (r.relayPerSecond ? ` (all on the bus: ${Math.round(r.relayPerSecond)}/s)` : ''),
      );
    }
  }
  const m = (mode: string, k: keyof RunResult = 'perSecond') => median((results.get(mode) ?? []).map((r) => r[k] ?? 0));
  const cpuOf = (mode: string) => m(mode, 'workerCpuUs') + m(mode, 'redisCpuUs');
  console.log(`\nN=${N} per run, ${PROCS} worker processes, concurrency ${C} (seed×K: ${SEED_LOOPS} loops per process), medians of ${RUNS}:`);
  console.log('mode               | payments/s | CPU µs/payment (workers + redis) | payments per CPU-second');
  for (const mode of MODES) {
    console.log(`${mode.padEnd(18)} | ${Math.round(m(mode)).toString().padStart(10)} | ${`${Math.round(m(mode, 'workerCpuUs'))} + ${Math.round(m(mode, 'redisCpuUs'))} = ${Math.round(cpuOf(mode))}`.padStart(32)} | ${Math.round(1e6 / cpuOf(mode)).toString().padStart(8)}`);
  }
  if (results.has('ledgerline')) console.log(`ledgerline, all outcomes on the bus: ${Math.round(m('ledgerline', 'relayPerSecond'))} payments/s`);
  const best = Math.max(m('seed1'), m('seedK'));
  for (const mode of MODES.filter((x) => x.startsWith('ledgerline'))) {
    console.log(`${mode}: ${(m(mode) / m('seed1')).toFixed(2)} × seed×1, ${(m(mode) / best).toFixed(2)} × the best seed baseline (target ≥ 0.8); ≥ 5,000/s: ${m(mode) >= 5000 ? 'yes' : 'no'}`);
  }
  await redis.quit();
}

if (process.argv[2] === 'child') {
  const [, , , , a, b] = process.argv;
  await bullChild(a!, Number(b));
} else {
  await main();
}
