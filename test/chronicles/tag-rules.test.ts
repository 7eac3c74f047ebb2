// Tag rules applied by the workers at insert, and re-applied to past entries by the BullMQ
// maintenance job after rules change — idempotently, resumably, never touching tags sent with the
// entry. Entries live in 1997-05 so the re-apply range holds only this file's rows.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startIngestWorker } from '../../src/chronicles/ingest-worker.ts';
import { dropExpiredPartitions } from '../../src/chronicles/partitions.ts';
import { maintenanceQueue, queueConnection, REAPPLY_JOB } from '../../src/chronicles/queues.ts';
import { createTagRule, deleteTagRule, reapplyTagRules, tagRuleInputSchema, updateTagRule, type TagRule } from '../../src/chronicles/tag-rules.ts';
import { toWritePart } from '../../src/chronicles/ingest-worker.ts';
import type { Sql } from '../../src/platform/db.ts';
import { testSql } from '../support/database.ts';
import { redisUrl, waitFor } from '../support/wait-for.ts';
import { deleteRedisKeys, entryValue, logger, newWriter, rawMessage, unique } from './support/chronicles.ts';

const RANGE = { occurredAfter: new Date('1997-05-01T00:00:00Z'), occurredBefore: new Date('1997-06-01T00:00:00Z') };

