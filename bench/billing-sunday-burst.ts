// The article's Sunday burst: 1,000 notification jobs due at 17:00 in each member's time zone, 25 %
// of members in one zone and 15 % in the next (the other 60 % in six zones of 10 %); each job reads
// its product's billing records once. The server is the real `ledgerline billing api` (child
// process) at its default limit of 10 requests per second per key.
//   naive:  every job fires at its due time, one request each (the monolith before the fix).
//   client: the jobs run in 2 worker processes (children), started by the jittered scheduler over
//           the article's 2-minute window (16:59–17:01) and sent through createBillingClient: the
//           Redis sliding-window limiter shared by both processes (8/s, the article's
//           Sidekiq::Limiter), and lookups that wait for the limiter join one batched request.
// Time is compressed: 1 minute of the article = 1 s, so the window is 2 s. The hour between two
// zones' 17:00 holds no jobs, so it is cut to 4 s (the window and its tail). Requests per second are
// counted on the server side, from the arrival times in its access log (pino "incoming request"
// lines), both per calendar second and over every moving 1-s window; 429s from its /metrics.
//
// Usage: bash scripts/node bench/billing-sunday-burst.ts
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createBillingClient, scheduleJittered } from '../src/billing/client/index.ts';
import { createSql } from '../src/platform/db.ts';
import { Registry } from '../src/platform/metrics.ts';
import { createRedis } from '../src/platform/redis.ts';
import { benchDatabase, benchDatabaseUrl, machineLine, redisUrl, startApi } from './billing-support.ts';

const WINDOW_MS = 2000;
const ZONE_GAP_MS = 4000;
const ZONES = [250, 150, 100, 100, 100, 100, 100, 100];
const FIELDS = ['kind', 'status', 'amount', 'createdAt'] as const;
const query = `query($filter: BillingRecordFilter!) { billingRecords(filter: $filter, first: 3) { nodes { ${FIELDS.join(' ')} } } }`;

interface Job {
  gid: string;
  zone: number;
  dueAt: number;
}
interface WorkerConfig {
  baseUrl: string;
  apiKey: string;
  limiterName: string;
  jobs: Job[];
}
interface WorkerReport {
  finished: Array<{ zone: number; at: number }>;
  fallbacks: number;
  retries: number;
  requests: number;
}

