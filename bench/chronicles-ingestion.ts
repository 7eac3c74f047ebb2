// Entries per second from the bus to committed rows, sustained: the batched path (the consumer
// groups messages into jobs of up to 500 with addBulk; workers write the jobs in flight in one
// transaction) beside the article's path (Karafka → one Sidekiq job per message → one insert per
// job), measured in the same run, on the same bus engine (Redis Streams, or Kafka with --bus
// kafka), database and machine.
//
// For each path: N messages are published to chronicles.entries first (a backlog), then a
// consumer process and a worker process — the real roles, started here as children — drain it.
// The rate is taken between 10 % and 90 % of the rows (steady state, start-up excluded). The
// entries are realistic (payloads, tags on some, two tag rules to evaluate) and land in the
// current month's partition of the given database; they are deleted afterwards.
//
// Usage: bash scripts/node bench/chronicles-ingestion.ts [--batched 600000] [--baseline 20000] [--envelope 0]
//          [--bus redis|kafka] [--consumers 1] [--write-concurrency 2] [--database ledgerline_bench_chronicles]
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { startIngestConsumer } from '../src/chronicles/ingest-consumer.ts';
import { startIngestWorker } from '../src/chronicles/ingest-worker.ts';
import { INGESTED_TOPICS } from '../src/chronicles/message-mappings.ts';
import { monthOf, partitionName, PARTITIONED_TABLES } from '../src/chronicles/partitions.ts';
import { ingestQueue, queueConnection } from '../src/chronicles/queues.ts';
import { createTagRule, deleteTagRule, tagRuleInputSchema } from '../src/chronicles/tag-rules.ts';
import { createBus } from '../src/platform/bus/index.ts';
import { readServicesEnv } from '../src/platform/config.ts';
import { createSql } from '../src/platform/db.ts';
import { createLogger } from '../src/platform/log.ts';
import { Registry } from '../src/platform/metrics.ts';
import { migrate } from '../src/platform/migrations.ts';
import { dropKeys, dropTopics } from '../test/support/cleanup.ts';

const env = { ...readServicesEnv(), ...process.env };
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = createLogger({ name: 'chronicles-bench', level: 'warn' });
const BUS_PARTITIONS = Number(process.env.CHRONICLES_BENCH_PARTITIONS ?? 16);

interface ChildConfig {
  kafkaBrokers: string | undefined;
  databaseUrl: string;
  busPrefix: string;
  queuePrefix: string;
  maxJobEntries: number;
  maxBatchRows: number;
  writeConcurrency: number;
}

