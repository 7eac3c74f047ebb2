// A backfill killed with SIGKILL at a random instant resumes from its checkpoints: nothing
// missing, nothing written twice, fewer requests than starting over. A cursor older than the
// 30-day events window is logged and answered with a re-backfill, at start and while polling.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startStripeEmulator, type StripeEmulator } from '../../src/stripe-emulator/index.ts';
import { startStripeSync } from '../../src/stripe-sync/command.ts';
import { capturingLogger, compareWithEmulator, createTestSchema, eventually, Mutator, rng, StripeHttp, syncConfigFor, type TestSchema } from './support/harness.ts';

const CHILD = fileURLToPath(new URL('./support/backfill-child.ts', import.meta.url));
const ACCOUNT = 'acct_resume';

function runChild(config: object): { exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>; kill: () => void } {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out }))),
    kill: () => child.kill('SIGKILL'),
  };
}

describe('kill -9 mid-backfill, then resume', () => {
  let emulator: StripeEmulator;
  let db: TestSchema;
  let fresh: TestSchema;

  before(async () => {
    emulator = await startStripeEmulator({ customers: 150, seed: 11, rateLimit: 0 });
    db = await createTestSchema();
    fresh = await createTestSchema();
  });
  after(async () => {
    await db.drop();
    await fresh.drop();
    await emulator.stop();
  });

  test('a killed backfill resumes where it stopped: nothing skipped, nothing written twice', async () => {
    // A fresh backfill's request count, for comparison.
    const freshConfig = await syncConfigFor(emulator, fresh.schema, { STRIPE_SYNC_MAX_RPS: '150', STRIPE_SYNC_PER_PARENT: 'none' }, ACCOUNT);
    const freshRun = runChild(freshConfig);
    const freshResult = await freshRun.exited;
    assert.equal(freshResult.code, 0, freshResult.out);
    const freshRequests = Number(/done (\d+)/.exec(freshResult.out)?.[1]);
    assert.ok(freshRequests > 50, `fresh backfill made ${freshRequests} requests`);
    const [freshPages] = await fresh.sql.unsafe(`select sum(requests)::int as n from "${fresh.schema}"._backfill_segments`);

    const config = await syncConfigFor(emulator, db.schema, { STRIPE_SYNC_MAX_RPS: '150', STRIPE_SYNC_PER_PARENT: 'none' }, ACCOUNT);
    const child = runChild(config);
    // Kill at a random point once a good share of pages is committed.
    const target = Math.floor(Number(freshPages!.n) * (0.25 + rng(Date.now())() * 0.45));
    try {
      await eventually(async () => {
        const [r] = await db.sql.unsafe(`select coalesce(sum(requests), 0)::int as n from "${db.schema}"._backfill_segments`);
        return Number(r?.n) >= target;
      }, 60_000, `${target} pages committed`);
    } finally {
      child.kill();
    }
    const killed = await child.exited;
    assert.equal(killed.signal, 'SIGKILL');
    const before = new Map((await db.sql.unsafe(`select id, _synced_at from "${db.schema}".customer union all select id, _synced_at from "${db.schema}".invoice union all select id, _synced_at from "${db.schema}".invoice_line_item union all select id, _synced_at from "${db.schema}".charge`)).map((r) => [String(r.id), (r._synced_at as Date).getTime()]));
    const doneBefore = await db.sql.unsafe(`select job, segment, rows_written from "${db.schema}"._backfill_segments where done`);
    assert.ok(before.size > 0 && doneBefore.length > 0, 'some pages were committed before the kill');

    const { logger } = capturingLogger();
    const resumed = await startStripeSync('backfill', config, { logger, sql: db.sql });
    await resumed.done;
    const resumedRequests = resumed.engine.accounts[0]!.client.requests;
    await resumed.stop();
    assert.ok(resumedRequests < freshRequests, `resumed run: ${resumedRequests} requests, fresh: ${freshRequests}`);

    // Segments done before the kill were not walked again; rows committed before it were not rewritten.
    const after = new Map((await db.sql.unsafe(`select job, segment, rows_written from "${db.schema}"._backfill_segments where done`)).map((r) => [`${r.job}#${r.segment}`, Number(r.rows_written)]));
    for (const s of doneBefore) assert.equal(after.get(`${s.job}#${s.segment}`), Number(s.rows_written));
    const rows = await db.sql.unsafe(`select id, _synced_at from "${db.schema}".customer union all select id, _synced_at from "${db.schema}".invoice union all select id, _synced_at from "${db.schema}".invoice_line_item union all select id, _synced_at from "${db.schema}".charge`);
    let rewritten = 0;
    for (const r of rows) if (before.has(String(r.id)) && before.get(String(r.id)) !== (r._synced_at as Date).getTime()) rewritten++;
    assert.equal(rewritten, 0, 'rows committed before the kill were written again');
    const kinds = (await db.sql.unsafe(`select kind from "${db.schema}"._sync_log order by id`)).map((r) => r.kind);
    assert.deepEqual(kinds, ['backfill_started', 'backfill_complete', 'events_caught_up'], 'one backfill, resumed, not a second one');
    await compareWithEmulator(db.sql, db.schema, emulator, ACCOUNT, { perParent: false });
  });
});

