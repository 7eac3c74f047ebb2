// Upcoming invoices (the virtual table): one row per active subscription and one per customer
// having one, equal to what Stripe computes, following subscription changes; both API styles.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startStripeEmulator, type StripeEmulator } from '../../src/stripe-emulator/index.ts';
import { startStripeSync, type StartedSync } from '../../src/stripe-sync/command.ts';
import { createRequestBudget } from '../../src/stripe-sync/request-budget.ts';
import { RowWriter, stampRead } from '../../src/stripe-sync/row-writer.ts';
import { toRow } from '../../src/stripe-sync/schema-mapping.ts';
import { StripeClient } from '../../src/stripe-sync/stripe-client.ts';
import { UpcomingInvoices } from '../../src/stripe-sync/upcoming-invoices.ts';
import { capturingLogger, createTestSchema, eventually, StripeHttp, syncConfigFor, type JsonObject, type TestSchema } from './support/harness.ts';

const ACCOUNT = 'acct_upcoming';

/** Whether the emulator computes upcoming invoices and writes subscriptions (it grows over time). */
async function emulatorSupports(http: StripeHttp): Promise<string | undefined> {
  for (const [method, path] of [['GET', '/v1/invoices/upcoming'], ['POST', '/v1/subscriptions']] as const) {
    try {
      await http.call(method, path, {});
    } catch (err) {
      if ((err as { status?: number }).status === 501) return `the emulator does not emulate ${method} ${path} yet`;
    }
  }
  return undefined;
}

describe('upcoming invoices against the emulator', () => {
  let emulator: StripeEmulator;
  let db: TestSchema;
  let http: StripeHttp;
  let sync: StartedSync;
  let unsupported: string | undefined;

  before(async () => {
    emulator = await startStripeEmulator({ customers: 25, seed: 17, rateLimit: 0 });
    http = new StripeHttp(emulator);
    unsupported = await emulatorSupports(http);
    db = await createTestSchema();
  });
  after(async () => {
    await sync?.stop();
    await db.drop();
    await emulator.stop();
  });

  const rows = async () => (await db.sql.unsafe(`select customer, subscription, total, _raw from "${db.schema}".upcoming_invoice where _account_id = $1 order by customer, subscription nulls first`, [ACCOUNT])) as unknown as Array<{ customer: string; subscription: string | null; total: number; _raw: JsonObject }>;
  const stripeUpcoming = (customer: string, subscription: string | null) => http.call('GET', '/v1/invoices/upcoming', { customer, ...(subscription ? { subscription } : {}) });
  const wait = async () => assert.equal((await fetch(`${sync.url}/wait?upcoming=true`)).status, 200);

  test('one row per active subscription and per customer with one, equal to Stripe; they follow creation, changes and cancellation', async (t) => {
    if (unsupported) return t.skip(unsupported);
    const { logger } = capturingLogger();
    sync = await startStripeSync('run', await syncConfigFor(emulator, db.schema, { STRIPE_SYNC_UPCOMING_INVOICES: 'auto', STRIPE_SYNC_UPCOMING_REFRESH_INTERVAL: '0', STRIPE_SYNC_PER_PARENT: 'none' }, ACCOUNT), { logger, sql: db.sql });
    await sync.done;
    const upcoming = sync.engine.accounts[0]!.upcoming;
    const targets = await upcoming.targets();
    assert.ok(targets.length > 10);
    await eventually(async () => (await rows()).length === targets.length && upcoming.status().queued === 0, 30_000, 'every upcoming invoice fetched');
    for (const row of await rows()) {
      assert.deepEqual(row._raw, await stripeUpcoming(row.customer, row.subscription), `${row.customer} ${row.subscription}`);
    }
    assert.equal(upcoming.status().api, 'upcoming');

    // A customer with no subscription subscribes: two rows appear.
    const subscribed = new Set(targets.map((x) => x.customer));
    const customer = String((await http.listAll('/v1/customers')).find((c) => !subscribed.has(String(c.id)))!.id);
    const price = String((await http.listAll('/v1/prices', { type: 'recurring' }))[0]!.id);
    const subscription = await http.call('POST', '/v1/subscriptions', { customer, 'items[0][price]': price });
    await wait();
    const mine = async () => (await rows()).filter((r) => r.customer === customer);
    assert.deepEqual((await mine()).map((r) => r.subscription), [null, String(subscription.id)]);
    for (const row of await mine()) assert.deepEqual(row._raw, await stripeUpcoming(row.customer, row.subscription));

    // A change of quantity changes the next invoice.
    const item = (subscription.items as { data: JsonObject[] }).data[0]!;
    const before = (await mine())[1]!.total;
    await http.call('POST', `/v1/subscription_items/${String(item.id)}`, { quantity: '3' });
    await wait();
    const changed = (await mine())[1]!;
    assert.notEqual(changed.total, before);
    assert.deepEqual(changed._raw, await stripeUpcoming(customer, String(subscription.id)));

    // Canceled: no upcoming invoice any more, for the subscription nor the customer.
    await http.call('DELETE', `/v1/subscriptions/${String(subscription.id)}`);
    await wait();
    assert.deepEqual(await mine(), []);
  });
});

