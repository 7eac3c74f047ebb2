// The engine's pieces on their own: settings, Stripe's form encoding, the sync plan, segment
// splitting and the oldest-object probe, the SQL version guard, deletes, the shared request
// budget, and the client's retries (429/5xx, Stripe-Should-Retry, Retry-After, 401).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pLimit from 'p-limit';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';
import { projectRoot } from '../../src/platform/project-root.ts';
import { createRedis } from '../../src/platform/redis.ts';
import { createRequestBudget } from '../../src/stripe-sync/request-budget.ts';
import { cascadeDelete, eventVersionText, RowWriter, stampEvent, stampRead, sweepUnseen } from '../../src/stripe-sync/row-writer.ts';
import { toRow, schemaMapping, tableMapping } from '../../src/stripe-sync/schema-mapping.ts';
import { newSegment, probeOldest, splitPoint, remainingEstimate } from '../../src/stripe-sync/segments.ts';
import { parseDuration } from '../../src/platform/config.ts';
import { syncSettings } from '../../src/stripe-sync/settings.ts';
import { encodeParams, StripeApiError, StripeAuthError, StripeClient } from '../../src/stripe-sync/stripe-client.ts';
import { cascadeOf, selectParentJobs, syncPlan } from '../../src/stripe-sync/sync-plan.ts';
import { isDeletion } from '../../src/stripe-sync/event-applier.ts';
import { createHttpServer } from '../../src/platform/http-server.ts';
import { createMetricsRegistry } from '../../src/platform/metrics.ts';
import type { SyncEngine } from '../../src/stripe-sync/engine.ts';
import { registerWaitRoute } from '../../src/stripe-sync/wait-endpoint.ts';
import { capturingLogger, createTestSchema, type TestSchema } from './support/harness.ts';

describe('settings', () => {
  const env = { DATABASE_URL: 'postgres://u:secretpw@localhost/db' };
  test('keys: KEY or LABEL=KEY, comma-separated; errors never quote a key', () => {
    const config = loadConfig(syncSettings, {}, { ...env, STRIPE_KEY: 'sk_test_aaaa1111,acct_b=rk_live_bbbb2222' });
    assert.deepEqual(config.stripeKey, [{ key: 'sk_test_aaaa1111' }, { label: 'acct_b', key: 'rk_live_bbbb2222' }]);
    assert.equal(config.maxRps, 50);
    assert.equal(config.concurrency, 50);
    assert.equal(config.pollInterval, 500);
    assert.equal(config.reconcileInterval, 86_400_000);
    assert.equal(config.port, 8787);
    assert.equal(config.stripeVersion, '2023-08-16');
    assert.equal(config.stripeApiBase, 'https://api.stripe.com');
    assert.throws(() => loadConfig(syncSettings, {}, { ...env, STRIPE_KEY: 'pk_test_cccc3333secret' }), (err: Error) => err instanceof ConfigError && /publishable/.test(err.message) && !err.message.includes('cccc3333'));
    assert.throws(() => loadConfig(syncSettings, {}, { ...env, STRIPE_KEY: 'bad label!=sk_test_dddd4444' }), (err: Error) => /label/.test(err.message) && !err.message.includes('dddd4444'));
    assert.throws(() => loadConfig(syncSettings, {}, { ...env }), (err: Error) => /STRIPE_KEY \(--stripe-key\)/.test(err.message));
  });

  test('durations and the other knobs', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('2s'), 2000);
    assert.equal(parseDuration('6h'), 21_600_000);
    assert.equal(parseDuration('1d'), 86_400_000);
    assert.equal(parseDuration('off'), 0);
    assert.equal(parseDuration('soon'), undefined);
    const config = loadConfig(syncSettings, { pollInterval: '250ms', hardDeletes: true, maxRps: '20' }, { ...env, STRIPE_KEY: 'sk_test_x', STRIPE_ACCOUNT: 'acct_1,acct_2' });
    assert.equal(config.pollInterval, 250);
    assert.equal(config.hardDeletes, true);
    assert.equal(config.maxRps, 20);
    assert.deepEqual(config.stripeAccount, ['acct_1', 'acct_2']);
    assert.throws(() => loadConfig(syncSettings, { pollInterval: 'soon' }, { ...env, STRIPE_KEY: 'sk_test_x' }), /STRIPE_SYNC_POLL_INTERVAL/);
  });
});