describe('tag rules', () => {
  let sql: Sql;
  const app = unique('rules');
  const rules: TagRule[] = [];
  const queuePrefix = unique('chrrules');

  before(async () => {
    sql = testSql();
    rules.push(await createTagRule(sql, tagRuleInputSchema.parse({ name: 'finance', app, actionNames: ['paid'], tags: ['finance', 'client:{{payload.client}}'] })));
    rules.push(
      await createTagRule(sql, tagRuleInputSchema.parse({ name: 'big', app, conditions: [{ operation: 'IN', path: ['currency'], value: ['EUR', 'GBP'] }], tags: ['role:finance'], kind: 'access' })),
    );
  });
  after(async () => {
    for (const rule of rules) await deleteTagRule(sql, rule.id);
    await dropExpiredPartitions(sql, { retentionMonths: 1, now: new Date('1998-01-01T00:00:00Z') });
    await sql.end();
    await deleteRedisKeys(queuePrefix);
  });

  async function taggings(): Promise<string[]> {
    const rows = await sql<{ subject_gid: string; kind: string; name: string; by_rule: boolean }[]>`
      select e.subject_gid, t.kind, g.name, t.by_rule
      from (select 'feed' as kind, * from chronicles.feed_taggings union all select 'access', * from chronicles.access_taggings) t
      join chronicles.tags g on g.id = t.tag_id
      join chronicles.entries e on e.sequence_code = t.sequence_code and e.occurred_at = t.occurred_at
      where e.app = ${app}`;
    return rows.map((r) => `${r.subject_gid.split('/').pop()} ${r.kind} ${r.name}${r.by_rule ? '' : ' (given)'}`).sort();
  }

  test('workers apply the enabled rules at insert, next to the tags sent with the entry', async () => {
    const values = [
      entryValue(app, { subject_gid: 'gid://x/Invoice/1', action_name: 'paid', payload: { client: 'acme', currency: 'EUR' }, feed_tags: ['given'] }),
      entryValue(app, { subject_gid: 'gid://x/Invoice/2', action_name: 'paid', payload: { currency: 'USD' } }),
      entryValue(app, { subject_gid: 'gid://x/Invoice/3', action_name: 'created', payload: { client: 'initech', currency: 'GBP' }, feed_tags: ['finance'] }),
    ];
    const part = toWritePart(values.map((v) => rawMessage(v)), { maxMessageBytes: 65536 });
    part.entries.forEach((e, i) => (e.occurred_at = new Date(Date.UTC(1997, 4, 10 + i))));
    await newWriter(sql).write(part);
    assert.deepEqual(await taggings(), [
      '1 access role:finance',
      '1 feed client:acme',
      '1 feed finance',
      '1 feed given (given)',
      // No client in the payload: that tag is skipped, not rendered as "client:—".
      '2 feed finance',
      '3 access role:finance',
      '3 feed finance (given)',
    ]);
  });

  test('after rules change, the re-apply job recomputes rule-made taggings; tags sent with entries stay', async () => {
    await updateTagRule(sql, rules[0]!.id, tagRuleInputSchema.parse({ name: 'finance v2', app, actionNames: ['paid', 'created'], tags: ['finance-v2'] }));
    await deleteTagRule(sql, rules[1]!.id);
    rules.push(await createTagRule(sql, tagRuleInputSchema.parse({ name: 'created', app, actionNames: ['created'], tags: ['new:{{payload.client}}'] })));

    const connection = queueConnection(redisUrl(), 'chronicles-test');
    const worker = await startIngestWorker({
      sql,
      connection,
      prefix: queuePrefix,
      logger,
      concurrency: 1,
      maxBatchRows: 100,
      lockDuration: 5000,
      stalledInterval: 5000,
      maxMessageBytes: 65536,
      ruleCacheTtl: 0,
    });
    const queue = maintenanceQueue(connection, queuePrefix);
    try {
      const job = await queue.add(REAPPLY_JOB, { occurredAfter: RANGE.occurredAfter.toISOString(), occurredBefore: RANGE.occurredBefore.toISOString() });
      const done = await waitFor('the re-apply job', async () => {
        const j = await queue.getJob(job.id!);
        const state = await j?.getState();
        if (state === 'failed') throw new Error(`re-apply failed: ${j?.failedReason}`);
        return state === 'completed' ? j : undefined;
      });
      assert.deepEqual(
        { scanned: done!.returnvalue.scanned, added: done!.returnvalue.added, removed: done!.returnvalue.removed },
        { scanned: 3, added: 4, removed: 5 },
      );
      assert.deepEqual(done!.progress, { scanned: 3, added: 4, removed: 5 });
    } finally {
      await worker.close();
      await queue.close();
    }
    assert.deepEqual(await taggings(), ['1 feed finance-v2', '1 feed given (given)', '2 feed finance-v2', '3 feed finance (given)', '3 feed finance-v2', '3 feed new:initech']);
  });

  test('re-applying again changes nothing; an interrupted run resumes where it stopped', async () => {
    assert.deepEqual(await reapplyTagRules(sql, RANGE).then((p) => [p.scanned, p.added, p.removed]), [3, 0, 0]);

    await deleteTagRule(sql, rules[2]!.id);
    const interrupted = await reapplyTagRules(sql, {
      ...RANGE,
      chunkSize: 2,
      onChunk: async () => {
        throw new Error('worker died');
      },
    }).catch((err: Error) => err);
    assert.match(String(interrupted), /worker died/);
    const chunks: number[] = [];
    const complete = await reapplyTagRules(sql, { ...RANGE, chunkSize: 2, onChunk: async (p) => void chunks.push(p.scanned) });
    assert.deepEqual(chunks, [2, 3]);
    // Resuming after the first two entries scans only the third.
    const resumed = await reapplyTagRules(sql, { ...RANGE, chunkSize: 2, resumeAfter: undefined });
    assert.equal(resumed.scanned, 3);
    const [second] = await sql<{ occurred_at: Date; id: string }[]>`
      select occurred_at, id from chronicles.entries where app = ${app} order by occurred_at, id offset 1 limit 1`;
    const tail = await reapplyTagRules(sql, { ...RANGE, resumeAfter: { occurredAt: second!.occurred_at.toISOString(), id: String(second!.id) } });
    assert.equal(tail.scanned, 1);
    assert.equal(complete.removed, 1, 'the deleted rule’s tag went on the run that completed');
    assert.deepEqual(await taggings(), ['1 feed finance-v2', '1 feed given (given)', '2 feed finance-v2', '3 feed finance (given)', '3 feed finance-v2']);
  });
});
