// POST /payments: requests/s and latency percentiles, side by side in one run on the same Redis:
//   seed        the seed's controller (INCR + RPUSH of the params; no validation, no auth)
//   ledgerline  `ledgerline payments api`: API key, zod validation, enqueue script
//   ledgerline+key  the same with a fresh Idempotency-Key per request
// The server runs in its own process; the client here keeps CONNECTIONS keep-alive connections
// busy for SECONDS (autocannon is not installed; this is the same closed-loop model on node:http).
// Medians of RUNS runs. No workers run: the queue just grows.
//   bash scripts/node bench/payments-http.ts        (CONNECTIONS=64 SECONDS=8 RUNS=3)
import http from 'node:http';
import { createLogger } from '../src/platform/log.ts';
import { createRedis } from '../src/platform/redis.ts';
import { dropKeys, forkReady, freePort, median, ROLE_CHILD, stopChildren } from './payments-support.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
const SECONDS = Number(process.env.SECONDS ?? 8);
const RUNS = Number(process.env.RUNS ?? 3);
const API_KEY = 'bench-key-0123456789abcdef';
const MODES = ['seed', 'ledgerline', 'ledgerline+key'] as const;

const logger = createLogger({ name: 'bench', level: 'warn' });
const redis = createRedis(REDIS_URL, { name: 'bench', logger });

function post(agent: http.Agent, port: number, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/payments', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function load(port: number, withKey: boolean): Promise<{ rps: number; p50: number; p99: number; p999: number; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      while (performance.now() < until) {
        const i = n++;
        const body = JSON.stringify({ payer_id: `payer${i % 1000}`, recipient_id: `rcpt${i % 997}`, amount: 100 + (i % 5000), currency: 'USD', description: 'bench' });
        const started = performance.now();
        const status = await post(agent, port, body, { authorization: `Bearer ${API_KEY}`, ...(withKey ? { 'idempotency-key': `bench-${c}-${i}` } : {}) });
        latencies.push(performance.now() - started);
        if (status !== 202 && status !== 200) errors++;
      }
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { rps: latencies.length / SECONDS, p50: at(0.5), p99: at(0.99), p999: at(0.999), errors };
}

const results = new Map<string, Array<Awaited<ReturnType<typeof load>>>>();
for (let run = 0; run < RUNS; run++) {
  for (const mode of MODES) {
    const prefix = `bench:pay:http:${run}:${Date.now()}:`;
    const port = await freePort();
    const flags = { redisUrl: REDIS_URL, keyPrefix: prefix, port: String(port), apiKeys: API_KEY };
    const child = await forkReady(ROLE_CHILD, [mode === 'seed' ? 'seed-api' : 'api', JSON.stringify(flags)]);
    await load(port, mode === 'ledgerline+key'); // warm-up run, discarded
    await dropKeys(redis, prefix);
    const r = await load(port, mode === 'ledgerline+key');
    results.set(mode, [...(results.get(mode) ?? []), r]);
    console.log(`run ${run + 1} ${mode.padEnd(15)} ${Math.round(r.rps).toString().padStart(6)} req/s  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  p99.9 ${r.p999.toFixed(1)} ms  errors ${r.errors}`);
    await stopChildren([child]);
    await dropKeys(redis, prefix);
  }
}
console.log(`\nPOST /payments, ${CONNECTIONS} keep-alive connections, ${SECONDS} s per run, medians of ${RUNS}:`);
console.log('mode            |  req/s | p50 ms | p99 ms | p99.9 ms');
for (const mode of MODES) {
  const rs = results.get(mode)!;
  const m = (k: 'rps' | 'p50' | 'p99' | 'p999') => median(rs.map((r) => r[k]));
  console.log(`${mode.padEnd(15)} | ${Math.round(m('rps')).toString().padStart(6)} | ${m('p50').toFixed(1).padStart(6)} | ${m('p99').toFixed(1).padStart(6)} | ${m('p999').toFixed(1).padStart(8)}`);
}
await redis.quit();