describe('Stripe form encoding', () => {
  test('nested objects, arrays and expand[]', () => {
    assert.deepEqual(
      decodeURIComponent(encodeParams({ limit: 100, created: { gte: 1, lt: 5 }, expand: ['data.sources', 'data.tax_ids'], scope: { type: 'account' }, skip: undefined }).join('&')),
      'limit=100&created[gte]=1&created[lt]=5&expand[]=data.sources&expand[]=data.tax_ids&scope[type]=account',
    );
  });
});

describe('sync plan', () => {
  const plan = syncPlan();
  test('every table has a route: a list, a parent sub-list, a per-parent walk, or events (documented)', () => {
    const tables = schemaMapping().tables.filter((t) => t.kind !== 'virtual').map((t) => t.table);
    for (const t of tables) assert.ok(plan.routes.has(t), t);
    assert.deepEqual(plan.eventsOnly.sort(), ['discount', 'financial_connections_session', 'mandate', 'source_mandate_notification', 'tax_transaction', 'tax_transaction_line_item', 'token']);
    const customers = plan.lists.find((j) => j.table === 'customer')!;
    assert.deepEqual(customers.params.expand, ['data.sources', 'data.tax_ids']);
    assert.deepEqual(plan.lists.find((j) => j.table === 'subscription')!.params, { status: 'all' });
    assert.equal(plan.lists.find((j) => j.table === 'invoiceitem')!.createdField, 'date');
    assert.equal(plan.lists.find((j) => j.table === 'reporting_report_type')!.paginated, false);
    assert.deepEqual(plan.lists.find((j) => j.table === 'invoice')!.children.map((c) => c.table), ['invoice_line_item']);
    assert.deepEqual(plan.lists.find((j) => j.table === 'subscription')!.children.map((c) => [c.table, c.removeStale]), [['subscription_item', true]]);
  });

  test('only sub-lists Stripe leaves out by default are expanded (checked against the spec)', () => {
    // Stripe returns an account's external_accounts without expand[] ("only returned for requests
    // where controller[is_controller] is true"), though the spec lists the field as expandable.
    const includedAnyway = new Set(['account.external_accounts']);
    const spec = JSON.parse(readFileSync(join(projectRoot, '..', 'shared', 'stripe', 'spec3.json'), 'utf8')) as { components: { schemas: Record<string, { required?: string[]; 'x-expandableFields'?: string[] }> } };
    for (const job of plan.lists) {
      const schema = spec.components.schemas[tableMapping(job.table).schema]!;
      for (const child of job.children) {
        const expandable = schema['x-expandableFields']?.includes(child.property) ?? false;
        const leftOut = expandable && !schema.required?.includes(child.property) && !includedAnyway.has(`${job.table}.${child.property}`);
        assert.equal(job.expanded.includes(child.property), leftOut, `${job.table}.${child.property}`);
      }
    }
  });

  test('--per-parent selects the phase-2 walks; deletions cascade to what only the parent reaches', () => {
    assert.ok(selectParentJobs(plan, 'default').some((j) => j.table === 'customer_balance_transaction'));
    assert.ok(!selectParentJobs(plan, 'default').some((j) => j.table === 'payment_method'));
    assert.ok(selectParentJobs(plan, 'all').some((j) => j.table === 'payment_method'));
    assert.deepEqual(selectParentJobs(plan, 'none'), []);
    assert.deepEqual(selectParentJobs(plan, 'setup_attempt').map((j) => j.path), ['/v1/setup_attempts']);
    assert.throws(() => selectParentJobs(plan, 'customer'), /no per-parent route for customer/);
    assert.deepEqual(cascadeOf('customer').map((c) => c.table).sort(), ['bank_account', 'card', 'customer_balance_transaction', 'customer_cash_balance_transaction', 'source', 'tax_id']);
    assert.deepEqual(cascadeOf('subscription'), [{ table: 'subscription_item', column: 'subscription' }]);
    assert.equal(isDeletion('customer.deleted'), true);
    assert.equal(isDeletion('customer.subscription.deleted'), false, 'a canceled subscription still exists');
  });
});

