// The official SDK, unmodified, against a seeded emulator: auto-pagination over every list
// endpoint of the spec reaches exactly the counts of /_emulator/stats; retrieve, expand,
// created filters, backwards paging, search and the events window behave as on Stripe.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type Stripe from 'stripe';
import { startStripeEmulator, type EmulatorStats, type StripeEmulator } from '../../src/stripe-emulator/index.ts';
import { loadStripeSpec } from '../../src/stripe-emulator/spec.ts';
import { anyList, sdkFor } from './support/sdk.ts';

const NOW = 1_700_000_000;
const spec = loadStripeSpec();

/** Object type of the parent named by a nested list's first path parameter. */
const PARENTS: Record<string, string> = {
  '/v1/accounts/{account}': 'account', '/v1/application_fees/{id}': 'application_fee', '/v1/charges/{charge}': 'charge',
  '/v1/checkout/sessions/{session}': 'checkout.session', '/v1/credit_notes/{credit_note}': 'credit_note', '/v1/customers/{customer}': 'customer',
  '/v1/financial_connections/accounts/{account}': 'financial_connections.account', '/v1/linked_accounts/{account}': 'financial_connections.account',
  '/v1/invoices/{invoice}': 'invoice', '/v1/payment_links/{payment_link}': 'payment_link', '/v1/quotes/{quote}': 'quote', '/v1/sources/{source}': 'source',
  '/v1/subscription_items/{subscription_item}': 'subscription_item', '/v1/tax/calculations/{calculation}': 'tax.calculation',
  '/v1/tax/transactions/{transaction}': 'tax.transaction', '/v1/transfers/{id}': 'transfer',
};

/** Required filters of top-level lists: which objects' ids to pass. */
const REQUIRED: Record<string, { param: string; values: (ids: (o: string) => Promise<string[]>) => Promise<unknown[]> }> = {
  '/v1/subscription_items': { param: 'subscription', values: (ids) => ids('subscription') },
  '/v1/setup_attempts': { param: 'setup_intent', values: (ids) => ids('setup_intent') },
  '/v1/radar/value_list_items': { param: 'value_list', values: (ids) => ids('radar.value_list') },
  '/v1/apps/secrets': { param: 'scope', values: async () => [{ type: 'account' }] },
};
for (const path of ['credit_reversals', 'debit_reversals', 'inbound_transfers', 'outbound_payments', 'outbound_transfers', 'received_credits', 'received_debits', 'transaction_entries', 'transactions']) {
  REQUIRED[`/v1/treasury/${path}`] = { param: 'financial_account', values: (ids) => ids('treasury.financial_account') };
}

