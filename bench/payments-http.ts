// POST /payments: requests/s and latency percentiles (autocannon), side by side in one run on the
// same Redis:
//   seed        the seed's controller (INCR + RPUSH of the params; no validation, no auth)
//   ledgerline  `ledgerline payments api`: API key, zod validation, enqueue script
//   ledgerline+key  the same with a fresh Idempotency-Key per request
// The server runs in its own process; autocannon keeps CONNECTIONS keep-alive connections busy
// for SECONDS from this one, on the same machine. Medians of RUNS runs. No workers run: the queue
// just grows.
//   bash scripts/node bench/payments-http.ts        (CONNECTIONS=64 SECONDS=8 RUNS=3)
import autocannon from 'autocannon';
import { createLogger } from '../src/platform/log.ts';
import { createRedis } from '../src/platform/redis.ts';
import { dropKeys } from '../test/support/cleanup.ts';
import { median } from './stats.ts';
import { forkReady, freePort, processCpuSeconds, redisCpuSeconds, ROLE_CHILD, stopChildren } from './payments-support.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
const SECONDS = Number(process.env.SECONDS ?? 8);
const RUNS = Number(process.env.RUNS ?? 3);
const API_KEY = 'bench-key-0123456789abcdef';
const MODES = ['seed', 'ledgerline', 'ledgerline+key'] as const;

const logger = createLogger({ name: 'bench', level: 'warn' });
const redis = createRedis(REDIS_URL, { name: 'bench', logger });

async function load(port: number, withKey: boolean): Promise<{ rps: number; p50: number; p99: number; p999: number; errors: number }> {
  let n = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/payments`,
    connections: CONNECTIONS,
    duration: SECONDS,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    requests: [
      {
        // A different payment each time (and, with a key, a fresh Idempotency-Key).
        setupRequest: (request) => {
          const i = n++;
          const body = JSON.stringify({ payer_id: `payer${i % 1000}`, recipient_id: `rcpt${i % 997}`, amount: 100 + (i % 5000), currency: 'USD', description: 'bench' });
          return { ...request, body, headers: { ...request.headers, ...(withKey ? { 'idempotency-key': `bench-${i}` } : {}) } };
        },
      },
    ],
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, p999: result.latency.p99_9, errors: result.errors + result.non2xx };
}

const results = new Map<string, Array<Awaited<ReturnType<typeof load>> & { serverUs: number; redisUs: number }>>();
for (let run = 0; run < RUNS; run++) {
  for (const mode of MODES) {
    const prefix = `bench:pay:http:${run}:${Date.now()}:`;
    const port = await freePort();
    const flags = { redisUrl: REDIS_URL, keyPrefix: prefix, port: String(port), apiKeys: API_KEY };
    const child = await forkReady(ROLE_CHILD, [mode === 'seed' ? 'seed-api' : 'api', JSON.stringify(flags)]);
    await load(port, mode === 'ledgerline+key'); // warm-up run, discarded
    await dropKeys(redis, prefix);
    const [server0, redis0] = [processCpuSeconds(child.pid!), await redisCpuSeconds(redis)];
    const measured = await load(port, mode === 'ledgerline+key');
    const requests = measured.rps * SECONDS;
    // CPU per request, the steadier figure on a shared machine: the server process and Redis.
    const r = { ...measured, serverUs: ((processCpuSeconds(child.pid!) - server0) / requests) * 1e6, redisUs: (((await redisCpuSeconds(redis)) - redis0) / requests) * 1e6 };
    results.set(mode, [...(results.get(mode) ?? []), r]);
    console.log(`run ${run + 1} ${mode.padEnd(15)} ${Math.round(r.rps).toString().padStart(6)} req/s  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  p99.9 ${r.p999.toFixed(1)} ms  errors ${r.errors}  CPU/request: server ${Math.round(r.serverUs)} µs + redis ${Math.round(r.redisUs)} µs`);
    await stopChildren([child]);
    await dropKeys(redis, prefix);
  }
}
console.log(`\nPOST /payments, ${CONNECTIONS} keep-alive connections, ${SECONDS} s per run, medians of ${RUNS}:`);
console.log('mode            |  req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/request (server + redis)');
for (const mode of MODES) {
  const rs = results.get(mode)!;
  const m = (k: 'rps' | 'p50' | 'p99' | 'p999' | 'serverUs' | 'redisUs') => median(rs.map((r) => r[k]));
  console.log(`${mode.padEnd(15)} | ${Math.round(m('rps')).toString().padStart(6)} | ${m('p50').toFixed(1).padStart(6)} | ${m('p99').toFixed(1).padStart(6)} | ${m('p999').toFixed(1).padStart(8)} | ${`${Math.round(m('serverUs'))} + ${Math.round(m('redisUs'))}`.padStart(10)}`);
}
const ratio = (k: 'rps' | 'p99') => median(results.get('ledgerline')!.map((r) => r[k])) / median(results.get('seed')!.map((r) => r[k]));
console.log(`payments api: ${ratio('rps').toFixed(2)} × the seed controller's req/s, p99 ${ratio('p99').toFixed(2)} × its p99`);
await redis.quit();