describe('segments', () => {
  test('split points stay inside the remaining range, at or below the walk cursor', () => {
    const seg = newSegment('list:/v1/charges', 0, { gte: 1000, cursorCreated: 2000, firstCreated: 3000, rowsSeen: 500 });
    const m = splitPoint(seg)!;
    assert.ok(m > 1000 && m <= 2000);
    assert.equal(remainingEstimate(seg), 500);
    assert.equal(splitPoint({ ...seg, cursorCreated: 1001 }), undefined);
    assert.equal(splitPoint({ ...seg, gte: null }), undefined);
  });

  test('the probe finds a lower bound of the oldest object in a few requests', async () => {
    const created = Array.from({ length: 5000 }, (_, i) => 1_600_000_000 + i * 997);
    let requests = 0;
    const bound = await probeOldest(async (p) => {
      requests++;
      const lt = (p.created as { lt: number }).lt;
      const below = created.filter((c) => c < lt);
      return { object: 'list', data: below.length ? [{ created: below[below.length - 1] }] : [], has_more: below.length > 1 };
    }, created[created.length - 1]!);
    assert.ok(bound <= created[0]!, 'nothing is older than the bound');
    assert.ok(created[0]! - bound <= (created[created.length - 1]! - bound) / 16, `bound ${created[0]! - bound} s below the oldest`);
    assert.ok(requests <= 20, `${requests} requests`);
    // With another list's bottom as a hint: one request confirms it, a few refine it.
    requests = 0;
    const hinted = await probeOldest(async (p) => {
      requests++;
      const lt = (p.created as { lt: number }).lt;
      const below = created.filter((c) => c < lt);
      return { object: 'list', data: below.length ? [{ created: below[below.length - 1] }] : [], has_more: below.length > 1 };
    }, created[created.length - 1]!, 'created', created[0]! - 3600);
    assert.ok(hinted <= created[0]!);
    assert.ok(requests <= 8, `${requests} requests with a hint`);
  });
});

