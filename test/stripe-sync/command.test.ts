// `ledgerline stripe-sync`: its roles and settings on the command line (through a commander
// program, as src/cli.ts registers it), and `status` reading the database.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import { registerStripeSyncCommand } from '../../src/stripe-sync/command.ts';
import { RowWriter, stampRead } from '../../src/stripe-sync/row-writer.ts';
import { toRow } from '../../src/stripe-sync/schema-mapping.ts';
import { SyncLog } from '../../src/stripe-sync/sync-log.ts';
import { testDatabaseUrl } from '../support/database.ts';
import { createTestSchema, type TestSchema } from './support/harness.ts';

let db: TestSchema;
before(async () => {
  db = await createTestSchema();
});
after(() => db.drop());

function program(): { program: Command; out: string[] } {
  const out: string[] = [];
  const p = new Command('ledgerline').exitOverride().configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => out.push(s) });
  registerStripeSyncCommand(p);
  for (const c of p.commands) {
    c.exitOverride().configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => out.push(s) });
    for (const sub of c.commands) sub.exitOverride().configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => out.push(s) });
  }
  return { program: p, out };
}

test('run, backfill and status, each with --help listing every setting and its variable', async () => {
  const { program: p, out } = program();
  await assert.rejects(p.parseAsync(['node', 'ledgerline', 'stripe-sync', '--help']));
  assert.match(out.join(''), /run[^]*backfill[^]*status/);
  out.length = 0;
  await assert.rejects(p.parseAsync(['node', 'ledgerline', 'stripe-sync', 'run', '--help']));
  const help = out.join('');
  for (const [flag, env] of [['--stripe-key', 'STRIPE_KEY'], ['--max-rps', 'STRIPE_SYNC_MAX_RPS'], ['--concurrency', 'STRIPE_SYNC_CONCURRENCY'], ['--poll-interval', 'STRIPE_SYNC_POLL_INTERVAL'], ['--hard-deletes', 'STRIPE_SYNC_HARD_DELETES'], ['--stripe-api-base', 'STRIPE_API_BASE'], ['--stripe-version', 'STRIPE_VERSION'], ['--port', 'STRIPE_SYNC_PORT'], ['--reconcile-interval', 'STRIPE_SYNC_RECONCILE_INTERVAL']]) {
    assert.match(help, new RegExp(`${flag}[^]*\\(env\\s+${env}\\)`), flag);
  }
});

test('status prints, from the database alone, the backfill, the cursor and rows per table', async () => {
  const log = new SyncLog(db.schema);
  const id = await log.write(db.sql, 'acct_status', 'backfill_started', { reason: 'initial', last_event_before_backfill: 'evt_1', per_parent: [] });
  await log.write(db.sql, 'acct_status', 'backfill_complete', { backfill_id: id, row_count: 1, requests: 1, duration_ms: 5 });
  await new RowWriter(db.schema).upsert(db.sql, 'customer', [stampRead(toRow('customer', { id: 'cus_s', object: 'customer', created: 1 }, { accountId: 'acct_status' }), Date.now())]);
  const writes: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    await program().program.parseAsync(['node', 'ledgerline', 'stripe-sync', 'status', '--json', '--database-url', testDatabaseUrl(), '--stripe-sync-schema', db.schema]);
    await program().program.parseAsync(['node', 'ledgerline', 'stripe-sync', 'status', '--database-url', testDatabaseUrl(), '--stripe-sync-schema', db.schema]);
  } finally {
    process.stdout.write = original;
  }
  const json = JSON.parse(writes[0]!) as { accounts: Array<{ account: string; backfill: { complete: boolean } }>; tables: Array<{ table: string; rows: number }> };
  assert.equal(json.accounts[0]!.account, 'acct_status');
  assert.equal(json.accounts[0]!.backfill.complete, true);
  assert.equal(json.tables.find((t) => t.table === 'customer')!.rows, 1);
  assert.match(writes[1]!, /account acct_status[^]*backfill #\d+ \(initial\)[^]*complete[^]*customer\s+1/);
});