if (process.argv[2] === 'worker') {
  const redis = createRedis(redisUrl, { name: 'burst-worker' });
  const sql = createSql(benchDatabaseUrl(), { applicationName: 'burst-worker', max: 2 });
  await Promise.all([redis.ping(), sql`select 1`]);
  const configured = once(process, 'message');
  process.send!('ready');
  const config = (await configured)[0] as WorkerConfig;
  const registry = new Registry();
  const client = createBillingClient({ baseUrl: config.baseUrl, apiKey: config.apiKey, sql, redis, registry, limiter: { perSecond: 8, name: config.limiterName } });
  const finished: WorkerReport['finished'] = [];
  const scheduled = scheduleJittered(
    config.jobs.map((job) => ({
      dueAt: job.dueAt,
      run: async () => {
        await client.loadRecordsOf(job.gid, { first: 3, fields: FIELDS });
        finished.push({ zone: job.zone, at: Date.now() });
      },
    })),
    { windowMs: WINDOW_MS },
  );
  const failed = (await scheduled.done).filter((r) => r.status === 'rejected');
  if (failed.length) throw new Error(`${failed.length} jobs failed`);
  const sum = async (name: string) => ((await registry.getSingleMetric(name)?.get()) as { values: Array<{ metricName?: string; value: number }> } | undefined)?.values.filter((v) => !v.metricName || v.metricName.endsWith('_count')).reduce((n, v) => n + v.value, 0) ?? 0;
  const report: WorkerReport = { finished, fallbacks: await sum('billing_client_fallbacks_total'), retries: await sum('billing_client_retries_total'), requests: await sum('billing_client_request_duration_seconds') };
  process.send!(report, () => {
    redis.disconnect();
    void sql.end().then(() => process.exit(0));
  });
} else {
  const sql = await benchDatabase(1_000_000);
  await sql.end();
  const arrivals: number[] = [];
  const api = await startApi({
    keys: 2,
    onLog: (line) => {
      if (line.msg === 'incoming request' && (line.req as { url?: string } | undefined)?.url === '/graphql') arrivals.push(line.time as number);
    },
  });

  const jobsFrom = (start: number): Job[] => {
    let n = 0;
    return ZONES.flatMap((size, zone) => Array.from({ length: size }, () => ({ gid: `gid://platform/Product/${++n}`, zone, dueAt: start + zone * ZONE_GAP_MS })));
  };
  const serverRates = (from: number, to: number) => {
    const times = arrivals.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
    const perSecond = new Map<number, number>();
    for (const t of times) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
    let moving = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      moving = Math.max(moving, i - j + 1);
    }
    return { requests: times.length, perSecond: Math.max(0, ...perSecond.values()), moving };
  };

  try {
    // naive: each zone's jobs all fire at its 17:00, one request each, no limiter, no retry.
    const naiveStart = Date.now() + 1000;
    const naiveJobs = jobsFrom(naiveStart);
    const naive429Before = await api.requests('/graphql', '429');
    const statuses = await Promise.all(
      naiveJobs.map(async (job) => {
        await new Promise((resolve) => setTimeout(resolve, job.dueAt - Date.now()));
        const response = await fetch(`${api.baseUrl}/graphql`, {
          method: 'POST',
          headers: { authorization: `Bearer ${api.keys[0]}`, 'content-type': 'application/json' },
          body: JSON.stringify({ query, variables: { filter: { productGids: [job.gid] } } }),
        });
        await response.arrayBuffer();
        return response.status;
      }),
    );
    const naiveEnd = Date.now();
    const naive429 = statuses.filter((s) => s === 429).length;
    const naiveServer429 = (await api.requests('/graphql', '429')) - naive429Before;
    const naiveRates = serverRates(naiveStart - 1000, naiveEnd);
    await new Promise((resolve) => setTimeout(resolve, 2000));

    // client: two worker processes, jittered, sharing the limiter.
    const workerFile = fileURLToPath(import.meta.url);
    const workers = [fork(workerFile, ['worker']), fork(workerFile, ['worker'])];
    await Promise.all(workers.map((w) => once(w, 'message')));
    const clientStart = Date.now() + 1000 + WINDOW_MS / 2;
    const clientJobs = jobsFrom(clientStart);
    const limiterName = `burst-${randomBytes(4).toString('hex')}`;
    const client429Before = await api.requests('/graphql', '429');
    const reports = workers.map((w) => once(w, 'message').then(([r]) => r as WorkerReport));
    workers.forEach((w, i) => w.send({ baseUrl: api.baseUrl, apiKey: api.keys[1]!, limiterName, jobs: clientJobs.filter((_, j) => j % 2 === i) } satisfies WorkerConfig));
    const done = await Promise.all(reports);
    const clientEnd = Date.now();
    const client429 = (await api.requests('/graphql', '429')) - client429Before;
    const clientRates = serverRates(clientStart - WINDOW_MS, clientEnd);
    const finished = done.flatMap((r) => r.finished);
    const lateness = ZONES.map((_, zone) => Math.max(...finished.filter((f) => f.zone === zone).map((f) => f.at)) - (clientStart + zone * ZONE_GAP_MS + WINDOW_MS / 2));

    console.log(machineLine());
    console.log(`Sunday burst: ${naiveJobs.length} jobs due at 17:00 local, zones ${ZONES.map((z) => `${z / 10}%`).join('/')}; server limit 10 req/s per key (default); 1 article minute = 1 s (window 16:59–17:01 = 2 s), zones' 17:00s ${ZONE_GAP_MS / 1000} s apart; one run`);
    console.log(`  naive  (all fire at 17:00, 1 request per job): ${naiveRates.requests} requests, ${naive429} answered 429 (server counted ${naiveServer429}); server max ${naiveRates.perSecond} req/s per second, ${naiveRates.moving} in a moving second`);
    console.log(
      `  client (jitter ±1 min + shared 8/s limiter, 2 processes, batching): ${finished.length} jobs in ${clientRates.requests} requests, ${client429} answered 429, ` +
        `${done.reduce((n, r) => n + r.fallbacks, 0)} fallbacks; server max ${clientRates.perSecond} req/s per second, ${clientRates.moving} in a moving second`,
    );
    const late = Math.max(...lateness);
    console.log(`  every zone's last job finished ${late <= 0 ? `${(-late / 1000).toFixed(2)} s before` : `${(late / 1000).toFixed(2)} s after`} its window closed (17:01); naive 429s ${naive429} → ${client429}`);
  } finally {
    await api.stop();
  }
}
