// Failures lose nothing: random 500s, dropped connections and 429s during a backfill; Postgres
// cut off while events arrive; a refused key stops with a clear message that never holds the key.
// Several accounts (keys and Connect accounts) sync side by side into one schema.
import assert from 'node:assert/strict';
import { createServer, Socket, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startStripeEmulator, type StripeEmulator } from '../../src/stripe-emulator/index.ts';
import { startStripeSync } from '../../src/stripe-sync/command.ts';
import { StripeAuthError } from '../../src/stripe-sync/stripe-client.ts';
import { testDatabaseUrl } from '../support/database.ts';
import { freePort } from '../support/ports.ts';
import { capturingLogger, compareWithEmulator, createTestSchema, liveCounts, Mutator, sleep, StripeHttp, syncConfigFor, type TestSchema } from './support/harness.ts';

describe('failures', () => {
  let emulator: StripeEmulator;
  let db: TestSchema;

  before(async () => {
    // 5% of requests fail (half 500s, half dropped connections) and 40 requests/s per key answer 429 beyond that.
    emulator = await startStripeEmulator({ customers: 60, seed: 21, rateLimit: 40, faultRate: 0.05, apiKeys: ['sk_test_emulator', 'sk_test_other'] });
    db = await createTestSchema();
  });
  after(async () => {
    await db.drop();
    await emulator.stop();
  });

  test('500s, dropped connections and 429s during a backfill: retried until every row is there; the key is never logged', async () => {
    const { logger, lines } = capturingLogger('debug');
    // No budget of our own: the emulator's rate limit answers 429 and the client backs off.
    const config = await syncConfigFor(emulator, db.schema, { STRIPE_SYNC_MAX_RPS: '0', STRIPE_SYNC_CONCURRENCY: '16', STRIPE_SYNC_PER_PARENT: 'none' }, 'acct_faults');
    const sync = await startStripeSync('backfill', config, { logger, sql: db.sql });
    await sync.done;
    await sync.stop();
    assert.ok(lines.some((l) => /retrying/.test(l)), 'some requests were retried');
    assert.ok(!lines.some((l) => l.includes(emulator.apiKey)), 'the key never appears in logs');
    await compareWithEmulator(db.sql, db.schema, emulator, 'acct_faults', { perParent: false });
  });

  test('a refused key stops the engine with a message naming the account, not the key', async () => {
    const { logger, lines } = capturingLogger('debug');
    const config = await syncConfigFor({ url: emulator.url, apiKey: 'sk_test_wrongwrongwrong1234' }, db.schema, {}, 'acct_refused');
    const sync = await startStripeSync('backfill', config, { logger, sql: db.sql });
    await assert.rejects(sync.done, (err: Error) => err instanceof StripeAuthError && /acct_refused/.test(err.message) && /--stripe-key/.test(err.message) && !err.message.includes('wrongwrong'));
    await sync.stop();
    assert.ok(!lines.some((l) => l.includes('wrongwrongwrong')), 'the refused key is not logged either');
  });

  test('an unlabelled key whose GET /v1/account keeps failing: a clear error asking for a label', async () => {
    const { logger } = capturingLogger();
    const config = await syncConfigFor(emulator, db.schema);
    config.stripeKey = [{ key: emulator.apiKey }];
    await fetch(`${emulator.url}/_emulator/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fault: 'api_error', method: 'GET', path: '/v1/account', times: 20 }) });
    try {
      const sync = await startStripeSync('backfill', config, { logger, sql: db.sql });
      await assert.rejects(sync.done, /give it a label: --stripe-key LABEL=KEY/);
      await sync.stop();
    } finally {
      await fetch(`${emulator.url}/_emulator/faults`, { method: 'DELETE' });
    }
  });
});

/** A TCP proxy to Postgres that can be cut and restored, to take the database away. */
async function postgresProxy(): Promise<{ url: string; cut: () => Promise<void>; restore: () => Promise<void>; close: () => Promise<void> }> {
  const target = new URL(testDatabaseUrl());
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = new Socket();
        upstream.connect(Number(target.port || 5432), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {});
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => resolve());
    });
  await listen();
  const url = new URL(target);
  url.port = String(port);
  url.hostname = '127.0.0.1';
  const cut = async () => {
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    for (const s of sockets) s.destroy();
  };
  return { url: url.toString(), cut: async () => { const closing = cut(); for (const s of sockets) s.destroy(); await closing; }, restore: listen, close: cut };
}

describe('Postgres going away and coming back', () => {
  let emulator: StripeEmulator;
  let db: TestSchema;

  before(async () => {
    emulator = await startStripeEmulator({ customers: 40, seed: 8, rateLimit: 0 });
    db = await createTestSchema();
  });
  after(async () => {
    await db.drop();
    await emulator.stop();
  });

  test('events that arrive while Postgres is down are applied once it is back; nothing is lost', async () => {
    const proxy = await postgresProxy();
    const { logger, lines } = capturingLogger();
    const config = await syncConfigFor(emulator, db.schema, { STRIPE_SYNC_PER_PARENT: 'none', DATABASE_URL: proxy.url }, 'acct_pgdown');
    config.databaseUrl = proxy.url;
    const sync = await startStripeSync('run', config, { logger });
    try {
      await sync.done;
      await proxy.cut();
      const http = new StripeHttp(emulator);
      const mutator = new Mutator(http, 9);
      await mutator.load();
      await mutator.run(60);
      await sleep(1500);
      await proxy.restore();
      const wait = await fetch(`${sync.url}/wait?timeout_ms=60000`);
      assert.equal(wait.status, 200);
      assert.ok(lines.some((l) => /postgres unavailable/.test(l)), 'the outage was noticed');
      await compareWithEmulator(db.sql, db.schema, emulator, 'acct_pgdown', { perParent: false });
    } finally {
      await sync.stop();
      await proxy.close();
    }
  });
});

describe('several accounts into one schema', () => {
  let emulator: StripeEmulator;
  let db: TestSchema;

  before(async () => {
    emulator = await startStripeEmulator({ customers: 30, seed: 13, rateLimit: 0, apiKeys: ['sk_test_first', 'sk_test_second'] });
    db = await createTestSchema();
  });
  after(async () => {
    await db.drop();
    await emulator.stop();
  });

  test('two keys and a Connect account: rows keyed by _account_id, cursors and logs per account', async () => {
    const { logger } = capturingLogger();
    const config = await syncConfigFor(emulator, db.schema, { STRIPE_KEY: 'acct_one=sk_test_first,acct_two=sk_test_second', STRIPE_ACCOUNT: 'acct_connected', STRIPE_SYNC_PER_PARENT: 'none' });
    const sync = await startStripeSync('run', config, { logger, sql: db.sql });
    await sync.done;
    assert.deepEqual(sync.engine.accounts.map((a) => a.accountId), ['acct_one', 'acct_connected', 'acct_two']);
    const customer = await new StripeHttp({ url: emulator.url, apiKey: 'sk_test_first' }).call('POST', '/v1/customers', { name: 'shared' });
    assert.equal((await fetch(`${sync.url}/wait`)).status, 200);
    assert.equal((await fetch(`${sync.url}/wait?account=acct_two`)).status, 200);
    assert.equal((await fetch(`${sync.url}/wait?account=acct_nobody`)).status, 404);
    // The emulator serves one account to every key, so each account holds the same objects, apart.
    const counts = await Promise.all(['acct_one', 'acct_two', 'acct_connected'].map((a) => liveCounts(db.sql, db.schema, a, ['customer', 'invoice', 'event'])));
    assert.deepEqual(counts[1], counts[0]);
    assert.deepEqual(counts[2], counts[0]);
    const owners = await db.sql.unsafe(`select _account_id from "${db.schema}".customer where id = $1 order by 1`, [String(customer.id)]);
    assert.deepEqual(owners.map((r) => r._account_id), ['acct_connected', 'acct_one', 'acct_two']);
    const states = await db.sql.unsafe(`select account_id from "${db.schema}"._sync_state order by 1`);
    assert.equal(states.length, 3);
    await sync.stop();
  });

  test('an unlabelled key: rows are keyed by the account GET /v1/account names', async () => {
    const { logger } = capturingLogger();
    const config = await syncConfigFor({ url: emulator.url, apiKey: 'sk_test_first' }, db.schema, { STRIPE_SYNC_PER_PARENT: 'none' });
    config.stripeKey = [{ key: 'sk_test_first' }];
    const account = (await new StripeHttp({ url: emulator.url, apiKey: 'sk_test_first' }).call('GET', '/v1/account', {})) as { id: string; object: string };
    assert.equal(account.object, 'account');
    const sync = await startStripeSync('backfill', config, { logger, sql: db.sql });
    await sync.done;
    await sync.stop();
    assert.deepEqual(sync.engine.accounts.map((a) => a.accountId), [account.id]);
    await compareWithEmulator(db.sql, db.schema, emulator, account.id, { perParent: false });
  });
});