describe('row writer: the version guard in SQL', () => {
  let db: TestSchema;
  let writer: RowWriter;
  const A = 'acct_guard';
  const customer = (name: string, id = 'cus_guard') => ({ id, object: 'customer', name, created: 1_700_000_000, metadata: {} });
  const read = async (id = 'cus_guard') => (await db.sql.unsafe(`select name, _deleted_at, _event_created from "${db.schema}".customer where _account_id = $1 and id = $2`, [A, id]))[0];

  before(async () => {
    db = await createTestSchema();
    writer = new RowWriter(db.schema);
  });
  after(() => db.drop());

  test('events order by created and position; a replayed older event changes nothing', async () => {
    const t = 1_800_000_000;
    const row = (name: string, created: number, position: number) => stampEvent(toRow('customer', customer(name), { accountId: A }), created, position, false);
    assert.deepEqual([...(await writer.upsert(db.sql, 'customer', [row('second', t, 1)]))], ['cus_guard']);
    assert.equal((await writer.upsert(db.sql, 'customer', [row('first', t, 0)])).size, 0, 'same second, earlier position: refused');
    assert.equal((await read())?.name, 'second');
    await writer.upsert(db.sql, 'customer', [row('third', t, 2)]);
    assert.equal((await read())?.name, 'third');
    assert.equal(eventVersionText(t, 2).endsWith('.000002Z'), true);
    // Several states of one object in one batch: the newest is kept.
    await writer.upsert(db.sql, 'customer', [row('b5', t + 1, 5), row('b9', t + 1, 9), row('b7', t + 1, 7)]);
    assert.equal((await read())?.name, 'b9');
  });

  test('a list read loses to an event up to two seconds older, wins over older ones', async () => {
    const now = Date.now();
    const ev = (name: string, created: number) => stampEvent(toRow('customer', customer(name, 'cus_read'), { accountId: A }), created, 0, false);
    const rd = (name: string, at: number) => stampRead(toRow('customer', customer(name, 'cus_read'), { accountId: A }), at);
    await writer.upsert(db.sql, 'customer', [ev('event', Math.floor(now / 1000) - 1)]);
    await writer.upsert(db.sql, 'customer', [rd('read 1 s after', now)]);
    assert.equal((await read('cus_read'))?.name, 'event', 'an event one second before the read may not be in it');
    await writer.upsert(db.sql, 'customer', [rd('read 5 s after', now + 4000)]);
    assert.equal((await read('cus_read'))?.name, 'read 5 s after');
    await writer.upsert(db.sql, 'customer', [ev('old event replayed', Math.floor(now / 1000) - 1)]);
    assert.equal((await read('cus_read'))?.name, 'read 5 s after');
  });

  test('deletes: _deleted_at, or gone with a tombstone that keeps an older read out; cascades; sweeps', async () => {
    const t = 1_800_000_100;
    const del = stampEvent(toRow('customer', customer('gone', 'cus_del'), { accountId: A }), t, 0, true);
    await writer.upsert(db.sql, 'customer', [del]);
    assert.ok((await read('cus_del'))?._deleted_at instanceof Date);
    const hard = new RowWriter(db.schema, { hardDeletes: true });
    await hard.upsert(db.sql, 'customer', [stampEvent(toRow('customer', customer('gone', 'cus_hard'), { accountId: A }), t, 0, true)]);
    assert.equal(await read('cus_hard'), undefined);
    // A list read sent before the deletion arrives late: the tombstone keeps it out.
    await hard.upsert(db.sql, 'customer', [stampRead(toRow('customer', customer('stale read', 'cus_hard'), { accountId: A }), t * 1000 - 500)]);
    assert.equal(await read('cus_hard'), undefined);
    // Children only the deleted customer reaches go with it.
    const taxId = { id: 'txi_1', object: 'tax_id', customer: 'cus_del', type: 'eu_vat', value: 'DE1', created: t - 50 };
    await writer.upsert(db.sql, 'tax_id', [stampRead(toRow('tax_id', taxId, { accountId: A }), (t - 60) * 1000)]);
    assert.equal(await cascadeDelete(writer, db.sql, 'tax_id', 'customer', A, [{ parentId: 'cus_del', version: del }]), 1);
    const [tax] = await db.sql.unsafe(`select _deleted_at from "${db.schema}".tax_id where id = 'txi_1'`);
    assert.ok(tax?._deleted_at instanceof Date);
    // A re-backfill that did not see a row (and no later event touched it) marks it deleted.
    await writer.upsert(db.sql, 'customer', [stampRead(toRow('customer', customer('unseen', 'cus_unseen'), { accountId: A }), Date.now() - 60_000)]);
    assert.equal(await sweepUnseen(writer, db.sql, 'customer', A, Date.now()), 1);
    assert.ok((await read('cus_unseen'))?._deleted_at instanceof Date);
  });

  test('child rows missing from a complete sub-list are removed unless newer', async () => {
    const t = 1_800_000_200;
    const line = (id: string) => stampEvent(toRow('invoice_line_item', { id, object: 'line_item', amount: 1 }, { accountId: A, parentId: 'in_1' }), t, 0, false);
    await writer.upsert(db.sql, 'invoice_line_item', [line('il_1'), line('il_2')]);
    const parent = stampEvent({}, t + 1, 0, false);
    await writer.removeStaleChildren(db.sql, 'invoice_line_item', A, [{ parentId: 'in_1', keep: ['il_2'], version: parent }]);
    const ids = (await db.sql.unsafe(`select id from "${db.schema}".invoice_line_item where _account_id = $1 order by id`, [A])).map((r) => r.id);
    assert.deepEqual(ids, ['il_2']);
  });
});