describe('upcoming invoices: API styles', () => {
  let db: TestSchema;
  let server: Server;
  let url = '';
  let mode: 'both' | 'preview-only' | 'none' = 'both';
  const calls: string[] = [];

  before(async () => {
    db = await createTestSchema();
    server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      calls.push(`${req.method} ${path}`);
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const invoice = () => send(200, { object: 'invoice', customer: 'cus_1', subscription: 'sub_1', total: 1234, amount_due: 1234, currency: 'usd', lines: { object: 'list', data: [], has_more: false } });
      if (mode === 'none') return send(501, { error: { type: 'api_error', message: 'not here' } });
      if (path === '/v1/invoices/upcoming' && req.method === 'GET') {
        if (mode === 'preview-only') return send(404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL (GET: /v1/invoices/upcoming).' } });
        return invoice();
      }
      if (path === '/v1/invoices/create_preview' && req.method === 'POST') return invoice();
      return send(404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${path}).` } });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    // One active subscription (customer cus_1) for the refresher to find.
    await new RowWriter(db.schema).upsert(db.sql, 'subscription', [stampRead(toRow('subscription', { id: 'sub_1', object: 'subscription', customer: 'cus_1', status: 'active' }, { accountId: ACCOUNT }), Date.now())]);
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await db.drop();
  });

  const refresher = (api: 'auto' | 'upcoming' | 'create_preview') =>
    new UpcomingInvoices({
      sql: db.sql,
      writer: new RowWriter(db.schema),
      schema: db.schema,
      accountId: ACCOUNT,
      client: new StripeClient({ apiKey: 'sk_test_x', accountLabel: ACCOUNT, apiBase: url, apiVersion: '2023-08-16', budget: createRequestBudget({ key: 'x', maxRps: 0 }), startingDelayMs: 5 }),
      logger: capturingLogger().logger,
      api,
      refreshIntervalMs: 0,
    });
  const keys = async () => (await db.sql.unsafe(`select customer, subscription from "${db.schema}".upcoming_invoice order by subscription nulls first`)).map((r) => `${r.customer}/${r.subscription ?? '-'}`);

  test('auto falls back to POST /v1/invoices/create_preview where GET /v1/invoices/upcoming is gone; rows are keyed by what was asked', async () => {
    mode = 'preview-only';
    calls.length = 0;
    const u = refresher('auto');
    await u.refreshAll();
    assert.equal(u.status().api, 'create_preview');
    // The customer-level preview names the subscription, but its row stays keyed (cus_1, null).
    assert.deepEqual(await keys(), ['cus_1/-', 'cus_1/sub_1']);
    assert.ok(calls.includes('GET /v1/invoices/upcoming') && calls.includes('POST /v1/invoices/create_preview'));
    await u.stop();
  });

  test('an explicit style is used as is; a server with neither turns the table off with a reason', async () => {
    mode = 'both';
    calls.length = 0;
    const u = refresher('upcoming');
    await u.refreshAll();
    assert.ok(calls.every((c) => c === 'GET /v1/invoices/upcoming'));
    await u.stop();
    mode = 'none';
    const off = refresher('auto');
    await off.refreshAll();
    assert.match(String(off.status().disabled), /does not answer POST \/v1\/invoices\/create_preview \(501\)/);
    await off.stop();
  });
});
