// Backfill progress (a bar per endpoint on a terminal, a structured log line per endpoint
// otherwise) and the periodic reconciliation backfill, which brings in what Stripe changes
// without an event.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/platform/log.ts';
import { startStripeEmulator, type StripeEmulator } from '../../src/stripe-emulator/index.ts';
import { startStripeSync, type StartedSync } from '../../src/stripe-sync/command.ts';
import { createProgress } from '../../src/stripe-sync/progress.ts';
import { syncPlan } from '../../src/stripe-sync/sync-plan.ts';
import { capturingLogger, createTestSchema, eventually, StripeHttp, syncConfigFor, type TestSchema } from './support/harness.ts';

const ACCOUNT = 'acct_progress';

test('on a terminal: one bar per endpoint with its share done, rows and requests', async () => {
  const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 160 });
  let drawn = '';
  terminal.on('data', (chunk: Buffer) => (drawn += chunk.toString()));
  const progress = createProgress('auto', createLogger({ name: 'progress-test', level: 'silent' }), ACCOUNT, terminal);
  progress.update('list:/v1/customers', { rows: 1200, requests: 12, fraction: 0.5, segments: 3, done: false });
  progress.update('list:/v1/invoices', { rows: 300, requests: 4, done: true });
  progress.stop();
  assert.match(drawn, /\/v1\/customers .*\| {2}50% +1200 rows, +12 req, 3 segments/);
  assert.match(drawn, /\/v1\/invoices .*\| 100% +300 rows, +4 req done/);
});

describe('progress logs and periodic reconciliation', () => {
  let emulator: StripeEmulator;
  let db: TestSchema;
  let sync: StartedSync | undefined;
  const { logger, lines } = capturingLogger('info');

  before(async () => {
    emulator = await startStripeEmulator({ customers: 15, seed: 5, rateLimit: 0 });
    db = await createTestSchema();
  });
  after(async () => {
    await sync?.stop();
    await db.drop();
    await emulator.stop();
  });

  test('off a terminal each endpoint logs its progress; every --reconcile-interval the lists are read again', async () => {
    const http = new StripeHttp(emulator);
    sync = await startStripeSync('run', await syncConfigFor(emulator, db.schema, { STRIPE_SYNC_PROGRESS: 'logs', STRIPE_SYNC_RECONCILE_INTERVAL: '2s' }, ACCOUNT), { logger, sql: db.sql });
    await sync.done;

    // One structured line per endpoint when it is done, with its rows and requests.
    const done = lines.map((l) => JSON.parse(l) as { msg: string; job?: string; rows?: number; requests?: number; account?: string }).filter((l) => l.msg === 'backfill job done');
    for (const job of syncPlan().lists) {
      const line = done.find((l) => l.job === job.name);
      assert.ok(line, `no progress line for ${job.name}`);
      assert.equal(line.account, ACCOUNT);
      assert.ok(line.requests! >= 1);
    }
    const [customers] = await db.sql.unsafe(`select count(*)::int as n from "${db.schema}".customer where _account_id = $1`, [ACCOUNT]);
    assert.ok(done.find((l) => l.job === 'list:/v1/customers')!.rows! >= customers!.n);

    // An invoice item changed after its creation: Stripe (API 2023-08-16) sends no event for it.
    const customer = String(((await http.call('GET', '/v1/customers', { limit: '1' })).data as Array<{ id: string }>)[0]!.id);
    const item = await http.call('POST', '/v1/invoiceitems', { customer, amount: '700', currency: 'usd', description: 'before' });
    assert.equal((await fetch(`${sync.url}/wait`)).status, 200);
    await http.call('POST', `/v1/invoiceitems/${String(item.id)}`, { description: 'after, silently' });
    const description = async () => (await db.sql.unsafe(`select description from "${db.schema}".invoiceitem where id = $1`, [String(item.id)]))[0]?.description;
    assert.equal(await description(), 'before');
    await eventually(async () => (await description()) === 'after, silently', 60_000, 'the reconciliation to read the silent change');
    const started = await db.sql.unsafe(`select payload->>'reason' as reason from "${db.schema}"._sync_log where account_id = $1 and kind = 'backfill_started' order by id`, [ACCOUNT]);
    assert.equal(started[0]!.reason, 'initial');
    assert.ok(started.slice(1).some((r) => r.reason === 'reconcile'), 'a reconciliation backfill was logged');
  });
});

test('stop() waits for a reconciliation in flight, so nothing is written after it returns', async () => {
  // Slow enough that the reconciliation is still reading lists when stop() is called.
  const emulator = await startStripeEmulator({ customers: 5, seed: 6, rateLimit: 0, latency: '100ms±0ms' });
  const db = await createTestSchema();
  try {
    const sync = await startStripeSync('run', await syncConfigFor(emulator, db.schema, {}, ACCOUNT), { logger: createLogger({ name: 'reconcile-stop', level: 'silent' }), sql: db.sql });
    await sync.done;
    let settled = false;
    const reconciling = sync.engine.accounts[0]!.reconcileNow().finally(() => (settled = true));
    reconciling.catch(() => {});
    await eventually(async () => (await db.sql.unsafe(`select 1 from "${db.schema}"._sync_log where payload->>'reason' = 'reconcile'`)).length > 0, 30_000, 'the reconciliation to start');
    await sync.stop();
    assert.ok(settled, 'the reconciliation had ended when stop() returned');
    const before = await db.sql.unsafe(`select count(*)::int as n from "${db.schema}"._sync_log`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(await db.sql.unsafe(`select count(*)::int as n from "${db.schema}"._sync_log`), before);
  } finally {
    await db.drop();
    await emulator.stop();
  }
});
