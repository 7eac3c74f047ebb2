// Billing through the official SDK, unmodified: coupons and tax rates, subscriptions with items
// (the first invoice, its payment and the events in order; declines; updates with prorations;
// cancel), invoice items and invoices (draft, finalize, pay, void, uncollectible, delete), credit
// notes, the upcoming invoice following subscription changes, and customer deletion.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Stripe from 'stripe';
import { startStripeEmulator, type StripeEmulator } from '../../src/stripe-emulator/index.ts';
import { loadStripeSpec } from '../../src/stripe-emulator/spec.ts';
import { eventLog, type EventLog } from './support/events.ts';
import { anyList, sdkFor } from './support/sdk.ts';
import { createSpecValidator } from './support/spec-validator.ts';
import type * as V from './support/v2023.ts';

const NOW = 1_700_000_000;
const spec = loadStripeSpec();
/**
 * What Stripe changes without an event in API 2023-08-16: a customer's invoice numbering, a
 * coupon's redemptions, and invoice items (there is no invoiceitem.updated).
 */
const SILENT: Record<string, string[]> = { customer: ['next_invoice_sequence'], coupon: ['times_redeemed', 'valid'], invoiceitem: ['*'] };
const validator = createSpecValidator(spec);
const plain = (value: unknown) => JSON.parse(JSON.stringify({ ...(value as object), lastResponse: undefined })) as Record<string, unknown>;
const valid = (schema: string, value: unknown) => assert.deepEqual(validator.errors(schema, plain(value)), []);
type Upcoming = V.Invoice;
/** An SDK result read with its 2023-08-16 shape. */
const as = <T>(value: unknown) => value as T;