describe('request budget', () => {
  test('two budgets on one Redis key share the rate; live requests go first', async () => {
    const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { name: 'budget-test', enableOfflineQueue: false });
    await new Promise((resolve) => redis.once('ready', resolve));
    const key = `test-${Date.now()}-${Math.random()}`;
    const a = createRequestBudget({ redis, key, maxRps: 20 });
    const b = createRequestBudget({ redis, key, maxRps: 20 });
    const started = performance.now();
    const order: string[] = [];
    const grants = [...Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).acquire('bulk').then(() => order.push('bulk'))), a.acquire('live').then(() => order.push('live'))];
    await Promise.all(grants);
    const seconds = (performance.now() - started) / 1000;
    // 31 requests at 20/s across both processes need at least one window boundary: ≥ ~0.5 s.
    assert.ok(seconds > 0.5, `31 requests took ${seconds.toFixed(2)} s`);
    assert.ok(order.indexOf('live') < 6, `live granted at position ${order.indexOf('live')}`);
    a.close();
    b.close();
    redis.disconnect();
  });

  test('a late turn (a busy event loop, a slow Redis) takes the slots that passed instead of losing them', async () => {
    const budget = createRequestBudget({ key: `late-${Math.random()}`, maxRps: 50 });
    const at: number[] = [];
    const grants = Array.from({ length: 30 }, () => budget.acquire().then(() => at.push(performance.now())));
    // Block the event loop for 300 ms (15 slots at 50/s) right after the first grant.
    await Promise.race(grants);
    const until = performance.now() + 300;
    while (performance.now() < until);
    await Promise.all(grants);
    budget.close();
    // The slots that passed are granted together (up to a fifth of a second's worth: 10), not one per 20 ms.
    let together = 1;
    for (let i = 1, run = 1; i < at.length; i++) together = Math.max(together, (run = at[i]! - at[i - 1]! < 5 ? run + 1 : 1));
    assert.ok(together >= 5, `at most ${together} grants at once`);
  });

  test('Redis away: the budget paces in process instead of stopping', async () => {
    const redis = createRedis('redis://127.0.0.1:1', { name: 'budget-down', enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    redis.on('error', () => {});
    const budget = createRequestBudget({ redis, key: 'down', maxRps: 50 });
    const started = performance.now();
    await Promise.all(Array.from({ length: 10 }, () => budget.acquire()));
    assert.ok(performance.now() - started < 2000);
    budget.close();
    redis.disconnect();
  });
});

