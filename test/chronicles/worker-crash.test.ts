// A worker killed with SIGKILL mid-batch: its jobs stall, BullMQ's stalled-job check gives them
// to another worker, and the sequence_code dedupe makes the re-run harmless — no entry lost,
// none written twice, whether the kill came before or after the batch committed.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startIngestWorker } from '../../src/chronicles/ingest-worker.ts';
import { ingestQueue, INGEST_JOB, queueConnection } from '../../src/chronicles/queues.ts';
import type { Sql } from '../../src/platform/db.ts';
import { testDatabaseUrl, testSql } from '../support/database.ts';
import { redisUrl, waitFor } from '../support/wait-for.ts';
import { countEntries, deleteRedisKeys, entryValue, logger, rawMessage, unique } from './support/chronicles.ts';

const child = fileURLToPath(new URL('./support/worker-child.ts', import.meta.url));

describe('a worker killed -9 mid-batch', () => {
  let sql: Sql;
  const prefixes: string[] = [];
  before(() => {
    sql = testSql();
  });
  after(async () => {
    await sql.end();
    await deleteRedisKeys(...prefixes);
  });

  for (const phase of ['before-commit', 'after-commit'] as const) {
    test(`killed ${phase}: no entry lost, none duplicated, dead letters once`, async () => {
      const app = unique('kill');
      const queuePrefix = unique('chrkill');
      prefixes.push(queuePrefix);
      const queue = ingestQueue(queueConnection(redisUrl(), 'chronicles-test'), queuePrefix);
      // 10 jobs of 20 messages, two of them invalid.
      const jobs = Array.from({ length: 10 }, (_, j) => ({
        name: INGEST_JOB,
        data: {
          messages: Array.from({ length: 20 }, (_, i) =>
            rawMessage(j === 3 && i < 2 ? { broken: i } : entryValue(app, { subject_gid: `gid://plat/Job/${j}-${i}` }), 'chronicles.entries', `${app}-${j}-${i}`),
          ),
        },
      }));
      await queue.addBulk(jobs);

      const proc: ChildProcess = fork(child, [], {
        env: { ...process.env, CHRONICLES_CHILD: JSON.stringify({ databaseUrl: testDatabaseUrl(), redisUrl: redisUrl(), queuePrefix, phase }) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const stopped = new Promise<void>((resolve) => proc.on('message', (m: { type: string }) => m.type === 'stopped' && resolve()));
      await stopped;
      const committedBeforeKill = await countEntries(sql, app);
      const active = await queue.getJobCounts('active');
      proc.kill('SIGKILL');
      await once(proc, 'exit');
      if (phase === 'before-commit') assert.equal(committedBeforeKill, 0, 'nothing is visible before the commit');
      else assert.ok(committedBeforeKill > 0, 'the killed batch had committed rows');
      assert.ok((active.active ?? 0) > 0, 'jobs were active when the worker died');

      const survivor = await startIngestWorker({
        sql,
        connection: queueConnection(redisUrl(), 'chronicles-test-survivor'),
        prefix: queuePrefix,
        logger,
        concurrency: 20,
        maxBatchRows: 5000,
        lockDuration: 2000,
        stalledInterval: 1000,
        maxMessageBytes: 65536,
        ruleCacheTtl: 0,
        maintenance: false,
      });
      try {
        await waitFor('every job to complete', async () => {
          const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
          return Object.values(counts).every((n) => n === 0);
        });
      } finally {
        await survivor.close();
        await queue.close();
      }
      assert.equal(await countEntries(sql, app), 198);
      const [dups] = await sql<{ n: number }[]>`
        select count(*)::int as n from (select subject_gid from chronicles.entries where app = ${app} group by subject_gid having count(*) > 1) d`;
      assert.equal(dups!.n, 0);
      const dead = await sql`select item from chronicles.dead_letters where message_id in (${`${app}-3-0`}, ${`${app}-3-1`})`;
      assert.equal(dead.length, 2);
    });
  }
});