describe('billing: coupons, tax rates, subscriptions, invoices, credit notes, upcoming invoice', () => {
  let emulator: StripeEmulator;
  let stripe: Stripe;
  let log: EventLog;
  let monthly: Stripe.Price;
  let addon: Stripe.Price;

  before(async () => {
    emulator = await startStripeEmulator({ rateLimit: 0, now: NOW });
    stripe = sdkFor(emulator);
    log = eventLog(stripe, spec, validator);
    const product = await stripe.products.create({ name: 'Team', default_price_data: { currency: 'usd', unit_amount: 2000, recurring: { interval: 'month' } } });
    monthly = await stripe.prices.retrieve(String(product.default_price));
    addon = await stripe.prices.create({ currency: 'usd', unit_amount: 500, recurring: { interval: 'month' }, product_data: { name: 'Storage' } });
  });
  after(() => emulator.stop());

  const upcoming = (params: Record<string, unknown>) => anyList(stripe).retrieve<Upcoming>('/v1/invoices/upcoming', params);

  /** A customer with a saved card as its default payment method. */
  async function payingCustomer(card = 'pm_card_visa', extra: Stripe.CustomerCreateParams = {}): Promise<{ customer: Stripe.Customer; pm: string }> {
    const customer = await stripe.customers.create({ email: `${card}@example.com`, ...extra });
    const pm = await stripe.paymentMethods.attach(card, { customer: customer.id });
    await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
    return { customer, pm: pm.id };
  }

  test('coupons and tax rates: create, update, delete as Stripe allows', async () => {
    const mark = await log.mark();
    const percent = await stripe.coupons.create({ percent_off: 25, duration: 'repeating', duration_in_months: 3, name: 'Launch' });
    valid('coupon', percent);
    assert.deepEqual([percent.percent_off, percent.duration_in_months, percent.valid, percent.times_redeemed], [25, 3, true, 0]);
    const fixed = await stripe.coupons.create({ id: 'FIVEOFF', amount_off: 500, currency: 'usd', duration: 'once' });
    assert.equal(fixed.id, 'FIVEOFF');
    await assert.rejects(stripe.coupons.create({ id: 'FIVEOFF', amount_off: 1, currency: 'usd' }), (e: Stripe.errors.StripeError) => e.code === 'resource_already_exists');
    await assert.rejects(stripe.coupons.create({ percent_off: 10, amount_off: 100, currency: 'usd' }), (e: Stripe.errors.StripeError) => e.statusCode === 400);
    await assert.rejects(stripe.coupons.create({ percent_off: 10, duration: 'repeating' }), (e: Stripe.errors.StripeError) => e.param === 'duration_in_months');
    const renamed = await stripe.coupons.update(percent.id, { name: 'Launch offer', metadata: { campaign: 'q4' } });
    assert.equal(renamed.name, 'Launch offer');
    const deleted = await stripe.coupons.del(fixed.id);
    assert.equal(deleted.deleted, true);
    await assert.rejects(stripe.coupons.retrieve(fixed.id), (e: Stripe.errors.StripeError) => e.statusCode === 404);

    const vat = await stripe.taxRates.create({ display_name: 'VAT', percentage: 20, inclusive: false, country: 'FR', jurisdiction: 'FR' });
    valid('tax_rate', vat);
    const archived = await stripe.taxRates.update(vat.id, { active: false });
    assert.equal(archived.active, false);
    assert.deepEqual((await stripe.taxRates.list({ active: false })).data.map((t) => t.id), [vat.id]);
    const events = await log.since(mark);
    assert.deepEqual(events.map((e) => e.type), ['coupon.created', 'coupon.created', 'coupon.updated', 'coupon.deleted', 'tax_rate.created', 'tax_rate.updated']);
    assert.deepEqual(events[2]!.data.previous_attributes, { name: 'Launch', metadata: {} });
    assert.deepEqual(events[5]!.data.previous_attributes, { active: true });
  });

  test('a subscription charged to the default card: items, a paid first invoice with lines, a payment, events in order', async () => {
    const { customer, pm } = await payingCustomer();
    const mark = await log.mark();
    const sub = as<V.Subscription>(await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id, quantity: 2 }], metadata: { plan: 'team' }, expand: ['latest_invoice.payment_intent'] }));
    assert.equal(sub.status, 'active');
    assert.deepEqual(sub.items.data.map((i) => [i.price.id, i.quantity, i.subscription]), [[monthly.id, 2, sub.id]]);
    assert.equal(sub.current_period_start, sub.start_date);
    assert.equal(new Date(sub.current_period_end * 1000).getUTCMonth(), (new Date(sub.current_period_start * 1000).getUTCMonth() + 1) % 12, 'a calendar month');
    const invoice = sub.latest_invoice as unknown as V.Invoice & { payment_intent: V.PaymentIntent; charge: string };
    valid('subscription', { ...sub, latest_invoice: invoice.id });
    valid('invoice', { ...invoice, payment_intent: invoice.payment_intent.id });
    assert.deepEqual([invoice.status, invoice.billing_reason, invoice.amount_due, invoice.amount_paid, invoice.paid, invoice.subscription], ['paid', 'subscription_create', 4000, 4000, true, sub.id]);
    assert.match(String(invoice.number), /^[A-Z0-9]{8}-0001$/);
    const line = invoice.lines.data[0]!;
    assert.deepEqual([line.type, line.amount, line.quantity, line.description, line.period], ['subscription', 4000, 2, '2 × Team (at $20.00 / month)', { start: sub.current_period_start, end: sub.current_period_end }]);
    assert.deepEqual([invoice.payment_intent.status, invoice.payment_intent.payment_method, invoice.payment_intent.invoice], ['succeeded', pm, invoice.id]);
    const charge = as<V.Charge>(await stripe.charges.retrieve(invoice.charge));
    assert.deepEqual([charge.invoice, charge.amount, charge.payment_method], [invoice.id, 4000, pm]);
    assert.deepEqual((await stripe.invoices.list({ subscription: sub.id })).data.map((i) => i.id), [invoice.id]);
    assert.deepEqual((await stripe.subscriptionItems.list({ subscription: sub.id })).data.map((i) => i.id), [sub.items.data[0]!.id]);

    const events = await log.since(mark);
    assert.deepEqual(events.map((e) => e.type), [
      'customer.subscription.created', 'customer.updated', 'invoice.created', 'payment_intent.created', 'invoice.finalized',
      'charge.succeeded', 'payment_intent.succeeded', 'invoice.paid', 'invoice.payment_succeeded',
    ]);
    assert.equal((events[0]!.data.object as Stripe.Subscription).status, 'active');
    assert.equal((events[2]!.data.object as Stripe.Invoice).status, 'draft');
    assert.equal((events[4]!.data.object as Stripe.Invoice).status, 'open');
    assert.deepEqual(events[1]!.data.previous_attributes, { currency: null });
  });

  test('a declined card leaves the subscription incomplete with an open invoice; paying it activates the subscription', async () => {
    const { customer } = await payingCustomer('pm_card_chargeCustomerFail');
    await assert.rejects(
      stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], payment_behavior: 'error_if_incomplete' }),
      (e: Stripe.errors.StripeError) => e instanceof Stripe.errors.StripeCardError && e.decline_code === 'generic_decline',
    );
    assert.equal((await stripe.subscriptions.list({ customer: customer.id, status: 'all' })).data.length, 0, 'error_if_incomplete creates nothing');
    const mark = await log.mark();
    const sub = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    assert.equal(sub.status, 'incomplete');
    const invoice = as<V.Invoice>(await stripe.invoices.retrieve(String(sub.latest_invoice)));
    assert.deepEqual([invoice.status, invoice.attempt_count, invoice.attempted, invoice.paid], ['open', 1, true, false]);
    assert.deepEqual(await log.types(mark), [
      'customer.subscription.created', 'customer.updated', 'invoice.created', 'payment_intent.created', 'invoice.finalized', 'charge.failed', 'payment_intent.payment_failed', 'invoice.payment_failed',
    ]);
    const visa = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const retry = await log.mark();
    const paid = await stripe.invoices.pay(invoice.id!, { payment_method: visa.id });
    assert.deepEqual([paid.status, paid.attempt_count, paid.amount_paid], ['paid', 2, 2000]);
    assert.equal((await stripe.subscriptions.retrieve(sub.id)).status, 'active');
    const events = await log.since(retry);
    assert.deepEqual(events.map((e) => e.type), ['charge.succeeded', 'payment_intent.succeeded', 'invoice.paid', 'invoice.payment_succeeded', 'customer.subscription.updated']);
    assert.deepEqual(events[4]!.data.previous_attributes, { status: 'incomplete' });
    // No default payment method at all: Stripe refuses the subscription.
    const bare = await stripe.customers.create({});
    await assert.rejects(stripe.subscriptions.create({ customer: bare.id, items: [{ price: monthly.id }] }), (e: Stripe.errors.StripeError) => e.statusCode === 400 && /no attached payment source/.test(e.message));
  });

  test('a quantity change prorates, and the upcoming invoice follows it', async () => {
    const { customer } = await payingCustomer();
    const sub = as<V.Subscription>(await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id, quantity: 1 }] }));
    const before = await upcoming({ customer: customer.id });
    assert.equal(before.id, undefined, 'an upcoming invoice has no id');
    valid('invoice', before);
    assert.deepEqual([before.total, before.amount_due, before.billing_reason, before.subscription, before.status], [2000, 2000, 'upcoming', sub.id, 'draft']);
    assert.deepEqual(before.lines.data.map((l) => [l.type, l.amount, l.period.start]), [['subscription', 2000, sub.current_period_end]]);
    assert.deepEqual((await upcoming({ subscription: sub.id })).lines.data, before.lines.data, 'by subscription or by customer');

    const mark = await log.mark();
    const updated = await stripe.subscriptions.update(sub.id, { items: [{ id: sub.items.data[0]!.id, quantity: 3 }] });
    assert.equal(updated.items.data[0]!.quantity, 3);
    const events = await log.since(mark);
    assert.deepEqual(events.map((e) => e.type), ['customer.subscription.updated', 'invoiceitem.created', 'invoiceitem.created']);
    const previous = events[0]!.data.previous_attributes as { items: Stripe.ApiList<Stripe.SubscriptionItem> };
    assert.equal(previous.items.data[0]!.quantity, 1);
    const prorations = (await stripe.invoiceItems.list({ customer: customer.id, pending: true })).data;
    assert.deepEqual(prorations.map((i) => [i.proration, i.quantity, i.amount < 0]).sort(), [[true, 1, true], [true, 3, false]]);
    const net = prorations.reduce((a, i) => a + i.amount, 0);
    assert.ok(net > 0 && net <= 4000);

    const after = await upcoming({ customer: customer.id });
    valid('invoice', after);
    assert.equal(after.total, 6000 + net, 'three seats next period, plus the prorations');
    assert.deepEqual(after.lines.data.map((l) => l.type), ['invoiceitem', 'invoiceitem', 'subscription']);
    // /lines pages through the same lines, with the same ids.
    const page1 = await anyList(stripe).list('/v1/invoices/upcoming/lines', { customer: customer.id, limit: 2 });
    assert.equal(page1.has_more, true);
    const page2 = await anyList(stripe).list('/v1/invoices/upcoming/lines', { customer: customer.id, limit: 2, starting_after: page1.data[1]!.id });
    assert.deepEqual([...page1.data, ...page2.data].map((l) => l.id), after.lines.data.map((l) => l.id));
    assert.equal(page2.has_more, false);

    // create_preview (the newer SDK's call) previews a change without making it.
    const preview = as<Upcoming>(await stripe.invoices.createPreview({ customer: customer.id, subscription: sub.id, subscription_details: { items: [{ id: sub.items.data[0]!.id, quantity: 5 }], proration_behavior: 'none' } }));
    assert.equal(preview.id, undefined);
    assert.equal(preview.total, 10000 + net);
    assert.equal((await upcoming({ customer: customer.id })).total, 6000 + net, 'the preview changed nothing');
    const adding = await upcoming({ subscription: sub.id, subscription_items: [{ price: addon.id, quantity: 2 }], subscription_proration_behavior: 'none' });
    assert.equal(adding.total, 6000 + 1000 + net);
    // Items with no subscription preview a new subscription, as on Stripe.
    const fresh = await upcoming({ customer: customer.id, subscription_items: [{ price: addon.id, quantity: 2 }] });
    assert.deepEqual([fresh.total, fresh.subscription, fresh.lines.data[0]?.period.start], [1000, null, fresh.created]);

    // Discounts and tax rates are in force on the next invoice.
    const coupon = await stripe.coupons.create({ percent_off: 50, duration: 'forever' });
    const vat = await stripe.taxRates.create({ display_name: 'VAT', percentage: 10, inclusive: false });
    await stripe.subscriptions.update(sub.id, { coupon: coupon.id, default_tax_rates: [vat.id] } as Stripe.SubscriptionUpdateParams);
    const taxed = await upcoming({ customer: customer.id });
    valid('invoice', taxed);
    const subDiscount = 3000;
    assert.equal(taxed.total, 6000 + net - subDiscount + Math.round((6000 - subDiscount) / 10) + prorations.reduce((a, i) => a + Math.round(i.amount / 10), 0));
    assert.equal(taxed.total_discount_amounts?.[0]?.amount, subDiscount);

    // A subscription ending with its period has nothing more to bill; neither has a customer without one.
    await stripe.subscriptions.update(sub.id, { cancel_at_period_end: true });
    await assert.rejects(upcoming({ customer: customer.id }), (e: Stripe.errors.StripeError) => e.statusCode === 404 && e.code === 'invoice_upcoming_none');
    const resumed = await stripe.subscriptions.update(sub.id, { cancel_at_period_end: false });
    assert.deepEqual([resumed.cancel_at, resumed.canceled_at], [null, null]);
    const nobody = await stripe.customers.create({});
    await assert.rejects(upcoming({ customer: nobody.id }), (e: Stripe.errors.StripeError) => e.code === 'invoice_upcoming_none');
  });

  test('subscription items endpoints add, change and remove items, each a customer.subscription.updated', async () => {
    const { customer } = await payingCustomer();
    const sub = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const mark = await log.mark();
    const item = await stripe.subscriptionItems.create({ subscription: sub.id, price: addon.id, quantity: 2, proration_behavior: 'none' });
    valid('subscription_item', item);
    assert.deepEqual([item.subscription, item.quantity], [sub.id, 2]);
    await assert.rejects(stripe.subscriptionItems.create({ subscription: sub.id, price: addon.id }), (e: Stripe.errors.StripeError) => /same price/.test(e.message));
    const changed = await stripe.subscriptionItems.update(item.id, { quantity: 4, proration_behavior: 'none' });
    assert.equal(changed.quantity, 4);
    assert.deepEqual((await stripe.subscriptions.retrieve(sub.id)).items.data.map((i) => i.quantity).sort(), [1, 4]);
    const removed = await stripe.subscriptionItems.del(item.id, { proration_behavior: 'none' });
    assert.equal(removed.deleted, true);
    await assert.rejects(stripe.subscriptionItems.del(sub.items.data[0]!.id), (e: Stripe.errors.StripeError) => /at least one/.test(e.message));
    assert.deepEqual(await log.types(mark), ['customer.subscription.updated', 'customer.subscription.updated', 'customer.subscription.updated']);
    assert.equal((await stripe.invoiceItems.list({ customer: customer.id, pending: true })).data.length, 0, 'proration_behavior=none');
  });

  test('always_invoice bills the prorations at once; cancel ends the subscription, which stays retrievable', async () => {
    const { customer } = await payingCustomer();
    const sub = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id, quantity: 1 }] });
    const upgraded = await stripe.subscriptions.update(sub.id, { items: [{ id: sub.items.data[0]!.id, price: addon.id, quantity: 10 }], proration_behavior: 'always_invoice' });
    const invoice = as<V.Invoice>(await stripe.invoices.retrieve(String(upgraded.latest_invoice)));
    assert.deepEqual([invoice.billing_reason, invoice.status, invoice.lines.data.every((l) => l.proration)], ['subscription_update', 'paid', true]);
    assert.equal(invoice.amount_paid, invoice.total);
    assert.ok(invoice.total > 0 && invoice.total <= 3000);
    const mark = await log.mark();
    const canceled = await stripe.subscriptions.cancel(sub.id, { cancellation_details: { comment: 'moving on' } });
    assert.deepEqual([canceled.status, canceled.ended_at === canceled.canceled_at, canceled.cancellation_details?.comment], ['canceled', true, 'moving on']);
    const events = await log.since(mark);
    assert.deepEqual(events.map((e) => e.type), ['customer.subscription.deleted']);
    assert.deepEqual(events[0]!.data.object, plain(canceled));
    assert.equal((await stripe.subscriptions.retrieve(sub.id)).status, 'canceled');
    assert.ok(!(await stripe.subscriptions.list({ customer: customer.id })).data.some((s) => s.id === sub.id), 'the default list hides canceled ones');
    await assert.rejects(stripe.subscriptions.update(sub.id, { items: [{ price: monthly.id }] }), (e: Stripe.errors.StripeError) => e.statusCode === 400);
    await assert.rejects(stripe.subscriptions.cancel(sub.id), (e: Stripe.errors.StripeError) => e.statusCode === 400);
  });

  test('a trial: trialing, a paid $0 invoice, and the upcoming invoice at the trial end', async () => {
    const { customer } = await payingCustomer();
    const sub = as<V.Subscription>(await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], trial_period_days: 14 }));
    assert.deepEqual([sub.status, sub.trial_end, sub.current_period_end], ['trialing', NOW + 14 * 86400 + (sub.start_date - NOW), sub.trial_end]);
    const invoice = as<V.Invoice>(await stripe.invoices.retrieve(String(sub.latest_invoice)));
    assert.deepEqual([invoice.status, invoice.total, invoice.payment_intent, invoice.lines.data[0]?.description], ['paid', 0, null, 'Trial period for Team']);
    const next = await upcoming({ subscription: sub.id });
    assert.deepEqual([next.total, next.lines.data[0]?.period.start], [2000, sub.trial_end]);
  });

  test('default_incomplete: the client confirms the first invoice\'s intent, which pays it and activates the subscription', async () => {
    const customer = await stripe.customers.create({});
    const sub = as<V.Subscription>(await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], payment_behavior: 'default_incomplete', expand: ['latest_invoice.payment_intent'] }));
    const invoice = sub.latest_invoice as unknown as V.Invoice & { payment_intent: V.PaymentIntent };
    assert.deepEqual([sub.status, invoice.status, invoice.payment_intent.status, invoice.payment_intent.invoice], ['incomplete', 'open', 'requires_payment_method', invoice.id]);
    const mark = await log.mark();
    await assert.rejects(stripe.paymentIntents.confirm(invoice.payment_intent.id, { payment_method: 'pm_card_chargeDeclined' }), (e: Stripe.errors.StripeError) => e instanceof Stripe.errors.StripeCardError);
    await stripe.paymentIntents.confirm(invoice.payment_intent.id, { payment_method: 'pm_card_visa' });
    const paid = as<V.Invoice>(await stripe.invoices.retrieve(invoice.id!));
    assert.deepEqual([paid.status, paid.attempt_count, paid.amount_paid], ['paid', 2, 2000]);
    assert.equal((await stripe.subscriptions.retrieve(sub.id)).status, 'active');
    assert.deepEqual(await log.types(mark), [
      'charge.failed', 'payment_intent.payment_failed', 'invoice.payment_failed',
      'charge.succeeded', 'payment_intent.succeeded', 'invoice.paid', 'invoice.payment_succeeded', 'customer.subscription.updated',
    ]);
    // Nothing to pay (a 100% coupon): no payment method needed, the subscription is active at once.
    const free = await stripe.coupons.create({ percent_off: 100, duration: 'forever' });
    const gift = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: addon.id }], coupon: free.id } as Stripe.SubscriptionCreateParams);
    const giftInvoice = as<V.Invoice>(await stripe.invoices.retrieve(String(gift.latest_invoice)));
    assert.deepEqual([gift.status, giftInvoice.status, giftInvoice.total, giftInvoice.payment_intent], ['active', 'paid', 0, null]);
  });

  test('invoices: a draft from pending items, finalize, pay, void, mark uncollectible, delete', async () => {
    const { customer, pm } = await payingCustomer();
    const oneOff = await stripe.prices.create({ currency: 'usd', unit_amount: 750, product_data: { name: 'Setup fee' } });
    const a = await stripe.invoiceItems.create({ customer: customer.id, amount: 1000, currency: 'usd', description: 'Consulting' });
    const b = as<V.InvoiceItem>(await stripe.invoiceItems.create({ customer: customer.id, price: oneOff.id, quantity: 2 } as Stripe.InvoiceItemCreateParams));
    valid('invoiceitem', b);
    assert.deepEqual([b.amount, b.unit_amount, b.quantity, b.invoice], [1500, 750, 2, null]);
    await assert.rejects(stripe.invoiceItems.create({ customer: customer.id, price: monthly.id } as Stripe.InvoiceItemCreateParams), (e: Stripe.errors.StripeError) => e.param === 'price');
    const empty = await stripe.invoices.create({ customer: customer.id });
    assert.deepEqual([empty.status, empty.total, empty.lines.data.length], ['draft', 0, 0], 'pending items are excluded by default (API 2023-08-16)');
    await stripe.invoices.del(empty.id);

    const mark = await log.mark();
    const draft = as<V.Invoice & { id: string }>(await stripe.invoices.create({ customer: customer.id, pending_invoice_items_behavior: 'include', description: 'October' }));
    valid('invoice', draft);
    assert.deepEqual([draft.status, draft.total, draft.lines.data.map((l) => l.invoice_item).sort()], ['draft', 2500, [a.id, b.id].sort()]);
    assert.equal((await stripe.invoiceItems.retrieve(a.id)).invoice, draft.id);
    const c = await stripe.invoiceItems.create({ customer: customer.id, amount: 300, currency: 'usd', invoice: draft.id });
    await stripe.invoiceItems.update(b.id, { quantity: 1 });
    let current = await stripe.invoices.retrieve(draft.id);
    assert.deepEqual([current.total, current.lines.data.length], [1000 + 750 + 300, 3]);
    await stripe.invoiceItems.del(c.id);
    current = await stripe.invoices.update(draft.id, { metadata: { po: '7' } });
    assert.equal(current.total, 1750);
    const finalized = as<V.Invoice>(await stripe.invoices.finalizeInvoice(draft.id));
    valid('invoice', finalized);
    assert.deepEqual([finalized.status, typeof finalized.number, typeof finalized.payment_intent, finalized.amount_due], ['open', 'string', 'string', 1750]);
    await assert.rejects(stripe.invoices.finalizeInvoice(draft.id), (e: Stripe.errors.StripeError) => e.code === 'invoice_not_editable');
    await assert.rejects(stripe.invoiceItems.update(a.id, { amount: 1 }), (e: Stripe.errors.StripeError) => e.code === 'invoice_not_editable');
    await assert.rejects(stripe.invoices.del(draft.id), (e: Stripe.errors.StripeError) => e.statusCode === 400);
    const paid = as<V.Invoice>(await stripe.invoices.pay(draft.id));
    assert.deepEqual([paid.status, paid.amount_paid, paid.amount_remaining, paid.attempt_count], ['paid', 1750, 0, 1]);
    assert.equal((await stripe.paymentIntents.retrieve(String(paid.payment_intent))).payment_method, pm);
    await assert.rejects(stripe.invoices.pay(draft.id), (e: Stripe.errors.StripeError) => e.code === 'invoice_already_paid');
    assert.deepEqual(await log.types(mark), [
      'invoice.created', 'invoiceitem.created', 'invoice.updated', 'invoice.updated', 'invoiceitem.deleted', 'invoice.updated', 'invoice.updated',
      // The customer's first invoice sets its currency.
      'customer.updated', 'payment_intent.created', 'invoice.finalized', 'charge.succeeded', 'payment_intent.succeeded', 'invoice.paid', 'invoice.payment_succeeded',
    ]);

    // Void and uncollectible; deleting a draft puts its items back to pending.
    const toVoid = await stripe.invoices.create({ customer: customer.id, collection_method: 'send_invoice', days_until_due: 30 });
    await stripe.invoiceItems.create({ customer: customer.id, amount: 900, currency: 'usd', invoice: toVoid.id });
    const open = await stripe.invoices.finalizeInvoice(toVoid.id);
    assert.equal(open.due_date! - open.created >= 30 * 86400 - 1, true);
    await stripe.invoices.sendInvoice(open.id);
    const voided = as<V.Invoice>(await stripe.invoices.voidInvoice(open.id));
    assert.deepEqual([voided.status, typeof voided.status_transitions.voided_at], ['void', 'number']);
    assert.equal((await stripe.paymentIntents.retrieve(String(voided.payment_intent))).cancellation_reason, 'void_invoice');
    const bad = await stripe.invoices.create({ customer: customer.id, collection_method: 'send_invoice', days_until_due: 7 });
    await stripe.invoiceItems.create({ customer: customer.id, amount: 400, currency: 'usd', invoice: bad.id });
    await stripe.invoices.finalizeInvoice(bad.id);
    const lost = await stripe.invoices.markUncollectible(bad.id);
    assert.equal(lost.status, 'uncollectible');
    const pending = await stripe.invoiceItems.create({ customer: customer.id, amount: 100, currency: 'usd' });
    const scratch = await stripe.invoices.create({ customer: customer.id, pending_invoice_items_behavior: 'include' });
    assert.equal((await stripe.invoices.del(scratch.id)).deleted, true);
    assert.equal((await stripe.invoiceItems.retrieve(pending.id)).invoice, null);
    const types = await log.types(mark);
    for (const t of ['invoice.sent', 'invoice.voided', 'payment_intent.canceled', 'invoice.marked_uncollectible', 'invoice.deleted']) assert.ok(types.includes(t), t);
  });

  test('an invoice with more than 10 lines embeds 10 with has_more; the lines list has them all', async () => {
    const customer = await stripe.customers.create({});
    for (let i = 0; i < 12; i++) await stripe.invoiceItems.create({ customer: customer.id, amount: 100 + i, currency: 'usd', description: `Usage ${i}` });
    const invoice = await stripe.invoices.create({ customer: customer.id, pending_invoice_items_behavior: 'include' });
    assert.deepEqual([invoice.lines.data.length, invoice.lines.has_more, invoice.lines.url], [10, true, `/v1/invoices/${invoice.id}/lines`]);
    const lines = await stripe.invoices.listLineItems(invoice.id, { limit: 5 }).autoPagingToArray({ limit: 100 });
    assert.equal(lines.length, 12);
    assert.equal(invoice.total, lines.reduce((a, l) => a + l.amount, 0));
  });

  test('credit notes: pre-payment lowers what is due, post-payment refunds or credits the balance; void reverses', async () => {
    const { customer } = await payingCustomer();
    const open = await stripe.invoices.create({ customer: customer.id, collection_method: 'send_invoice', days_until_due: 30 });
    await stripe.invoiceItems.create({ customer: customer.id, amount: 5000, currency: 'usd', invoice: open.id });
    await stripe.invoices.finalizeInvoice(open.id);
    const mark = await log.mark();
    const pre = await stripe.creditNotes.create({ invoice: open.id, amount: 1000, reason: 'order_change' });
    valid('credit_note', pre);
    assert.deepEqual([pre.type, pre.total, pre.status], ['pre_payment', 1000, 'issued']);
    let inv = await stripe.invoices.retrieve(open.id);
    assert.deepEqual([inv.amount_due, inv.amount_remaining, inv.pre_payment_credit_notes_amount], [4000, 4000, 1000]);
    await stripe.creditNotes.voidCreditNote(pre.id);
    inv = await stripe.invoices.retrieve(open.id);
    assert.deepEqual([inv.amount_due, inv.pre_payment_credit_notes_amount], [5000, 0]);
    assert.deepEqual(await log.types(mark), ['credit_note.created', 'invoice.updated', 'credit_note.voided', 'invoice.updated']);

    // Paid by card: credit part of a line back to the card, part to the customer's balance.
    const paid = as<V.Invoice & { id: string }>(await stripe.invoices.pay(open.id, { payment_method: (await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id })).id }));
    const line = paid.lines.data[0]!;
    const preview = await anyList(stripe).retrieve<Stripe.CreditNote>('/v1/credit_notes/preview', { invoice: paid.id, lines: [{ type: 'invoice_line_item', invoice_line_item: line.id, amount: 1500 }], refund_amount: 1500 });
    assert.equal(preview.total, 1500);
    const refunded = as<V.CreditNote>(await stripe.creditNotes.create({ invoice: paid.id, lines: [{ type: 'invoice_line_item', invoice_line_item: line.id, amount: 1500 }], refund_amount: 1500 }));
    assert.deepEqual([refunded.type, refunded.total, typeof refunded.refund, refunded.lines.data[0]?.invoice_line_item], ['post_payment', 1500, 'string', line.id]);
    const charge = await stripe.charges.retrieve(String(paid.charge));
    assert.deepEqual([charge.amount_refunded, charge.refunded], [1500, false]);
    const credited = await stripe.creditNotes.create({ invoice: paid.id, lines: [{ type: 'custom_line_item', unit_amount: 500, quantity: 2, description: 'Goodwill' }], credit_amount: 1000 });
    assert.match(String(credited.customer_balance_transaction), /^cbtxn_/);
    assert.equal(((await stripe.customers.retrieve(customer.id)) as Stripe.Customer).balance, -1000);
    assert.equal((await stripe.invoices.retrieve(paid.id)).post_payment_credit_notes_amount, 2500);
    await assert.rejects(stripe.creditNotes.create({ invoice: paid.id, amount: 2501, credit_amount: 2501 }), (e: Stripe.errors.StripeError) => e.statusCode === 400);
    await assert.rejects(stripe.creditNotes.create({ invoice: paid.id, amount: 100, refund_amount: 50 }), (e: Stripe.errors.StripeError) => /must equal/.test(e.message));
    await assert.rejects(stripe.creditNotes.voidCreditNote(refunded.id), (e: Stripe.errors.StripeError) => e.statusCode === 400);
    await stripe.creditNotes.voidCreditNote(credited.id);
    assert.equal(((await stripe.customers.retrieve(customer.id)) as Stripe.Customer).balance, 0);
    assert.deepEqual((await stripe.creditNotes.list({ invoice: paid.id })).data.map((n) => n.status), ['void', 'issued', 'void']);
    const memo = await stripe.creditNotes.update(refunded.id, { memo: 'Partial refund' });
    assert.equal(memo.memo, 'Partial refund');
  });

  test('a credit balance is used by the next invoice', async () => {
    const { customer } = await payingCustomer();
    await stripe.customers.update(customer.id, { balance: -700 });
    await stripe.invoiceItems.create({ customer: customer.id, amount: 1000, currency: 'usd' });
    const draft = await stripe.invoices.create({ customer: customer.id, pending_invoice_items_behavior: 'include' });
    const open = await stripe.invoices.finalizeInvoice(draft.id);
    assert.deepEqual([open.total, open.starting_balance, open.amount_due, open.ending_balance], [1000, -700, 300, 0]);
    assert.equal(((await stripe.customers.retrieve(customer.id)) as Stripe.Customer).balance, 0);
    const txns = await stripe.customers.listBalanceTransactions(customer.id);
    assert.deepEqual(txns.data.map((t) => [t.type, t.amount, t.invoice]), [['applied_to_invoice', 700, open.id]]);
  });

  test('deleting a customer cancels its subscriptions first', async () => {
    const { customer } = await payingCustomer();
    const one = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const two = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: addon.id }] });
    const mark = await log.mark();
    await stripe.customers.del(customer.id);
    const events = await log.since(mark);
    assert.deepEqual(events.map((e) => `${e.type} ${(e.data.object as { id: string }).id}`).sort(), [`customer.deleted ${customer.id}`, `customer.subscription.deleted ${one.id}`, `customer.subscription.deleted ${two.id}`].sort());
    assert.equal(events.at(-1)!.type, 'customer.deleted');
    for (const id of [one.id, two.id]) assert.equal((await stripe.subscriptions.retrieve(id)).status, 'canceled');
    assert.deepEqual((await stripe.subscriptions.list({ customer: customer.id, status: 'canceled' })).data.map((s) => s.id).sort(), [one.id, two.id].sort());
  });

  test('customer discounts: a once coupon is used up by the first invoice', async () => {
    const once = await stripe.coupons.create({ amount_off: 500, currency: 'usd', duration: 'once' });
    const { customer } = await payingCustomer('pm_card_visa', { coupon: once.id } as Stripe.CustomerCreateParams);
    assert.equal(as<V.Customer>(await stripe.customers.retrieve(customer.id)).discount?.coupon.id, once.id);
    assert.equal((await stripe.coupons.retrieve(once.id)).times_redeemed, 1);
    const sub = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const first = await stripe.invoices.retrieve(String(sub.latest_invoice));
    assert.deepEqual([first.total, first.total_discount_amounts?.[0]?.amount], [1500, 500]);
    assert.equal((await stripe.customers.retrieve(customer.id) as Stripe.Customer).discount, null);
    assert.equal((await upcoming({ customer: customer.id })).total, 2000, 'not on the next one');
  });

  test('every object retrieves as its newest event carries it (no change without an event)', async () => {
    const compared = await log.stateMatches(SILENT);
    assert.ok(compared >= 20, `${compared} objects`);
  });

  test('every event recorded validates against the spec, object included', async () => {
    const count = await log.validateAll();
    assert.ok(count >= 150, `${count} events`);
  });
});