describe('Stripe client: retries and errors', () => {
  let server: ReturnType<typeof createServer>;
  let url = '';
  const script: Array<(res: ServerResponse, req: IncomingMessage) => void> = [];
  const seen: IncomingMessage[] = [];
  const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => (res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req);
      const next = script.shift();
      if (next) next(res, req);
      else reply(200, { object: 'list', data: [], has_more: false })(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const client = () => new StripeClient({ apiKey: 'sk_test_supersecret123456', accountLabel: 'acct_x', apiBase: url, apiVersion: '2023-08-16', budget: createRequestBudget({ key: 'x', maxRps: 0 }), startingDelayMs: 5, maxDelayMs: 50 });

  test('429 and 5xx are retried (Retry-After honoured), with the key, version and account headers', async () => {
    seen.length = 0;
    script.push(reply(429, { error: { type: 'rate_limit_error', message: 'slow down' } }, { 'retry-after': '0.05' }), reply(503, { error: { type: 'api_error' } }), (res) => res.destroy());
    const started = performance.now();
    const response = await client().get('/v1/customers', { limit: 1 });
    assert.deepEqual(response.body, { object: 'list', data: [], has_more: false });
    assert.ok(performance.now() - started >= 50, 'waited Retry-After');
    assert.equal(seen.length, 4);
    assert.equal(seen[0]!.headers.authorization, 'Bearer sk_test_supersecret123456');
    assert.equal(seen[0]!.headers['stripe-version'], '2023-08-16');
  });

  test('a more urgent request is not held behind pages waiting for the budget', async () => {
    seen.length = 0;
    const budget = createRequestBudget({ key: `order-${Math.random()}`, maxRps: 20 });
    const c = new StripeClient({ apiKey: 'sk_test_supersecret123456', accountLabel: 'acct_x', apiBase: url, apiVersion: '2023-08-16', budget, inFlight: pLimit(2) });
    const pages = Array.from({ length: 6 }, (_, i) => c.get(`/v1/page${i}`));
    const serial = c.get('/v1/serial', {}, { priority: 'serial' });
    await Promise.all([...pages, serial]);
    budget.close();
    const order = seen.map((r) => String(r.url).split('?')[0]);
    assert.ok(order.indexOf('/v1/serial') <= 2, `sent in position ${order.indexOf('/v1/serial')}: ${order.join(' ')}`);
  });

  test('Stripe-Should-Retry: false is not retried; 401 is fatal and names the account, never the key', async () => {
    seen.length = 0;
    script.push(reply(500, { error: { type: 'api_error', message: 'nope' } }, { 'stripe-should-retry': 'false' }));
    await assert.rejects(client().get('/v1/customers'), (err: Error) => err instanceof StripeApiError && err.status === 500);
    assert.equal(seen.length, 1);
    script.push(reply(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided: sk_test_supersecret123456' } }));
    await assert.rejects(client().get('/v1/customers'), (err: Error) => err instanceof StripeAuthError && /acct_x/.test(err.message) && /--stripe-key/.test(err.message) && !err.message.includes('supersecret'));
  });
});

describe('GET /wait', () => {
  test('answers 504 with a clear JSON error when Postgres does not catch up in time, 400 on bad input', async () => {
    const engine = {
      accounts: [{ accountId: 'acct_slow', state: 'backfilling' }],
      waitFresh: () => new Promise(() => {}),
    } as unknown as SyncEngine;
    const app = createHttpServer({ name: 'wait-test', logger: capturingLogger().logger, registry: createMetricsRegistry('wait-test') });
    registerWaitRoute(app, engine);
    const late = await app.inject({ url: '/wait?timeout_ms=50' });
    assert.equal(late.statusCode, 504);
    assert.deepEqual(late.json(), { error: { type: 'api_error', code: 'wait_timeout', message: 'Postgres did not catch up with Stripe within 50 ms (acct_slow: backfilling); GET /status says why' } });
    const bad = await app.inject({ url: '/wait?timeout_ms=-1' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.fields[0].field, 'timeout_ms');
    const unknown = await app.inject({ url: '/wait?account=acct_other' });
    assert.equal(unknown.statusCode, 404);
    await app.close();
  });
});

describe('row writer: columns computed in SQL from _raw', () => {
  let fast: TestSchema;
  let reference: TestSchema;
  before(async () => {
    fast = await createTestSchema();
    reference = await createTestSchema();
  });
  after(async () => {
    await fast.drop();
    await reference.drop();
  });

  test('equal toRow()’s conversion for every fixture of every table (times, references, nulls, parents)', async () => {
    const fixtures = (JSON.parse(readFileSync(join(projectRoot, '..', 'shared', 'stripe', 'fixtures3.json'), 'utf8')) as { resources: Record<string, Record<string, unknown>> }).resources;
    const writer = new RowWriter(fast.schema);
    const at = Date.now();
    let compared = 0;
    for (const m of schemaMapping().tables) {
      const object = fixtures[m.schema];
      if (!object) continue;
      const options = { accountId: 'acct_fx', ...(m.kind === 'child' ? { parentId: 'parent_fx' } : {}) };
      const row = stampRead(toRow(m.table, object, options), at);
      if (m.kind === 'virtual') Object.assign(row, { customer: 'cus_fx', subscription: null });
      await writer.upsert(fast.sql, m.table, [row]);
      const { __v: _v, ...plain } = row;
      await reference.sql`insert into ${reference.sql(`${reference.schema}.${m.table}`)} ${reference.sql(plain)}`;
      const cols = m.columns.map((c) => `"${c.name}"`).join(', ');
      const differ = await fast.sql.unsafe(
        `select count(*)::int as n from (select ${cols} from "${fast.schema}"."${m.table}" except select ${cols} from "${reference.schema}"."${m.table}") d`,
      );
      assert.equal(differ[0]!.n, 0, `${m.table}: the SQL conversion differs from toRow()`);
      compared++;
    }
    assert.ok(compared >= 90, `${compared} tables compared`);
  });
});
