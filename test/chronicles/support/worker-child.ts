// An ingest worker in its own process, for the "killed -9 mid-batch" test. Reads
// CHRONICLES_CHILD ({ databaseUrl, redisUrl, queuePrefix, phase }), starts a worker whose writer
// stops forever at `phase` ('before-commit': rows inserted, transaction open; 'after-commit':
// committed, jobs not yet completed) after telling the parent over IPC, until it is killed.
import { startIngestWorker } from '../../../src/chronicles/ingest-worker.ts';
import { queueConnection } from '../../../src/chronicles/queues.ts';
import { createSql } from '../../../src/platform/db.ts';
import { createLogger } from '../../../src/platform/log.ts';

const config = JSON.parse(process.env.CHRONICLES_CHILD ?? '{}') as { databaseUrl: string; redisUrl: string; queuePrefix: string; phase: 'before-commit' | 'after-commit' };
const send = (message: unknown) => process.send?.(message);
const stop = (phase: string) => async () => {
  send({ type: 'stopped', phase });
  await new Promise(() => {});
};

const sql = createSql(config.databaseUrl, { applicationName: 'chronicles-test-child', max: 4 });
await startIngestWorker({
  sql,
  connection: queueConnection(config.redisUrl, 'chronicles-test-child'),
  prefix: config.queuePrefix,
  logger: createLogger({ name: 'worker-child', level: process.env.LOG_LEVEL ?? 'error' }),
  concurrency: 20,
  maxBatchRows: 5000,
  lockDuration: 2000,
  stalledInterval: 1000,
  maxMessageBytes: 65536,
  ruleCacheTtl: 0,
  maintenance: false,
  hooks: config.phase === 'before-commit' ? { beforeCommit: stop('before-commit') } : { afterCommit: stop('after-commit') },
});
send({ type: 'ready' });