describe('cursor older than the events window', () => {
  let emulator: StripeEmulator;
  let db: TestSchema;
  let http: StripeHttp;
  const advance = (days: number) => fetch(`${emulator.url}/_emulator/clock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ advance_seconds: days * 86400 }) });

  before(async () => {
    emulator = await startStripeEmulator({ customers: 60, seed: 5, rateLimit: 0 });
    db = await createTestSchema();
    http = new StripeHttp(emulator);
  });
  after(async () => {
    await db.drop();
    await emulator.stop();
  });

  test('found at start: logged as cursor_expired, then a re-backfill catches every change and deletion', async () => {
    const { logger } = capturingLogger();
    const config = await syncConfigFor(emulator, db.schema, { STRIPE_SYNC_PER_PARENT: 'none' }, ACCOUNT);
    let sync = await startStripeSync('run', config, { logger, sql: db.sql });
    await sync.done;
    await sync.stop();
    // The engine is away for 31 days; meanwhile objects change and go.
    assert.equal((await advance(31)).status, 200);
    const mutator = new Mutator(http, 3);
    await mutator.load();
    await mutator.run(120);
    sync = await startStripeSync('run', config, { logger, sql: db.sql });
    await sync.done;
    await sync.stop();
    const log = (await db.sql.unsafe(`select kind, payload from "${db.schema}"._sync_log order by id`)).map((r) => `${r.kind}${r.payload.reason ? `:${r.payload.reason}` : ''}`);
    assert.deepEqual(log.slice(3, 7), ['cursor_expired', 'backfill_started:cursor_expired', 'backfill_complete', 'events_caught_up']);
    await compareWithEmulator(db.sql, db.schema, emulator, ACCOUNT, { perParent: false });
  });

  test('found while polling: the poller stops, logs it and backfills again by itself', async () => {
    const { logger } = capturingLogger();
    const config = await syncConfigFor(emulator, db.schema, { STRIPE_SYNC_PER_PARENT: 'none' }, ACCOUNT);
    const sync = await startStripeSync('run', config, { logger, sql: db.sql });
    await sync.done;
    const count = async () => Number((await db.sql.unsafe(`select count(*)::int as n from "${db.schema}"._sync_log where kind = 'cursor_expired'`))[0]!.n);
    const expiredBefore = await count();
    assert.equal((await advance(31)).status, 200);
    const mutator = new Mutator(http, 4);
    await mutator.load();
    await mutator.run(40);
    await eventually(async () => (await count()) > expiredBefore, 20_000, 'cursor_expired logged');
    // Once the re-backfill is done, /wait answers and everything matches again.
    const wait = await fetch(`${sync.url}/wait?timeout_ms=30000`);
    assert.equal(wait.status, 200);
    await compareWithEmulator(db.sql, db.schema, emulator, ACCOUNT, { perParent: false });
    await sync.stop();
  });
});