describe('SDK conformance: lists', () => {
  let emulator: StripeEmulator;
  let stripe: Stripe;
  let stats: EmulatorStats;
  const ids = async (object: string): Promise<string[]> => ((await (await fetch(`${emulator.url}/_emulator/ids/${object}`)).json()) as { ids: string[] }).ids;

  before(async () => {
    emulator = await startStripeEmulator({ seed: 3, customers: 25, rateLimit: 0, now: NOW });
    stripe = sdkFor(emulator);
    stats = (await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as EmulatorStats;
  });
  after(() => emulator.stop());

  /** Walks a list with the SDK's auto-pagination (small pages, so has_more is exercised). */
  async function walk(path: string, params: Record<string, unknown> = {}) {
    const template = spec.lists.find((l) => new RegExp(`^${l.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));
    const paged = template?.params.has('limit') ? { limit: 4 } : {};
    const items = await anyList(stripe).list(path, { ...paged, ...params }).autoPagingToArray({ limit: 10_000 });
    const seen = new Set(items.map((i) => `${i.object}:${i.id}`));
    assert.equal(seen.size, items.length, `${path}: duplicate items`);
    const created = items.map((i) => i.created).filter((c): c is number => typeof c === 'number');
    if (created.length === items.length) assert.ok(created.every((c, k) => k === 0 || created[k - 1]! >= c), `${path}: not newest first`);
    return items;
  }

  test('every top-level list endpoint reaches the stats count', async () => {
    const tested: string[] = [];
    for (const [path, expected] of Object.entries(stats.lists)) {
      const required = REQUIRED[path];
      let count = 0;
      if (required) {
        for (const value of await required.values(ids)) count += (await walk(path, { [required.param]: value })).length;
      } else {
        count = (await walk(path)).length;
      }
      assert.equal(count, expected, `${path}: walked ${count}, stats say ${expected}`);
      assert.ok(expected > 0, `${path} has objects`);
      tested.push(path);
    }
    const topLevel = spec.lists.filter((l) => !l.pathParams.length && !l.search && !['/v1/invoices/upcoming/lines', '/v1/credit_notes/preview/lines'].includes(l.path));
    assert.deepEqual(tested.sort(), topLevel.map((l) => l.path).sort());
    assert.ok(tested.length >= 70, `${tested.length} top-level lists`);
  });

  test('every nested list endpoint, walked for every parent, reaches the stats count', async () => {
    const nested = spec.lists.filter((l) => l.pathParams.length);
    assert.equal(nested.length, 27);
    for (const list of nested) {
      const parentPath = list.path.slice(0, list.path.indexOf('}') + 1);
      const parentType = PARENTS[parentPath];
      assert.ok(parentType, `parent of ${list.path}`);
      const param = list.pathParams[0]!;
      let count = 0;
      for (const parent of await ids(parentType)) {
        const path = list.path.replace(`{${param}}`, parent);
        if (list.params.has('ownership')) {
          const account = await stripe.rawRequest('GET', `/v1/financial_connections/accounts/${parent}`, {});
          count += (await walk(path, { ownership: (account as unknown as { ownership: string }).ownership })).length;
        } else {
          count += (await walk(path)).length;
        }
      }
      assert.equal(count, stats.nested[list.path], `${list.path}: walked ${count}, stats say ${stats.nested[list.path]}`);
      assert.ok(count > 0, `${list.path} has objects`);
    }
  });

  test('subscriptions hide canceled ones unless status=all, as on Stripe', async () => {
    const all = await walk('/v1/subscriptions', { status: 'all' });
    assert.equal(all.length, stats.resources.subscription);
    assert.ok(all.some((s) => s.status === 'canceled'));
    assert.equal((await walk('/v1/subscriptions')).length, all.filter((s) => s.status !== 'canceled').length);
    const canceled = await stripe.subscriptions.list({ status: 'canceled', limit: 100 });
    assert.ok(canceled.data.every((s) => s.status === 'canceled'));
  });

  test('limit, has_more, url and the parameter errors', async () => {
    const page = await stripe.customers.list();
    assert.equal(page.data.length, 10);
    assert.equal(page.has_more, true);
    assert.equal(page.url, '/v1/customers');
    for (const limit of [0, 101]) {
      await assert.rejects(stripe.customers.list({ limit }), (err: Stripe.errors.StripeError) => err.type === 'StripeInvalidRequestError' && err.param === 'limit');
    }
    await assert.rejects(anyList(stripe).list('/v1/subscription_items', {}), (err: Stripe.errors.StripeError) => err.param === 'subscription' && err.code === 'parameter_missing');
    await assert.rejects(stripe.customers.list({ bogus: 1 } as Stripe.CustomerListParams), (err: Stripe.errors.StripeError) => err.code === 'parameter_unknown' && err.param === 'bogus');
    await assert.rejects(stripe.customers.list({ starting_after: 'cus_missing' }), (err: Stripe.errors.StripeError) => err.param === 'starting_after');
  });

  test('created filters split the list exactly', async () => {
    const all = await walk('/v1/charges');
    const pivot = all[Math.floor(all.length / 2)]!.created as number;
    const older = await walk('/v1/charges', { created: { lt: pivot } });
    const newer = await walk('/v1/charges', { created: { gte: pivot } });
    assert.equal(older.length + newer.length, all.length);
    assert.ok(older.every((c) => (c.created as number) < pivot) && newer.every((c) => (c.created as number) >= pivot));
    const exact = await walk('/v1/charges', { created: pivot });
    assert.deepEqual(exact.map((c) => c.id), all.filter((c) => c.created === pivot).map((c) => c.id));
  });

  test('ending_before pages backwards to the newest object', async () => {
    const all = await walk('/v1/invoices');
    const middle = all[Math.floor(all.length / 2)]!;
    const page = await stripe.invoices.list({ ending_before: middle.id, limit: 3 });
    assert.deepEqual(page.data.map((i) => i.id), all.slice(all.indexOf(middle) - 3, all.indexOf(middle)).map((i) => i.id));
    const backwards = await stripe.invoices.list({ ending_before: middle.id, limit: 5 }).autoPagingToArray({ limit: 10_000 });
    assert.deepEqual(backwards.map((i) => i.id), all.slice(0, all.indexOf(middle)).reverse().map((i) => i.id));
  });

  test('retrieve returns what the list returned, for every top-level resource with a retrieve endpoint', async () => {
    let checked = 0;
    for (const path of Object.keys(stats.lists)) {
      const retrieve = spec.retrieves.find((r) => r.pathParams.length === 1 && r.path.slice(0, r.path.lastIndexOf('/')) === path);
      if (!retrieve || REQUIRED[path]) continue;
      const [first] = (await anyList(stripe).list(path, spec.lists.find((l) => l.path === path)!.params.has('limit') ? { limit: 1 } : {})).data;
      const got = await stripe.rawRequest('GET', retrieve.path.replace(/\{[^}]+\}/, first!.id!), {});
      const { lastResponse: _, ...body } = got as unknown as Record<string, unknown>;
      assert.deepEqual(body, JSON.parse(JSON.stringify(first)), path);
      checked++;
    }
    assert.ok(checked >= 50, `${checked} retrieved`);
    await assert.rejects(stripe.customers.retrieve('cus_nope'), (err: Stripe.errors.StripeError) => err.statusCode === 404 && err.code === 'resource_missing' && err.param === 'id');
    const line = (await stripe.invoices.list({ limit: 1 })).data[0]!;
    const other = (await stripe.customers.list({ limit: 1 })).data[0]!;
    await assert.rejects(stripe.rawRequest('GET', `/v1/customers/${other.id}/tax_ids/${line.id}`, {}), (err: Stripe.errors.StripeError) => err.statusCode === 404);
  });

  test('expand[], data. paths on lists, nested paths, and the 4-level limit', async () => {
    const invoices = await stripe.invoices.list({ limit: 5, expand: ['data.customer', 'data.subscription', 'data.payment_intent.latest_charge'] });
    // The SDK's types follow a newer API version than the emulator's 2023-08-16; read fields loosely.
    for (const invoice of invoices.data as unknown as Array<Record<string, unknown>>) {
      assert.equal((invoice.customer as Stripe.Customer).object, 'customer');
      if (invoice.subscription) assert.equal((invoice.subscription as Stripe.Subscription).object, 'subscription');
      const pi = invoice.payment_intent as Stripe.PaymentIntent | null;
      if (pi) assert.equal((pi.latest_charge as Stripe.Charge).object, 'charge');
    }
    const charge = (await stripe.charges.list({ limit: 1 })).data[0]!;
    const expanded = await stripe.charges.retrieve(charge.id, { expand: ['customer.invoice_settings.default_payment_method', 'balance_transaction', 'refunds'] });
    const customer = expanded.customer as Stripe.Customer | Stripe.DeletedCustomer;
    if (!('deleted' in customer)) assert.equal((customer.invoice_settings.default_payment_method as Stripe.PaymentMethod).object, 'payment_method');
    assert.equal((expanded.balance_transaction as Stripe.BalanceTransaction).object, 'balance_transaction');
    assert.equal(expanded.refunds!.object, 'list');
    assert.equal(expanded.refunds!.url, `/v1/charges/${charge.id}/refunds`);
    const customerWithSubs = await stripe.customers.retrieve(customer.id, { expand: ['subscriptions'] });
    assert.equal((customerWithSubs as unknown as { subscriptions: { object: string } }).subscriptions.object, 'list');
    await assert.rejects(
      stripe.invoices.list({ expand: ['data.customer.invoice_settings.default_payment_method.customer'] }),
      (err: Stripe.errors.StripeError) => err.statusCode === 400 && err.param === 'expand',
    );
    await assert.rejects(stripe.customers.retrieve(customer.id, { expand: ['email'] }), (err: Stripe.errors.StripeError) => err.param === 'expand');
  });

  test('embedded sub-lists carry at most 10 items, has_more and the url of the full list', async () => {
    const invoices = await walk('/v1/invoices');
    const big = invoices.find((i) => (i.lines as { has_more: boolean }).has_more);
    assert.ok(big, 'an invoice with more than 10 lines');
    const lines = big.lines as { data: Array<{ id: string }>; url: string };
    assert.equal(lines.data.length, 10);
    const all = await walk(lines.url);
    assert.ok(all.length > 10);
    assert.deepEqual(lines.data.map((l) => l.id), all.slice(0, 10).map((l) => l.id));
    const sub = (await stripe.subscriptions.list({ limit: 1 })).data[0]!;
    assert.equal(sub.items.url, `/v1/subscription_items?subscription=${sub.id}`);
    assert.deepEqual(sub.items.data.map((i) => i.id), (await stripe.subscriptionItems.list({ subscription: sub.id })).data.map((i) => i.id));
  });

  test('search: field clauses, AND, next_page, total_count', async () => {
    const customer = (await stripe.customers.list({ limit: 1 })).data[0]!;
    const found = await stripe.customers.search({ query: `email:'${customer.email}'` });
    assert.deepEqual(found.data.map((c) => c.id), [customer.id]);
    const paid = await anyList(stripe).search('/v1/charges/search', { query: "status:'succeeded' AND currency:'usd'", limit: 7 }).autoPagingToArray({ limit: 10_000 });
    assert.equal(paid.length, (await walk('/v1/charges')).filter((c) => c.status === 'succeeded').length);
    const counted = await stripe.customers.search({ query: `metadata['seq']:'1'`, expand: ['total_count'] });
    assert.equal((counted as unknown as { total_count: number }).total_count, counted.data.length);
    await assert.rejects(stripe.customers.search({ query: 'email:' }), (err: Stripe.errors.StripeError) => err.param === 'query');
  });

  test('events: type wildcards, types[], and only the last 30 days of the clock', async () => {
    const events = await walk('/v1/events');
    assert.equal(events.length, stats.lists['/v1/events']);
    const customerEvents = await walk('/v1/events', { type: 'customer.*' });
    assert.ok(customerEvents.length > 0 && customerEvents.every((e) => String(e.type).startsWith('customer.')));
    const two = await walk('/v1/events', { types: ['invoice.created', 'charge.succeeded'] });
    assert.equal(two.length, events.filter((e) => e.type === 'invoice.created' || e.type === 'charge.succeeded').length);
    const event = await stripe.events.retrieve(events[0]!.id);
    assert.equal(event.api_version, '2023-08-16');
    // Moving the clock 10 days on drops the oldest events out of the window.
    await fetch(`${emulator.url}/_emulator/clock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ advance_seconds: 10 * 86400 }) });
    const later = await walk('/v1/events');
    const cutoff = emulator.clock.now() - 30 * 86400;
    assert.equal(later.length, events.filter((e) => (e.created as number) >= cutoff).length);
    assert.ok(later.length < events.length);
  });
});