const role = process.argv[2];
if (role === 'consumer' || role === 'worker') {
  const config = JSON.parse(process.env.CHRONICLES_BENCH ?? '{}') as ChildConfig;
  if (role === 'consumer') {
    const bus = createBus({ kafkaBrokers: config.kafkaBrokers, redisUrl, prefix: config.busPrefix, logger, clientId: 'bench-consumer', partitions: BUS_PARTITIONS });
    const queue = ingestQueue(queueConnection(redisUrl, 'bench-consumer'), config.queuePrefix);
    await startIngestConsumer({ bus, queue, group: 'chronicles', topics: INGESTED_TOPICS, maxJobEntries: config.maxJobEntries, maxMessageBytes: 65536, logger });
  } else {
    const sql = createSql(config.databaseUrl, { applicationName: 'bench-worker', max: config.writeConcurrency + 2 });
    // Progress goes to the parent over IPC: counting rows in Postgres while it writes would cost
    // the very CPU being measured.
    const registry = new Registry();
    setInterval(async () => {
      const inserted = registry.getSingleMetric('chronicles_entries_inserted_total');
      process.send!({ type: 'progress', inserted: inserted ? ((await inserted.get()).values[0]?.value ?? 0) : 0 });
    }, 200).unref();
    await startIngestWorker({
      registry,
      sql,
      connection: queueConnection(redisUrl, 'bench-worker'),
      prefix: config.queuePrefix,
      logger,
      concurrency: 32,
      maxBatchRows: config.maxBatchRows,
      writeConcurrency: config.writeConcurrency,
      lockDuration: 30_000,
      stalledInterval: 15_000,
      maxMessageBytes: 65536,
      ruleCacheTtl: 2000,
      maintenance: false,
    });
  }
  process.send!({ type: 'ready' });
} else {
  await main();
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    args: process.argv.slice(2),
    options: {
      batched: { type: 'string', default: '600000' },
      baseline: { type: 'string', default: '20000' },
      envelope: { type: 'string', default: '0' },
      bus: { type: 'string', default: 'redis' },
      'write-concurrency': { type: 'string', default: '2' },
      consumers: { type: 'string', default: '1' },
      database: { type: 'string', default: 'ledgerline_bench_chronicles' },
    },
  });
  if (!/^[a-z_][a-z0-9_]*$/.test(args.database!)) throw new Error('--database must be a plain identifier');
  if (args.bus !== 'redis' && args.bus !== 'kafka') throw new Error('--bus must be redis or kafka');
  const kafkaBrokers = args.bus === 'kafka' ? (env.KAFKA_BROKERS ?? '127.0.0.1:9092') : undefined;
  const busName = kafkaBrokers ? 'Kafka' : 'Redis Streams';
  const base = env.DATABASE_URL;
  if (!base) throw new Error('DATABASE_URL is not set (run `ledgerline services up`)');
  const url = new URL(base);
  url.pathname = `/${args.database}`;
  const databaseUrl = url.toString();
  url.pathname = '/postgres';
  const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  if ((await admin`select 1 from pg_database where datname = ${args.database!}`).length === 0) await admin.unsafe(`create database ${args.database}`);
  await admin.end();

  const sql = createSql(databaseUrl, { applicationName: 'chronicles-bench', max: 4 });
  await migrate(sql, { parts: ['chronicles'] });
  const app = `bench${randomUUID().slice(0, 8)}`;
  // Entries occur within the hour before they are made: this bound keeps the clean-up in the
  // newest partitions.
  const since = new Date(Date.now() - 2 * 3_600_000);
  const rules = [
    await createTagRule(sql, tagRuleInputSchema.parse({ name: 'bench finance', app, actionNames: ['paid', 'refunded'], tags: ['finance', 'client:{{payload.client}}'] })),
    await createTagRule(sql, tagRuleInputSchema.parse({ name: 'bench eur', app, conditions: [{ operation: 'EQ', path: ['currency'], value: 'EUR' }], tags: ['role:finance'], kind: 'access' })),
  ];
  // The planner's estimate: counting tens of millions of rows would take longer than a run.
  const [entriesBefore] = await sql<{ n: string }[]>`
    select coalesce(sum(c.reltuples), 0)::bigint as n from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'chronicles.entries'::regclass`;
  const actions = ['paid', 'updated', 'commented', 'created', 'refunded', 'approved'];
  const entry = (i: number) => ({
    sequence_code: randomUUID(),
    app,
    subject_type: 'Invoice',
    subject_gid: `gid://billing/Invoice/${Math.floor(Math.random() ** 3 * 50_000)}`,
    action_name: actions[i % actions.length],
    performer_gid: i % 12 === 0 ? null : `gid://plat/User/${Math.floor(Math.random() ** 2 * 5000)}`,
    payload: {
      amount: Math.round(Math.random() * 100_000),
      currency: ['USD', 'EUR', 'GBP'][i % 3],
      client: `client-${i % 300}`,
      ...(i % 5 === 0 ? { flag: { gid: `gid://plat/Flag/${i % 97}`, name: 'review' } } : {}),
      source: 'api',
    },
    occurred_at: new Date(Date.now() - Math.floor(Math.random() * 3_600_000)).toISOString(),
    ...(i % 5 === 1 ? { feed_tags: [`team-${i % 7}`] } : {}),
  });

  interface Run {
    name: string;
    entries: number;
    messages: number;
    jobs: number;
    seconds: number;
    sustained: number;
    publishedPerSecond: number;
    /** Median of the jobs waiting for a worker during the run. */
    queued: number;
  }

  async function run(name: string, total: number, maxJobEntries: number, maxBatchRows: number, writeConcurrency: number, perMessage: number): Promise<Run> {
    // Kafka topic names take letters, digits, '.', '_' and '-' only.
    const busPrefix = `chrbench-${randomUUID().slice(0, 8)}${kafkaBrokers ? '.' : ':'}`;
    const queuePrefix = `chrbenchq-${randomUUID().slice(0, 8)}`;
    const bus = createBus({ kafkaBrokers, redisUrl, prefix: busPrefix, logger, clientId: 'bench-publisher', partitions: BUS_PARTITIONS });
    const [before] = await sql<{ n: number }[]>`select count(*)::int as n from chronicles.entries where app = ${app} and occurred_at >= ${since}`;
    const target = before!.n + total;
    // The backlog, published in pipelined chunks.
    const publishStarted = performance.now();
    const messages = Math.ceil(total / perMessage);
    for (let m = 0; m < messages; m += 1000) {
      await Promise.all(
        Array.from({ length: Math.min(1000, messages - m) }, (_, k) => {
          const i = m + k;
          const value = perMessage === 1 ? entry(i) : { entries: Array.from({ length: Math.min(perMessage, total - i * perMessage) }, (_, j) => entry(i * perMessage + j)) };
          return bus.publish('chronicles.entries', `k${i}`, value);
        }),
      );
    }
    const publishedPerSecond = messages / ((performance.now() - publishStarted) / 1000);
    await bus.close();

    const config: ChildConfig = { kafkaBrokers, databaseUrl, busPrefix, queuePrefix, maxJobEntries, maxBatchRows, writeConcurrency };
    const start = (r: string) => {
      const child = fork(fileURLToPath(import.meta.url), [r], { env: { ...process.env, CHRONICLES_BENCH: JSON.stringify(config) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      return { child, ready: new Promise<void>((resolve) => child.once('message', () => resolve())) };
    };
    const worker = start('worker');
    await worker.ready;
    const started = performance.now();
    const samples: Array<{ t: number; n: number }> = [];
    const done = new Promise<void>((resolve) =>
      worker.child.on('message', (m: { type: string; inserted: number }) => {
        if (m.type !== 'progress') return;
        samples.push({ t: (performance.now() - started) / 1000, n: m.inserted });
        if (m.inserted >= total) resolve();
      }),
    );
    // One consumer group; more members share the partitions.
    const consumers = Array.from({ length: Number(args.consumers) }, () => start('consumer'));
    // Jobs waiting for a worker: a growing queue means the workers are the bottleneck, an empty
    // one the consumer.
    const redis = new Redis(redisUrl);
    const waiting: number[] = [];
    const depth = setInterval(() => void redis.llen(`${queuePrefix}:ingest:wait`).then((n) => waiting.push(n)), 500);
    await done;
    clearInterval(depth);
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from chronicles.entries where app = ${app} and occurred_at >= ${since}`;
    if (row!.n !== target) throw new Error(`expected ${target} entries of ${app}, found ${row!.n}`);
    const seconds = samples[samples.length - 1]!.t;
    const at = (share: number) => samples.find((s) => s.n >= share * total)!;
    const [p10, p90] = [at(0.1), at(0.9)];
    const sustained = (p90.n - p10.n) / (p90.t - p10.t);
    // BullMQ numbers jobs with a counter: how many jobs the consumer created.
    const jobs = Number(await redis.get(`${queuePrefix}:ingest:id`));
    for (const { child } of [...consumers, worker]) await stop(child);
    // The run's bus streams (Redis Streams) and queue keys, and its topics on Kafka.
    await dropKeys(redis, busPrefix, queuePrefix);
    redis.disconnect();
    if (kafkaBrokers) await dropTopics(kafkaBrokers, busPrefix);
    const queued = waiting.sort((a, b) => a - b)[Math.floor(waiting.length / 2)] ?? 0;
    return { name, entries: total, messages, jobs, seconds, sustained, publishedPerSecond, queued };
  }

  console.log(`chronicles ingestion, bus (${busName}, ${BUS_PARTITIONS} partitions) → BullMQ → Postgres (${args.database}, ~${Number(entriesBefore!.n).toLocaleString('en')} entries before); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const results: Run[] = [];
  try {
    const writers = Number(args['write-concurrency']);
    results.push(await run('batched: jobs of ≤500 messages, group commit', Number(args.batched), 500, 5000, writers, 1));
    // Sidekiq-style: every job in flight (32) inserts its entry in its own transaction.
    results.push(await run('article: one job per message, one insert per job', Number(args.baseline), 1, 1, 32, 1));
    if (Number(args.envelope) > 0) results.push(await run('batched, producer sends 100 entries per message', Number(args.envelope), 500, 5000, writers, 100));
  } finally {
    for (const rule of rules) await deleteTagRule(sql, rule.id);
    // Leave the bench database as it was.
    const mine = sql`e.app = ${app} and e.occurred_at >= ${since}`;
    await sql`delete from chronicles.feed_taggings t using chronicles.entries e where ${mine} and t.occurred_at >= ${since} and t.sequence_code = e.sequence_code and t.occurred_at = e.occurred_at`;
    await sql`delete from chronicles.access_taggings t using chronicles.entries e where ${mine} and t.occurred_at >= ${since} and t.sequence_code = e.sequence_code and t.occurred_at = e.occurred_at`;
    await sql`delete from chronicles.sequence_codes c using chronicles.entries e where ${mine} and c.occurred_at >= ${since} and c.sequence_code = e.sequence_code`;
    await sql`delete from chronicles.entries e where ${mine}`;
    // The deleted rows are the newest in every index: left dead, they would slow the searches of
    // the query bench (which walk the newest entries) until autovacuum came by.
    const months = new Set([monthOf(since), monthOf(new Date())]);
    for (const month of months) for (const table of PARTITIONED_TABLES) await sql.unsafe(`vacuum (analyze) chronicles.${partitionName(table, month)}`);
    await sql`vacuum (analyze) chronicles.sequence_codes`;
    await sql.end();
  }
  console.log(`\n${'path'.padEnd(52)} ${'entries'.padStart(9)} ${'messages'.padStart(9)} ${'jobs'.padStart(8)} ${'total s'.padStart(8)} ${'sustained entries/s'.padStart(20)} ${'jobs waiting (median)'.padStart(22)}`);
  for (const r of results) {
    console.log(`${r.name.padEnd(52)} ${String(r.entries).padStart(9)} ${String(r.messages).padStart(9)} ${String(r.jobs).padStart(8)} ${r.seconds.toFixed(1).padStart(8)} ${Math.round(r.sustained).toLocaleString('en').padStart(20)} ${String(r.queued).padStart(22)}`);
  }
  const [batched, article] = results;
  if (batched && article) console.log(`\nbatched / article: ${(batched.sustained / article.sustained).toFixed(1)}×; goal ≥ 20,000 entries/s: ${batched.sustained >= 20_000 ? 'met' : 'missed'}`);
  console.log(`publishing the backlogs ran at ${results.map((r) => `${Math.round(r.publishedPerSecond).toLocaleString('en')}`).join(' / ')} messages/s; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
