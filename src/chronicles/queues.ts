// The BullMQ queues of chronicles (the Sidekiq of the article): `ingest` carries bus messages from
// the consumer to the workers; `maintenance` runs the re-apply job and partition maintenance.
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { RawMessage } from './message-mappings.ts';

export const INGEST_QUEUE = 'ingest';
export const MAINTENANCE_QUEUE = 'maintenance';
export const INGEST_JOB = 'entries';
export const REAPPLY_JOB = 'reapply-tag-rules';
export const PARTITIONS_JOB = 'maintain-partitions';

export interface IngestJobData {
  messages: RawMessage[];
}

export interface ReapplyJobData {
  occurredAfter?: string;
  occurredBefore?: string;
  /** Progress of an interrupted run, so a re-run continues where it stopped. */
  resumeAfter?: { occurredAt: string; id: string };
}

export interface PartitionsJobData {
  monthsAhead: number;
  retentionMonths?: number;
}

/** Failed writes (Postgres down) are retried for about an hour, then kept for the dashboard. */
export const INGEST_JOB_OPTIONS: JobsOptions = {
  attempts: 12,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: { age: 14 * 24 * 3600 },
};

/**
 * Connection options (not a client): each Queue and Worker opens and closes its own connections.
 * BullMQ needs `maxRetriesPerRequest: null` on the connections it blocks on.
 */
export function queueConnection(redisUrl: string, name: string): ConnectionOptions {
  return { url: redisUrl, connectionName: name, maxRetriesPerRequest: null };
}

export function ingestQueue(connection: ConnectionOptions, prefix: string): Queue<IngestJobData> {
  return new Queue<IngestJobData>(INGEST_QUEUE, { connection, prefix, defaultJobOptions: INGEST_JOB_OPTIONS });
}

export function maintenanceQueue(connection: ConnectionOptions, prefix: string): Queue {
  return new Queue(MAINTENANCE_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: { attempts: 5, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 30 * 24 * 3600 } },
  });
}
