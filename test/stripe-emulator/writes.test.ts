// Customers, products and prices through the SDK: state changes, the events they record
// (with previous_attributes and the request), deletes, idempotent replays and errors.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type Stripe from 'stripe';
import { startStripeEmulator, type StripeEmulator } from '../../src/stripe-emulator/index.ts';
import { loadStripeSpec } from '../../src/stripe-emulator/spec.ts';
import { sdkFor } from './support/sdk.ts';
import { createSpecValidator } from './support/spec-validator.ts';

describe('writes: customers, products, prices', () => {
  let emulator: StripeEmulator;
  let stripe: Stripe;
  const validator = createSpecValidator(loadStripeSpec());
  const valid = (schema: string, value: unknown) => assert.deepEqual(validator.errors(schema, JSON.parse(JSON.stringify(value))), []);

  before(async () => {
    emulator = await startStripeEmulator({ rateLimit: 0, now: 1_700_000_000 });
    stripe = sdkFor(emulator);
  });
  after(() => emulator.stop());

  const eventsFor = async (id: string) => (await stripe.events.list({ limit: 100 })).data.filter((e) => (e.data.object as { id: string }).id === id);

  test('customer create → update → delete records three events as Stripe does', async () => {
    const created = await stripe.customers.create({ email: 'ada@example.com', name: 'Ada', metadata: { plan: 'pro' }, address: { city: 'London' } }, { idempotencyKey: 'create-ada' });
    valid('customer', created);
    assert.equal(created.address?.city, 'London');
    assert.equal(created.address?.line1, null);
    const updated = await stripe.customers.update(created.id, { name: 'Ada Lovelace', metadata: { plan: '', team: 'math' } });
    assert.equal(updated.name, 'Ada Lovelace');
    assert.deepEqual(updated.metadata, { team: 'math' });
    const deleted = await stripe.customers.del(created.id);
    assert.deepEqual({ ...deleted, lastResponse: undefined }, { id: created.id, object: 'customer', deleted: true, lastResponse: undefined });
    // A deleted customer retrieves as the stub and leaves the list.
    const again = await stripe.customers.retrieve(created.id);
    assert.equal((again as Stripe.DeletedCustomer).deleted, true);
    assert.ok(!(await stripe.customers.list({ limit: 100 })).data.some((c) => c.id === created.id));
    await assert.rejects(stripe.customers.update(created.id, { name: 'x' }), (err: Stripe.errors.StripeError) => err.statusCode === 404);

    const events = await eventsFor(created.id);
    assert.deepEqual(events.map((e) => e.type), ['customer.deleted', 'customer.updated', 'customer.created']);
    const [del, upd, cre] = events as [Stripe.Event, Stripe.Event, Stripe.Event];
    for (const e of events) {
      valid('event', e);
      assert.equal(e.api_version, '2023-08-16');
      assert.equal(e.livemode, false);
      assert.equal(e.pending_webhooks, 0);
      assert.match(String(e.request?.id), /^req_/);
    }
    assert.equal(cre.request?.idempotency_key, 'create-ada');
    assert.deepEqual(cre.data.object, JSON.parse(JSON.stringify({ ...created, lastResponse: undefined })));
    assert.deepEqual(upd.data.previous_attributes, { name: 'Ada', metadata: { plan: 'pro' } });
    assert.equal((upd.data.object as Stripe.Customer).name, 'Ada Lovelace');
    // The deleted event carries the last state, not the stub.
    assert.equal((del.data.object as Stripe.Customer).email, 'ada@example.com');
    assert.equal((del.data.object as { deleted?: boolean }).deleted, undefined);
    assert.ok(del.created >= upd.created && upd.created >= cre.created);
  });

  test('an update that changes nothing records no event', async () => {
    const c = await stripe.customers.create({ name: 'Same' });
    await stripe.customers.update(c.id, { name: 'Same' });
    assert.deepEqual((await eventsFor(c.id)).map((e) => e.type), ['customer.created']);
  });

  test('idempotent retries replay the first response; other parameters are an idempotency_error', async () => {
    const first = await stripe.customers.create({ email: 'once@example.com' }, { idempotencyKey: 'key-1' });
    const replay = await stripe.customers.create({ email: 'once@example.com' }, { idempotencyKey: 'key-1' });
    assert.equal(replay.id, first.id);
    assert.equal(replay.lastResponse.headers['idempotent-replayed'], 'true');
    assert.equal((await stripe.customers.list({ email: 'once@example.com' })).data.length, 1);
    await assert.rejects(
      stripe.customers.create({ email: 'twice@example.com' }, { idempotencyKey: 'key-1' }),
      (err: Stripe.errors.StripeError) => err.type === 'StripeIdempotencyError' && err.statusCode === 400,
    );
  });

  test('products and prices: create with default_price_data, update, delete refused while prices exist', async () => {
    const product = await stripe.products.create({ name: 'Widget', default_price_data: { currency: 'usd', unit_amount: 1500, recurring: { interval: 'month' } } });
    valid('product', product);
    assert.match(String(product.default_price), /^price_/);
    const price = await stripe.prices.retrieve(String(product.default_price));
    valid('price', price);
    assert.equal(price.product, product.id);
    assert.equal(price.recurring?.interval, 'month');
    assert.equal(String(price.unit_amount_decimal), '1500');
    // A recurring price is also a plan, as on Stripe.
    const plan = await stripe.plans.retrieve(price.id);
    valid('plan', plan);
    assert.equal(plan.amount, 1500);
    const updated = await stripe.prices.update(price.id, { nickname: 'Monthly', lookup_key: 'widget_monthly' });
    assert.equal(updated.nickname, 'Monthly');
    assert.equal((await stripe.prices.list({ lookup_keys: ['widget_monthly'] })).data[0]?.id, price.id);
    await assert.rejects(stripe.prices.create({ currency: 'usd', unit_amount: 1, product: product.id, lookup_key: 'widget_monthly' }), (err: Stripe.errors.StripeError) => err.param === 'lookup_key');
    await assert.rejects(stripe.products.del(product.id), (err: Stripe.errors.StripeError) => err.statusCode === 400);
    const bare = await stripe.products.create({ name: 'Temporary' });
    const types = async (id: string) => (await eventsFor(id)).map((e) => e.type);
    await stripe.products.update(bare.id, { active: false });
    assert.equal((await stripe.products.del(bare.id)).deleted, true);
    await assert.rejects(stripe.products.retrieve(bare.id), (err: Stripe.errors.StripeError) => err.statusCode === 404);
    assert.deepEqual(await types(bare.id), ['product.deleted', 'product.updated', 'product.created']);
    assert.deepEqual(await types(price.id), ['plan.updated', 'price.updated', 'plan.created', 'price.created']);
    const productEvents = await eventsFor(bare.id);
    assert.equal((productEvents[1]!.data.previous_attributes as { active: boolean }).active, true);
  });

  test('product.created carries the product as created, default price included; a refused default_price_data creates nothing', async () => {
    const product = await stripe.products.create({ name: 'Gadget', default_price_data: { currency: 'usd', unit_amount: 900 } });
    const [created, ...others] = await eventsFor(product.id);
    assert.equal(others.length, 0);
    assert.equal(created!.type, 'product.created');
    assert.deepEqual(created!.data.object, JSON.parse(JSON.stringify({ ...product, lastResponse: undefined })));
    assert.equal((created!.data.object as Stripe.Product).default_price, product.default_price);
    assert.deepEqual((await eventsFor(String(product.default_price))).map((e) => e.type), ['price.created']);

    const before = (await stripe.events.list({ limit: 1 })).data[0]!.id;
    const productsBefore = (await stripe.products.list({ limit: 100 })).data.length;
    await assert.rejects(stripe.products.create({ name: 'Broken', default_price_data: { currency: 'usd' } as Stripe.ProductCreateParams.DefaultPriceData }), (err: Stripe.errors.StripeError) => err.param === 'default_price_data[unit_amount]');
    assert.equal((await stripe.events.list({ limit: 1 })).data[0]!.id, before);
    assert.equal((await stripe.products.list({ limit: 100 })).data.length, productsBefore);
  });

  test('validation errors use Stripe codes and name the parameter', async () => {
    const cases: Array<[Promise<unknown>, string, string | undefined]> = [
      [stripe.customers.create({ bogus: 'x' } as Stripe.CustomerCreateParams), 'bogus', 'parameter_unknown'],
      [stripe.customers.create({ balance: 'abc' as unknown as number }), 'balance', 'parameter_invalid_integer'],
      [stripe.products.create({} as Stripe.ProductCreateParams), 'name', 'parameter_missing'],
      [stripe.prices.create({ currency: 'usd', unit_amount: 100 }), 'product', 'parameter_missing'],
      [stripe.prices.create({ currency: 'usd', unit_amount: 100, product: 'prod_missing' }), 'product', 'resource_missing'],
      [stripe.customers.create({ tax_exempt: 'sometimes' as 'none' }), 'tax_exempt', undefined],
    ];
    for (const [promise, param, code] of cases) {
      await assert.rejects(promise, (err: Stripe.errors.StripeError) => err.type === 'StripeInvalidRequestError' && err.param === param && err.code === code);
    }
  });
});
