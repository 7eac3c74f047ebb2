// The workers: take ingest jobs, validate each message (zod, message-mappings.ts), turn the
// invalid ones into dead letters, apply the tag rules and write everything through the group-
// committing EntryWriter. A job completes only after its rows have committed. A worker killed
// mid-batch leaves its jobs active with expiring locks; BullMQ's stalled-job check puts them back
// and another worker re-runs them, which the sequence_code dedupe makes harmless.
//
// The same process runs the maintenance queue: re-applying tag rules, and partition maintenance
// (months ahead, retention) as a BullMQ job scheduler, so one worker runs it per tick.
import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Sql } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import { Counter, Histogram, type Registry } from '../platform/metrics.ts';
import { EntryWriter, type DeadLetter, type EntryWriterOptions, type SourcedEntry, type WritePart, type WriteResult } from './entry-writer.ts';
import { mapMessage, rawText, type RawMessage } from './message-mappings.ts';
import { dropExpiredPartitions, ensurePartitions, monthsAround, PartitionCache, retentionCutoff } from './partitions.ts';
import {
  INGEST_QUEUE,
  MAINTENANCE_QUEUE,
  maintenanceQueue,
  PARTITIONS_JOB,
  REAPPLY_JOB,
  type IngestJobData,
  type PartitionsJobData,
  type ReapplyJobData,
} from './queues.ts';
import { reapplyTagRules, RuleCache, TagDirectory } from './tag-rules.ts';

export interface IngestWorkerOptions {
  sql: Sql;
  /** Connection options (queueConnection): BullMQ opens and closes the connections. */
  connection: ConnectionOptions;
  prefix: string;
  logger: Logger;
  concurrency: number;
  maxBatchRows: number;
  /** Write transactions in flight (default 2). */
  writeConcurrency?: number;
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount?: number;
  maxMessageBytes: number;
  retentionMonths?: number;
  monthsAhead?: number;
  maintenanceInterval?: number;
  ruleCacheTtl: number;
  registry?: Registry;
  hooks?: EntryWriterOptions['hooks'];
  /** Run the maintenance queue too (default true). */
  maintenance?: boolean;
}

export interface IngestWorker {
  worker: Worker<IngestJobData, WriteResult>;
  close(): Promise<void>;
}

/** Validates a job's messages: entries to write and dead letters for what cannot be one. */
export function toWritePart(messages: RawMessage[], options: { maxMessageBytes: number; retentionCutoff?: Date }): WritePart {
  const entries: SourcedEntry[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const message of messages) {
    for (const mapped of mapMessage(message)) {
      const source = { topic: message.topic, message_id: message.id, item: mapped.item };
      let reason = 'error' in mapped ? mapped.error : undefined;
      if (!reason && 'entry' in mapped && options.retentionCutoff && mapped.entry.occurred_at < options.retentionCutoff) {
        reason = `occurred_at: ${mapped.entry.occurred_at.toISOString()} is older than the retention window (before ${options.retentionCutoff.toISOString()})`;
      }
      if (reason) deadLetters.push({ ...source, reason, raw: rawText(message, options.maxMessageBytes) });
      else if ('entry' in mapped) entries.push({ ...mapped.entry, source });
    }
  }
  return { entries, deadLetters };
}

function writerMetrics(registry: Registry | undefined): EntryWriterOptions['onBatch'] {
  if (!registry) return undefined;
  const inserted = new Counter({ name: 'chronicles_entries_inserted_total', help: 'entries written', registers: [registry] });
  const duplicates = new Counter({ name: 'chronicles_entries_duplicate_total', help: 'entries skipped because their sequence_code was known', registers: [registry] });
  const dead = new Counter({ name: 'chronicles_dead_letters_total', help: 'messages dead-lettered', registers: [registry] });
  const rows = new Histogram({ name: 'chronicles_write_batch_rows', help: 'entries per write transaction', buckets: [1, 10, 50, 100, 500, 1000, 5000], registers: [registry] });
  const seconds = new Histogram({ name: 'chronicles_write_batch_seconds', help: 'duration of a write transaction', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] });
  return (s) => {
    inserted.inc(s.inserted);
    duplicates.inc(s.rows - s.inserted);
    dead.inc(s.deadLetters);
    rows.observe(s.rows);
    seconds.observe(s.ms / 1000);
  };
}

