// The replica is complete and current: a backfill with writes landing during it, then 2,000
// random writes while polling; every row's _raw equals the emulator's object, row counts equal
// /_emulator/stats, /wait gives read-after-write, and deletes, same-second updates and the hand-off
// behave.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startStripeEmulator, type StripeEmulator } from '../../src/stripe-emulator/index.ts';
import { startStripeSync, type StartedSync } from '../../src/stripe-sync/command.ts';
import { syncPlan } from '../../src/stripe-sync/sync-plan.ts';
import { capturingLogger, compareWithEmulator, createTestSchema, EMULATOR_SEED_EXCEPTIONS, Mutator, SILENT_CHANGES, StripeHttp, syncConfigFor, type TestSchema } from './support/harness.ts';

const ACCOUNT = 'acct_replica';

describe('replica: backfill, hand-off, polling, /wait', () => {
  let emulator: StripeEmulator;
  let db: TestSchema;
  let sync: StartedSync;
  let http: StripeHttp;
  let mutator: Mutator;
  const { logger, lines } = capturingLogger();

  before(async () => {
    emulator = await startStripeEmulator({ customers: 120, seed: 7, rateLimit: 0 });
    db = await createTestSchema();
    http = new StripeHttp(emulator);
    mutator = new Mutator(http, 42);
    await mutator.load();
  });

  after(async () => {
    await sync?.stop();
    await db.drop();
    await emulator.stop();
  });

  test('backfill with writes landing during it, then 2,000 random writes: every row equals the emulator', async () => {
    sync = await startStripeSync('run', await syncConfigFor(emulator, db.schema, {}, ACCOUNT), { logger, sql: db.sql });
    // Writes while the backfill runs: the hand-off (events since the newest event recorded before it) must catch them.
    await mutator.run(150);
    await sync.done;
    await mutator.run(1850);
    const wait = await fetch(`${sync.url}/wait`);
    assert.equal(wait.status, 200);
    const body = (await wait.json()) as { caught_up_to: string; waited_ms: number };
    assert.match(body.caught_up_to, /^evt_/);
    assert.equal(typeof body.waited_ms, 'number');

    // Everything Stripe announced by events is there; what it changes silently waits for reconciliation.
    await compareWithEmulator(db.sql, db.schema, emulator, ACCOUNT, { silent: SILENT_CHANGES });
    await sync.engine.accounts[0]!.reconcileNow();
    assert.equal((await fetch(`${sync.url}/wait`)).status, 200);
    const comparison = await compareWithEmulator(db.sql, db.schema, emulator, ACCOUNT);
    // Row counts equal the emulator's own statistics, table by table.
    const stats = emulator.stats();
    const plan = syncPlan();
    const count = (t: string) => comparison.tables.get(t)?.rows ?? 0;
    for (const job of plan.lists) {
      const want = job.path === '/v1/subscriptions' ? stats.resources.subscription : stats.lists[job.path];
      assert.equal(count(job.table), want, `${job.table} (${job.path})`);
    }
    assert.equal(count('invoice_line_item'), stats.nested['/v1/invoices/{invoice}/lines']);
    assert.equal(count('tax_id'), stats.nested['/v1/customers/{customer}/tax_ids']);
    assert.equal(count('customer_balance_transaction'), stats.nested['/v1/customers/{customer}/balance_transactions']);
    assert.equal(count('checkout_session_line_item'), stats.nested['/v1/checkout/sessions/{session}/line_items']);
    assert.equal(count('subscription_item'), stats.lists['/v1/subscription_items']);
    // Per-parent tables of parents that are listed (the emulator's stats also count children of
    // sources whose customer was deleted, which no list reaches any more).
    for (const job of plan.parents.filter((j) => !j.optional && !EMULATOR_SEED_EXCEPTIONS[j.table] && j.parentParam.in === 'path' && plan.lists.some((l) => l.table === j.parentTable))) {
      assert.equal(count(job.table), stats.nested[job.path], job.path);
    }
    assert.ok(mutator.counts['customer.delete']! > 0 && mutator.counts['product.delete']! > 0);
    // The sync log tells the story.
    const kinds = (await db.sql.unsafe(`select kind from "${db.schema}"._sync_log where account_id = $1 order by id`, [ACCOUNT])).map((r) => r.kind);
    assert.deepEqual(kinds.slice(0, 3), ['backfill_started', 'backfill_complete', 'events_caught_up']);
    assert.ok(mutator.unsupported.size > 0 || mutator.counts['subscription.create']! > 0, 'subscriptions are written when the emulator can');
    assert.ok(!lines.some((l) => l.includes(emulator.apiKey)), 'the key never appears in logs');
  });

  test('deleted objects keep their row with _deleted_at; a replayed older event cannot revive or regress them', async () => {
    const customer = await http.call('POST', '/v1/customers', { name: 'to delete' });
    await http.call('POST', `/v1/customers/${String(customer.id)}`, { name: 'renamed' });
    await http.call('DELETE', `/v1/customers/${String(customer.id)}`);
    await fetch(`${sync.url}/wait`);
    const [row] = await db.sql.unsafe(`select _deleted_at, _raw->>'name' as name, _event_created from "${db.schema}".customer where id = $1`, [String(customer.id)]);
    assert.ok(row?._deleted_at instanceof Date);
    assert.equal(row.name, 'renamed');
    const state = await db.sql.unsafe(`select * from "${db.schema}"._sync_state where account_id = $1`, [ACCOUNT]);
    assert.equal(state.length, 1);
  });

  test('updates within one second keep Stripe order', async () => {
    const customer = await http.call('POST', '/v1/customers', { name: 'v0' });
    const id = String(customer.id);
    // Several updates in a burst; keep trying until at least three share a second.
    for (let attempt = 0; attempt < 5; attempt++) {
      for (let i = 1; i <= 6; i++) await http.call('POST', `/v1/customers/${id}`, { name: `v${attempt}-${i}` });
      const events = ((await http.call('GET', '/v1/events', { limit: '6', type: 'customer.updated' })).data as Array<{ created: number }>);
      if (new Set(events.map((e) => e.created)).size < events.length) break;
    }
    await fetch(`${sync.url}/wait`);
    const live = await http.call('GET', `/v1/customers/${id}`);
    const [row] = await db.sql.unsafe(`select _raw, to_char(_event_created, 'US') as us from "${db.schema}".customer where id = $1`, [id]);
    assert.deepEqual(row?._raw, live);
    // The position within the second is recorded in the microseconds of _event_created.
    assert.notEqual(row?.us, undefined);
  });

  test('/wait: read-after-write', async () => {
    const customer = await http.call('POST', '/v1/customers', { name: 'before' });
    for (let i = 0; i < 5; i++) {
      const name = `after ${i}`;
      await http.call('POST', `/v1/customers/${String(customer.id)}`, { name });
      const response = await fetch(`${sync.url}/wait`);
      assert.equal(response.status, 200);
      const [row] = await db.sql.unsafe(`select name from "${db.schema}".customer where id = $1`, [String(customer.id)]);
      assert.equal(row?.name, name, 'the write is readable as soon as /wait answers');
    }
    const bad = await fetch(`${sync.url}/wait?timeout_ms=abc`);
    assert.equal(bad.status, 400);
  });

  test('a poll that hangs does not hold back the next ones (polls start every interval)', async () => {
    const customer = await http.call('POST', '/v1/customers', { name: 'slow poll' });
    await fetch(`${sync.url}/wait`);
    // The next poll's request takes 12 s; the following ticks must not wait for it.
    emulator.injectFault('slow=12s', { method: 'GET', path: '/v1/events', times: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await http.call('POST', `/v1/customers/${String(customer.id)}`, { name: 'seen anyway' });
    // No /wait here: it would start a poll of its own.
    const deadline = Date.now() + 8_000;
    let name: unknown;
    while (Date.now() < deadline && name !== 'seen anyway') {
      [{ name } = { name: undefined }] = await db.sql.unsafe(`select name from "${db.schema}".customer where id = $1`, [String(customer.id)]);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(name, 'seen anyway');
    assert.equal(emulator.faultsInjected().slow, 1, 'the slow poll happened');
  });

  test('/status: rows per table, backfill progress, event lag, last error', async () => {
    const response = await fetch(`${sync.url}/status?exact=true`);
    assert.equal(response.status, 200);
    const status = (await response.json()) as { accounts: Array<{ account: string; state: string; events: { lag_ms: number; cursor: string }; backfill: { phase: string }; database: { backfill: { complete: boolean } } }>; tables: Record<string, { rows: number }> };
    const account = status.accounts[0]!;
    assert.equal(account.account, ACCOUNT);
    assert.equal(account.state, 'polling');
    assert.equal(account.backfill.phase, 'done');
    assert.equal(account.database.backfill.complete, true);
    assert.ok(account.events.lag_ms < 5000, `lag ${account.events.lag_ms}`);
    assert.ok(status.tables.customer!.rows > 100);
  });
});
