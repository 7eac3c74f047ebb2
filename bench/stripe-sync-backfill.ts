// Backfill throughput: a ~1,000,000-object emulator account (latency 250 ms ± 50, rate limit
// 100/s, in its own process) backfilled under a 50 requests/s budget. Headline: objects/s ÷ the
// budget's ceiling (50 pages/s × 100 objects = 5,000/s), target ≥ 0.9. Then the write path alone
// (the engine's batched upserts of the same objects into a fresh schema) beside its baselines:
// COPY of the same rows and a single-row INSERT loop. Target ≥ 50,000 rows/s.
// Usage: bash scripts/node bench/stripe-sync-backfill.ts [customers=36000] [writeRows=300000]
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { median } from './stats.ts';

const role = process.argv[2];

if (role === 'emulator') {
  // Public API only. stats() walks every collection once (sorting it and building the parent
  // indexes), so those first-read costs of the emulator (not Stripe's) stay out of the measurement.
  const { startStripeEmulator } = await import('../src/stripe-emulator/index.ts');
  const emulator = await startStripeEmulator({ customers: Number(process.argv[3]), seed: 1, latency: '250ms±50ms', rateLimit: 100 });
  const stats = emulator.stats();
  process.send!({ url: emulator.url, apiKey: emulator.apiKey, total: stats.total, seedMs: emulator.seedMs });
} else {
  const [customers = 36000, writeRows = 300000] = process.argv.slice(2).map(Number);
  const { createSql } = await import('../src/platform/db.ts');
  const { migrate } = await import('../src/platform/migrations.ts');
  const { loadConfig, readServicesEnv } = await import('../src/platform/config.ts');
  const { createLogger } = await import('../src/platform/log.ts');
  const { syncSettings } = await import('../src/stripe-sync/settings.ts');
  const { startStripeSync } = await import('../src/stripe-sync/command.ts');
  const { RowWriter, stampRead } = await import('../src/stripe-sync/row-writer.ts');
  const { tableMapping } = await import('../src/stripe-sync/schema-mapping.ts');
  const { loadavg, cpus } = await import('node:os');
  const loadAverage = () => `load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`;

  const databaseUrl = process.env.DATABASE_URL ?? readServicesEnv().DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is not set (ledgerline services up)');
  const sql = createSql(databaseUrl, { applicationName: 'bench-stripe-sync-backfill', max: 12 });
  const schemas: string[] = [];
  const newSchema = async () => {
    const schema = `bench_sync_${randomBytes(3).toString('hex')}`;
    schemas.push(schema);
    await migrate(sql, { parts: ['stripe-sync'], variables: { 'stripe-sync': { schema } } });
    return schema;
  };
  const dropAll = async () => {
    for (const schema of schemas) {
      await sql.unsafe(`drop schema if exists ${schema} cascade`);
      await sql`delete from ledgerline.schema_migrations where part = ${`stripe-sync(schema=${schema})`}`.catch(() => {});
    }
  };

  console.log(`seeding the emulator with ${customers} customers (its own process)…`);
  const child = fork(fileURLToPath(import.meta.url), ['emulator', String(customers)], { execArgv: ['--max-old-space-size=8000'] });
  const emulator = await new Promise<{ url: string; apiKey: string; total: number; seedMs: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as never));
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  console.log(`emulator: ${emulator.total} objects, seeded in ${(emulator.seedMs / 1000).toFixed(1)} s, latency 250ms±50ms, rate limit 100/s`);

  const account = `acct_bench_${randomBytes(3).toString('hex')}`;
  try {
    // ---- 1. the backfill ----
    console.log(`backfill: budget 50 requests/s, concurrency 50 (${loadAverage()})`);
    const schema = await newSchema();
    const config = loadConfig(syncSettings, {}, {
      DATABASE_URL: databaseUrl,
      REDIS_URL: process.env.REDIS_URL ?? readServicesEnv().REDIS_URL ?? 'redis://127.0.0.1:6379',
      // An account id of its own: the budget is shared through Redis by account.
      STRIPE_KEY: `${account}=${emulator.apiKey}`,
      STRIPE_API_BASE: emulator.url,
      STRIPE_SYNC_SCHEMA: schema,
      STRIPE_SYNC_MAX_RPS: '50',
      STRIPE_SYNC_CONCURRENCY: '50',
      STRIPE_SYNC_PER_PARENT: 'none',
      STRIPE_SYNC_PROGRESS: process.stderr.isTTY ? 'bars' : 'off',
      STRIPE_SYNC_UPCOMING_INVOICES: 'off',
    });
    const logger = createLogger({ name: 'bench', level: 'warn' });
    const sync = await startStripeSync('backfill', config, { logger, sql });
    const ticker = setInterval(async () => {
      const [r] = await sql.unsafe(`select coalesce(sum(rows_written),0)::bigint as rows, coalesce(sum(requests),0)::bigint as requests from "${schema}"._backfill_segments`);
      if (!process.stderr.isTTY) console.log(`  … ${r!.rows} rows, ${r!.requests} pages`);
    }, 20_000);
    await sync.done;
    clearInterval(ticker);
    await sync.stop();
    const [complete] = await sql.unsafe(`select payload from "${schema}"._sync_log where kind = 'backfill_complete'`);
    const p = complete!.payload as { row_count: number; requests: number; duration_ms: number };
    const seconds = p.duration_ms / 1000;
    const objectsPerSecond = p.row_count / seconds;
    const requestsPerSecond = p.requests / seconds;
    console.log(`backfill (lists phase): ${p.row_count} rows in ${seconds.toFixed(1)} s with ${p.requests} requests (${(p.row_count / p.requests).toFixed(1)} rows/request, ${requestsPerSecond.toFixed(1)} requests/s of 50)`);
    console.log(`  objects/s ${objectsPerSecond.toFixed(0)} ÷ budget ceiling 5000 = ${(objectsPerSecond / 5000).toFixed(2)} (target ≥ 0.9); budget use ${(requestsPerSecond / 50).toFixed(2)}`);
    const [start] = await sql.unsafe(`select created_at from "${schema}"._sync_log where kind = 'backfill_started'`);
    const jobs = await sql.unsafe(
      `select j.job, j.rows_written::bigint as rows, j.requests::bigint as requests, extract(epoch from j.updated_at - $1::timestamptz)::int as ended_s,
         (select count(*) from "${schema}"._backfill_segments g where g.job = j.job)::int as segments
       from "${schema}"._backfill_jobs j order by j.rows_written desc limit 14`,
      [start!.created_at],
    );
    console.log('  largest endpoints: ' + jobs.map((j) => `${String(j.job).replace('list:/v1/', '')} ${j.rows} rows/${j.requests} req/${j.segments} seg, done at ${j.ended_s} s`).join('; '));

    // ---- 2. the write path alone, on the same objects ----
    const tables = (await sql.unsafe(`select relname as t, n_live_tup::bigint as n from pg_stat_user_tables where schemaname = $1 and relname not like '\\_%' and n_live_tup > 0 order by n_live_tup desc`, [schema])).map((r) => ({ table: String(r.t), n: Number(r.n) }));
    const total = tables.reduce((s, t) => s + t.n, 0);
    const sample: Array<{ table: string; objects: Record<string, unknown>[] }> = [];
    for (const { table, n } of tables) {
      const take = Math.max(1, Math.round((n / total) * writeRows));
      const parentColumn = tableMapping(table).columns.find((c) => c.source === 'parent')?.name;
      const rows = await sql.unsafe(`select _raw${parentColumn ? `, "${parentColumn}" as parent` : ''} from "${schema}"."${table}" limit $1`, [take]);
      sample.push({ table, objects: rows.map((r) => ({ ...(r._raw as object), __parent: r.parent })) });
    }
    const count = sample.reduce((s, x) => s + x.objects.length, 0);
    const { toRow } = await import('../src/stripe-sync/schema-mapping.ts');
    const rowsOf = (table: string, objects: Record<string, unknown>[]) =>
      objects.map((o) => {
        const { __parent, ...object } = o;
        return stampRead(toRow(table, object, { accountId: account, ...(__parent ? { parentId: String(__parent) } : {}) }), Date.now());
      });

    const runs: number[] = [];
    for (let run = 0; run < 3; run++) {
      const target = await newSchema();
      const writer = new RowWriter(target);
      const started = performance.now();
      // Batches of 500 rows per table, four at once (as concurrent segments write), each in a
      // transaction committed as the backfill commits its pages (synchronous_commit off).
      const batches: Array<() => Promise<unknown>> = [];
      for (const { table, objects } of sample) {
        for (let i = 0; i < objects.length; i += 500) {
          batches.push(() => sql.begin(async (tx) => {
            await tx.unsafe('set local synchronous_commit = off');
            await writer.upsert(tx, table, rowsOf(table, objects.slice(i, i + 500)));
          }));
        }
      }
      let next = 0;
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < batches.length) await batches[next++]!();
      }));
      runs.push(count / ((performance.now() - started) / 1000));
    }
    console.log(`write path (engine upserts, batches of 500, 4 connections): ${count} rows of the account's mix, median ${median(runs).toFixed(0)} rows/s (runs: ${runs.map((r) => r.toFixed(0)).join(', ')}); target ≥ 50000: ${(median(runs) / 50000).toFixed(2)}`);

    // Baseline: COPY of the same rows (no conflict handling, no version guard), four at once, committed the same way.
    const copyRuns: number[] = [];
    const esc = (v: unknown) => (v === null || v === undefined ? '\\N' : (v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v)).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r'));
    for (let run = 0; run < 3; run++) {
      const target = await newSchema();
      const started = performance.now();
      let next = 0;
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < sample.length) {
          const { table, objects } = sample[next++]!;
          const cols = tableMapping(table).columns.map((c) => c.name).filter((c) => c !== '_deleted_at');
          const rows = rowsOf(table, objects);
          await sql.begin(async (tx) => {
            await tx.unsafe('set local synchronous_commit = off');
            const stream = await tx.unsafe(`copy "${target}"."${table}" (${cols.map((c) => `"${c}"`).join(', ')}) from stdin`).writable();
            await pipeline(Readable.from(rows.map((r) => `${cols.map((c) => esc(r[c])).join('\t')}\n`)), stream);
          });
        }
      }));
      copyRuns.push(count / ((performance.now() - started) / 1000));
    }
    // Baseline: one INSERT … ON CONFLICT per row with bind parameters, each its own commit (what a simple sync does), on 2,000 rows.
    const single = await newSchema();
    const loopRows = sample.flatMap(({ table, objects }) => rowsOf(table, objects.slice(0, Math.ceil((objects.length / count) * 2000))).map((row) => ({ table, row })));
    const loopStarted = performance.now();
    for (const { table, row } of loopRows) {
      const { __v: _v, ...plain } = row;
      const cols = Object.keys(plain);
      await sql`insert into ${sql(`${single}.${table}`)} ${sql(plain, ...cols)} on conflict (_account_id, id) do update set _raw = excluded._raw, _synced_at = excluded._synced_at`;
    }
    const loopRate = loopRows.length / ((performance.now() - loopStarted) / 1000);
    console.log(`  baselines: COPY of the same rows ${median(copyRuns).toFixed(0)} rows/s (engine/COPY ${(median(runs) / median(copyRuns)).toFixed(2)}); single-row upsert loop ${loopRate.toFixed(0)} rows/s (engine/loop ${(median(runs) / loopRate).toFixed(1)}×)`);
    console.log(`  the backfill needed ${objectsPerSecond.toFixed(0)} rows/s: the write path has ${(median(runs) / objectsPerSecond).toFixed(1)}× headroom (${loadAverage()})`);
  } finally {
    child.kill();
    await dropAll();
    await sql.end();
  }
}