export async function startIngestWorker(options: IngestWorkerOptions): Promise<IngestWorker> {
  const { sql, connection, prefix } = options;
  const log = options.logger.child({ component: 'chronicles-worker' });
  const partitions = new PartitionCache(sql);
  const monthsAhead = options.monthsAhead ?? 3;
  await ensurePartitions(sql, monthsAround(new Date(), 1, monthsAhead));

  const writer = new EntryWriter({
    sql,
    rules: new RuleCache(sql, options.ruleCacheTtl),
    tags: new TagDirectory(sql),
    partitions,
    maxBatchRows: options.maxBatchRows,
    concurrency: options.writeConcurrency,
    hooks: options.hooks,
    onBatch: writerMetrics(options.registry),
  });

  const worker = new Worker<IngestJobData, WriteResult>(
    INGEST_QUEUE,
    async (job) => {
      const cutoff = options.retentionMonths ? retentionCutoff(new Date(), options.retentionMonths) : undefined;
      const part = toWritePart(job.data.messages, { maxMessageBytes: options.maxMessageBytes, retentionCutoff: cutoff });
      return writer.write(part);
    },
    {
      connection,
      prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDuration,
      stalledInterval: options.stalledInterval,
      maxStalledCount: options.maxStalledCount ?? 10,
      // Completed jobs are removed by the job options; keep the worker from holding results.
      removeOnComplete: { count: 0 },
    },
  );
  worker.on('failed', (job, err) => log.warn({ err, jobId: job?.id, attempts: job?.attemptsMade }, 'ingest job failed; BullMQ retries it'));
  worker.on('error', (err) => log.warn({ err }, 'ingest worker error'));

  let maintenance: Worker | undefined;
  let scheduler: ReturnType<typeof maintenanceQueue> | undefined;
  if (options.maintenance !== false) {
    maintenance = new Worker(
      MAINTENANCE_QUEUE,
      async (job: Job) => {
        if (job.name === REAPPLY_JOB) {
          const data = job.data as ReapplyJobData;
          return reapplyTagRules(sql, {
            occurredAfter: data.occurredAfter ? new Date(data.occurredAfter) : undefined,
            occurredBefore: data.occurredBefore ? new Date(data.occurredBefore) : undefined,
            resumeAfter: data.resumeAfter,
            onChunk: async (progress) => {
              await job.updateData({ ...data, resumeAfter: progress.resumeAfter });
              await job.updateProgress({ scanned: progress.scanned, added: progress.added, removed: progress.removed });
            },
          });
        }
        if (job.name === PARTITIONS_JOB) {
          const data = job.data as PartitionsJobData;
          const created = await ensurePartitions(sql, monthsAround(new Date(), 1, data.monthsAhead));
          const retention = data.retentionMonths ? await dropExpiredPartitions(sql, { retentionMonths: data.retentionMonths }) : undefined;
          if (retention?.dropped.length) partitions.invalidate();
          log.info({ created: created.length, dropped: retention?.dropped, deletedSequenceCodes: retention?.deletedSequenceCodes }, 'partition maintenance');
          return { created: created.length, ...retention };
        }
        throw new Error(`unknown maintenance job ${job.name}`);
      },
      { connection, prefix, concurrency: 1, lockDuration: Math.max(options.lockDuration, 60_000) },
    );
    maintenance.on('error', (err) => log.warn({ err }, 'maintenance worker error'));
    scheduler = maintenanceQueue(connection, prefix);
    const data: PartitionsJobData = { monthsAhead, ...(options.retentionMonths ? { retentionMonths: options.retentionMonths } : {}) };
    await scheduler.upsertJobScheduler('partitions', { every: options.maintenanceInterval ?? 3_600_000 }, { name: PARTITIONS_JOB, data });
  }

  log.info({ concurrency: options.concurrency, maxBatchRows: options.maxBatchRows, retentionMonths: options.retentionMonths }, 'chronicles worker started');
  return {
    worker,
    async close() {
      await Promise.all([worker.close(), maintenance?.close(), scheduler?.close()]);
    },
  };
}
