// Payments through the official SDK, unmodified: payment intents with Stripe's test cards
// (success, declines, manual capture, cancel), idempotent retries that charge once, injected
// api errors the SDK retries, refunds, payment methods and setup intents — with the events
// Stripe records, in order, each validating against the spec.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Stripe from 'stripe';
import { startStripeEmulator, type StripeEmulator } from '../../src/stripe-emulator/index.ts';
import { loadStripeSpec } from '../../src/stripe-emulator/spec.ts';
import { eventLog, type EventLog } from './support/events.ts';
import { anyList, sdkFor } from './support/sdk.ts';
import { createSpecValidator } from './support/spec-validator.ts';

const spec = loadStripeSpec();
const validator = createSpecValidator(spec);
const valid = (schema: string, value: unknown) => assert.deepEqual(validator.errors(schema, JSON.parse(JSON.stringify({ ...(value as object), lastResponse: undefined }))), []);
type CardError = Stripe.errors.StripeCardError;

describe('payments: payment intents, charges, refunds, payment methods, setup intents', () => {
  let emulator: StripeEmulator;
  let stripe: Stripe;
  let log: EventLog;

  before(async () => {
    emulator = await startStripeEmulator({ rateLimit: 0, now: 1_700_000_000 });
    stripe = sdkFor(emulator);
    log = eventLog(stripe, spec, validator);
  });
  after(() => emulator.stop());

  const objectIds = (events: Stripe.Event[]) => events.map((e) => `${e.type} ${(e.data.object as { id: string }).id}`);

  test('pm_card_visa with confirm: a succeeded intent, a captured charge, a balance transaction, three events', async () => {
    const customer = await stripe.customers.create({ email: 'payer@example.com' });
    const mark = await log.mark();
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', customer: customer.id, payment_method: 'pm_card_visa', confirm: true }, { idempotencyKey: 'order-1' });
    valid('payment_intent', pi);
    assert.equal(pi.status, 'succeeded');
    assert.equal(pi.amount_received, 2000);
    assert.equal(pi.amount_capturable, 0);
    assert.match(String(pi.payment_method), /^pm_(?!card_)/, 'a new payment method, not the test id');
    assert.deepEqual(pi.automatic_payment_methods, { allow_redirects: 'always', enabled: true });
    const charge = await stripe.charges.retrieve(String(pi.latest_charge), { expand: ['balance_transaction'] });
    valid('charge', { ...charge, balance_transaction: (charge.balance_transaction as Stripe.BalanceTransaction).id });
    assert.deepEqual([charge.status, charge.paid, charge.captured, charge.amount_captured, charge.payment_intent, charge.customer], ['succeeded', true, true, 2000, pi.id, customer.id]);
    assert.equal(charge.payment_method, pi.payment_method);
    assert.equal(charge.payment_method_details?.card?.last4, '4242');
    assert.equal(charge.outcome?.type, 'authorized');
    const txn = charge.balance_transaction as Stripe.BalanceTransaction;
    valid('balance_transaction', txn);
    assert.deepEqual([txn.amount, txn.fee, txn.net, txn.type, txn.source], [2000, 88, 1912, 'charge', charge.id]);
    assert.deepEqual((await stripe.charges.list({ payment_intent: pi.id })).data.map((c) => c.id), [charge.id]);
    assert.ok((await stripe.charges.list({ customer: customer.id })).data.some((c) => c.id === charge.id));
    assert.ok((await stripe.paymentIntents.list({ customer: customer.id })).data.some((p) => p.id === pi.id));

    const events = await log.since(mark);
    assert.deepEqual(objectIds(events), [`payment_intent.created ${pi.id}`, `charge.succeeded ${charge.id}`, `payment_intent.succeeded ${pi.id}`]);
    assert.ok(events.every((e) => e.request?.idempotency_key === 'order-1' && e.api_version === '2023-08-16'));
    assert.equal((events[0]!.data.object as Stripe.PaymentIntent).status, 'requires_confirmation');
    assert.deepEqual(events[2]!.data.object, JSON.parse(JSON.stringify({ ...pi, lastResponse: undefined })));
  });

  test('the same Idempotency-Key replays the same intent and charges once; other parameters are refused', async () => {
    const params = { amount: 1500, currency: 'usd', payment_method: 'pm_card_visa', confirm: true };
    const first = await stripe.paymentIntents.create(params, { idempotencyKey: 'pay-twice' });
    const again = await stripe.paymentIntents.create(params, { idempotencyKey: 'pay-twice' });
    assert.equal(again.id, first.id);
    assert.equal(again.lastResponse.headers['idempotent-replayed'], 'true');
    assert.equal((await stripe.charges.list({ payment_intent: first.id })).data.length, 1);
    const charged = (await log.since(undefined)).filter((e) => e.type === 'charge.succeeded' && (e.data.object as Stripe.Charge).payment_intent === first.id);
    assert.equal(charged.length, 1);
    await assert.rejects(stripe.paymentIntents.create({ ...params, amount: 1600 }, { idempotencyKey: 'pay-twice' }), (err: Stripe.errors.StripeError) => err.type === 'StripeIdempotencyError');
    // A declined request replays its decline rather than charging again.
    const declined = { amount: 1500, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true };
    const e1 = await stripe.paymentIntents.create(declined, { idempotencyKey: 'declined-once' }).catch((e: CardError) => e);
    const e2 = await stripe.paymentIntents.create(declined, { idempotencyKey: 'declined-once' }).catch((e: CardError) => e);
    assert.ok(e1 instanceof Stripe.errors.StripeCardError && e2 instanceof Stripe.errors.StripeCardError);
    assert.equal(e2.payment_intent?.id, e1.payment_intent?.id);
    assert.equal((await stripe.charges.list({ payment_intent: e1.payment_intent!.id })).data.length, 1);
  });

  test('insufficient funds: a 402 StripeCardError, the intent back to requires_payment_method, a failed charge', async () => {
    const mark = await log.mark();
    const err = await stripe.paymentIntents.create({ amount: 3000, currency: 'usd', payment_method: 'pm_card_chargeDeclinedInsufficientFunds', confirm: true }).then(
      () => assert.fail('should be declined'),
      (e: CardError) => e,
    );
    assert.ok(err instanceof Stripe.errors.StripeCardError);
    assert.deepEqual([err.statusCode, err.code, err.decline_code, err.message], [402, 'card_declined', 'insufficient_funds', 'Your card has insufficient funds.']);
    const raw = err.raw as { payment_intent: Stripe.PaymentIntent; charge: string; payment_method: Stripe.PaymentMethod; type: string };
    assert.equal(raw.type, 'card_error');
    valid('payment_intent', raw.payment_intent);
    assert.equal(raw.payment_intent.status, 'requires_payment_method');
    assert.equal(raw.payment_intent.last_payment_error?.decline_code, 'insufficient_funds');
    assert.equal(raw.payment_intent.last_payment_error?.charge, raw.charge);
    assert.equal(raw.payment_method.card?.last4, '9995');
    const pi = await stripe.paymentIntents.retrieve(raw.payment_intent.id);
    assert.deepEqual([pi.status, pi.payment_method, pi.latest_charge, pi.amount_received], ['requires_payment_method', null, raw.charge, 0]);
    const charge = await stripe.charges.retrieve(raw.charge);
    valid('charge', charge);
    assert.deepEqual([charge.status, charge.paid, charge.captured, charge.failure_code, charge.balance_transaction, charge.outcome?.reason], ['failed', false, false, 'card_declined', null, 'insufficient_funds']);
    assert.deepEqual(objectIds(await log.since(mark)), [`payment_intent.created ${pi.id}`, `charge.failed ${charge.id}`, `payment_intent.payment_failed ${pi.id}`]);
    // The customer tries another card: the same intent succeeds and clears the error.
    const retried = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    assert.deepEqual([retried.status, retried.last_payment_error, retried.amount_received], ['succeeded', null, 3000]);
    assert.equal((await stripe.charges.list({ payment_intent: pi.id })).data.length, 2);
  });

  test('other test cards: generic decline, processing error, expired card; amounts below the minimum', async () => {
    const decline = async (pm: string) => (await stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: pm, confirm: true }).catch((e: CardError) => e)) as CardError;
    const generic = await decline('pm_card_chargeDeclined');
    assert.deepEqual([generic.code, generic.decline_code, generic.message], ['card_declined', 'generic_decline', 'Your card was declined.']);
    for (const pm of ['pm_card_chargeDeclinedProcessingError', 'pm_card_visa_chargeDeclinedProcessingError']) {
      const processing = await decline(pm);
      assert.deepEqual([processing.type, processing.code, processing.decline_code], ['StripeCardError', 'processing_error', 'processing_error']);
    }
    assert.equal((await decline('pm_card_chargeDeclinedExpiredCard')).code, 'expired_card');
    const ok = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur', payment_method: 'pm_card_mastercard', confirm: true });
    assert.equal(ok.status, 'succeeded');
    await assert.rejects(stripe.paymentIntents.create({ amount: 20, currency: 'usd' }), (e: Stripe.errors.StripeError) => e.code === 'amount_too_small' && e.param === 'amount');
    await assert.rejects(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: 'pm_nope', confirm: true }), (e: Stripe.errors.StripeError) => e.statusCode === 404 && e.param === 'payment_method');
  });

  test('create, update with a payment method, then confirm', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1200, currency: 'usd', metadata: { order: '42' } });
    assert.equal(pi.status, 'requires_payment_method');
    assert.match(String(pi.client_secret), new RegExp(`^${pi.id}_secret_`));
    const updated = await stripe.paymentIntents.update(pi.id, { payment_method: 'pm_card_visa', description: 'Order 42' });
    assert.equal(updated.status, 'requires_confirmation');
    const confirmed = await stripe.paymentIntents.confirm(pi.id);
    assert.equal(confirmed.status, 'succeeded');
    const charge = await stripe.charges.retrieve(String(confirmed.latest_charge));
    assert.deepEqual([charge.description, charge.metadata], ['Order 42', { order: '42' }]);
    await assert.rejects(stripe.paymentIntents.confirm(pi.id), (e: Stripe.errors.StripeError) => e.code === 'payment_intent_unexpected_state');
    await assert.rejects(stripe.paymentIntents.update(pi.id, { amount: 1 }), (e: Stripe.errors.StripeError) => e.code === 'payment_intent_unexpected_state');
  });

  test('manual capture: requires_capture, a partial capture, and no second capture', async () => {
    const mark = await log.mark();
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', payment_method: 'pm_card_visa', capture_method: 'manual', confirm: true });
    assert.deepEqual([pi.status, pi.amount_capturable, pi.amount_received], ['requires_capture', 2000, 0]);
    const held = await stripe.charges.retrieve(String(pi.latest_charge));
    assert.deepEqual([held.status, held.paid, held.captured, held.balance_transaction], ['succeeded', true, false, null]);
    await assert.rejects(stripe.paymentIntents.capture(pi.id, { amount_to_capture: 2500 }), (e: Stripe.errors.StripeError) => e.param === 'amount_to_capture');
    const captured = await stripe.paymentIntents.capture(pi.id, { amount_to_capture: 1500 });
    assert.deepEqual([captured.status, captured.amount_received, captured.amount_capturable], ['succeeded', 1500, 0]);
    const charge = await stripe.charges.retrieve(held.id, { expand: ['balance_transaction'] });
    assert.deepEqual([charge.captured, charge.amount_captured, (charge.balance_transaction as Stripe.BalanceTransaction).amount], [true, 1500, 1500]);
    await assert.rejects(stripe.paymentIntents.capture(pi.id), (e: Stripe.errors.StripeError) => e.code === 'payment_intent_unexpected_state' && e.statusCode === 400);
    assert.deepEqual(await log.types(mark), ['payment_intent.created', 'charge.succeeded', 'payment_intent.amount_capturable_updated', 'charge.captured', 'payment_intent.succeeded']);
  });

  test('cancel: before confirmation, and an uncaptured authorization, which is released; not once succeeded', async () => {
    const open = await stripe.paymentIntents.create({ amount: 900, currency: 'usd' });
    const canceled = await stripe.paymentIntents.cancel(open.id, { cancellation_reason: 'requested_by_customer' });
    assert.deepEqual([canceled.status, canceled.cancellation_reason, typeof canceled.canceled_at], ['canceled', 'requested_by_customer', 'number']);
    await assert.rejects(stripe.paymentIntents.confirm(open.id, { payment_method: 'pm_card_visa' }), (e: Stripe.errors.StripeError) => e.code === 'payment_intent_unexpected_state');
    const held = await stripe.paymentIntents.create({ amount: 900, currency: 'usd', payment_method: 'pm_card_visa', capture_method: 'manual', confirm: true });
    const mark = await log.mark();
    await stripe.paymentIntents.cancel(held.id);
    const charge = await stripe.charges.retrieve(String(held.latest_charge));
    assert.deepEqual([charge.refunded, charge.amount_refunded, charge.captured], [true, 900, false]);
    assert.deepEqual(await log.types(mark), ['charge.refunded', 'payment_intent.canceled']);
    const done = await stripe.paymentIntents.create({ amount: 900, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    await assert.rejects(stripe.paymentIntents.cancel(done.id), (e: Stripe.errors.StripeError) => e.code === 'payment_intent_unexpected_state');
  });

  test('forced faults: one queued api_error is a StripeAPIError, retried by the SDK when configured; slow responses', async () => {
    const before = emulator.faultsInjected().api_error!;
    emulator.injectFault('api_error', { method: 'POST', path: '/v1/payment_intents', times: 1 });
    const mark = await log.mark();
    await assert.rejects(stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true }), (e: Stripe.errors.StripeError) => e instanceof Stripe.errors.StripeAPIError && e.statusCode === 500);
    assert.deepEqual(await log.types(mark), [], 'nothing was created by the failed request');

    emulator.injectFault('api_error', { method: 'POST', path: '/v1/payment_intents', times: 1 });
    const retrying = sdkFor(emulator, { maxNetworkRetries: 2 });
    const pi = await retrying.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    assert.equal(pi.status, 'succeeded');
    assert.equal(emulator.faultsInjected().api_error, before + 2);
    const events = await log.since(mark);
    assert.deepEqual(events.map((e) => e.type), ['payment_intent.created', 'charge.succeeded', 'payment_intent.succeeded'], 'one intent, one charge');
    assert.match(String(events[0]!.request?.idempotency_key), /^stripe-node-retry-/, 'the SDK retried with its own idempotency key');

    // The header forces a fault on every attempt of a request (the SDK repeats its headers).
    await assert.rejects(retrying.customers.create({}, { headers: { 'Emulator-Fault': 'api_error' }, maxNetworkRetries: 1 }), (e: Stripe.errors.StripeError) => e.type === 'StripeAPIError');
    assert.equal(emulator.faultsInjected().api_error, before + 4);

    // Over HTTP, for clients outside the process: a slow response on the next refund only.
    const queued = await fetch(`${emulator.url}/_emulator/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fault: 'slow=300ms', path: '/v1/refunds' }) });
    assert.equal(queued.status, 200);
    assert.equal(((await (await fetch(`${emulator.url}/_emulator/faults`)).json()) as { pending: unknown[] }).pending.length, 1);
    const started = performance.now();
    await stripe.refunds.create({ payment_intent: pi.id, amount: 100 });
    assert.ok(performance.now() - started >= 290, 'the refund was slowed');
    const quick = performance.now();
    await stripe.refunds.create({ payment_intent: pi.id, amount: 100 });
    assert.ok(performance.now() - quick < 250, 'only once');
    const bad = await fetch(`${emulator.url}/_emulator/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fault: 'explode' }) });
    assert.equal(bad.status, 400);
  });

  test('refunds: partial, then the rest; the charge, its refunds list and balance transactions follow', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 5000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    const mark = await log.mark();
    const first = await stripe.refunds.create({ payment_intent: pi.id, amount: 2000, reason: 'requested_by_customer', metadata: { ticket: 'T-1' } });
    valid('refund', first);
    assert.deepEqual([first.status, first.amount, first.charge, first.payment_intent, first.reason], ['succeeded', 2000, pi.latest_charge, pi.id, 'requested_by_customer']);
    let charge = await stripe.charges.retrieve(String(pi.latest_charge), { expand: ['refunds'] });
    assert.deepEqual([charge.amount_refunded, charge.refunded, charge.refunds?.data.map((r) => r.id)], [2000, false, [first.id]]);
    await assert.rejects(stripe.refunds.create({ charge: charge.id, amount: 3001 }), (e: Stripe.errors.StripeError) => e.code === 'amount_too_large' && e.param === 'amount');
    const rest = await stripe.refunds.create({ charge: charge.id });
    assert.equal(rest.amount, 3000);
    charge = await stripe.charges.retrieve(charge.id);
    assert.deepEqual([charge.amount_refunded, charge.refunded], [5000, true]);
    await assert.rejects(stripe.refunds.create({ charge: charge.id }), (e: Stripe.errors.StripeError) => e.code === 'charge_already_refunded');
    const listed = await anyList(stripe).list(`/v1/charges/${charge.id}/refunds`);
    assert.deepEqual(listed.data.map((r) => r.id), [rest.id, first.id]);
    assert.deepEqual((await stripe.refunds.list({ payment_intent: pi.id })).data.map((r) => r.id), [rest.id, first.id]);
    const txn = await stripe.balanceTransactions.retrieve(String(first.balance_transaction));
    assert.deepEqual([txn.amount, txn.type, txn.source], [-2000, 'refund', first.id]);
    const updated = await stripe.refunds.update(first.id, { metadata: { ticket: '' , done: 'yes' } });
    assert.deepEqual(updated.metadata, { done: 'yes' });
    assert.deepEqual(objectIds(await log.since(mark)), [
      `refund.created ${first.id}`, `charge.refunded ${charge.id}`, `refund.created ${rest.id}`, `charge.refunded ${charge.id}`, `refund.updated ${first.id}`,
    ]);
    const held = await stripe.paymentIntents.create({ amount: 800, currency: 'usd', payment_method: 'pm_card_visa', capture_method: 'manual', confirm: true });
    await assert.rejects(stripe.refunds.create({ charge: String(held.latest_charge) }), (e: Stripe.errors.StripeError) => e.statusCode === 400 && e.param === 'charge');
    await assert.rejects(stripe.refunds.create({}), (e: Stripe.errors.StripeError) => e.code === 'parameter_missing');
  });

  test('payment methods: created from test cards, attached and detached with events; a declining card cannot be saved', async () => {
    const customer = await stripe.customers.create({ name: 'Card holder' });
    const pm = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_mastercard' } });
    valid('payment_method', pm);
    assert.deepEqual([pm.card?.brand, pm.card?.last4, pm.customer], ['mastercard', '4444', null]);
    await assert.rejects(stripe.paymentMethods.update(pm.id, { metadata: { a: 'b' } }), (e: Stripe.errors.StripeError) => e.statusCode === 400);
    await assert.rejects(stripe.paymentMethods.detach(pm.id), (e: Stripe.errors.StripeError) => e.code === 'payment_method_unexpected_state');
    const mark = await log.mark();
    const attached = await stripe.paymentMethods.attach(pm.id, { customer: customer.id });
    assert.equal(attached.customer, customer.id);
    const visa = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    assert.match(visa.id, /^pm_(?!card_)/);
    assert.deepEqual((await stripe.customers.listPaymentMethods(customer.id)).data.map((p) => p.id).sort(), [pm.id, visa.id].sort());
    await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
    const renamed = await stripe.paymentMethods.update(pm.id, { billing_details: { name: 'A. Holder' } });
    assert.equal(renamed.billing_details.name, 'A. Holder');
    const detached = await stripe.paymentMethods.detach(pm.id);
    assert.equal(detached.customer, null);
    const after = (await stripe.customers.retrieve(customer.id)) as Stripe.Customer;
    assert.equal(after.invoice_settings.default_payment_method, null, 'a detached default is unset');
    const events = await log.since(mark);
    assert.deepEqual(objectIds(events), [
      `payment_method.attached ${pm.id}`, `payment_method.attached ${visa.id}`, `customer.updated ${customer.id}`, `payment_method.updated ${pm.id}`,
      `payment_method.detached ${pm.id}`, `customer.updated ${customer.id}`,
    ]);
    assert.deepEqual(events[3]!.data.previous_attributes, { billing_details: { address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null }, email: null, name: null, phone: null } });
    await assert.rejects(stripe.paymentMethods.attach('pm_card_chargeDeclined', { customer: customer.id }), (e: Stripe.errors.StripeError) => e instanceof Stripe.errors.StripeCardError);
    await assert.rejects(stripe.paymentMethods.attach(visa.id, { customer: (await stripe.customers.create({})).id }), (e: Stripe.errors.StripeError) => e.code === 'payment_method_unexpected_state');
    // A customer created with a payment method has it attached.
    const withCard = await stripe.customers.create({ payment_method: 'pm_card_amex' });
    assert.equal((await stripe.customers.listPaymentMethods(withCard.id)).data[0]?.card?.last4, '0005');
  });

  test('setup intents: confirming saves the card to the customer; a declining card fails; cancel', async () => {
    const customer = await stripe.customers.create({ email: 'setup@example.com' });
    const mark = await log.mark();
    const si = await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_visa', confirm: true, usage: 'off_session' });
    valid('setup_intent', si);
    assert.equal(si.status, 'succeeded');
    assert.match(String(si.latest_attempt), /^setatt_/);
    const pm = await stripe.paymentMethods.retrieve(String(si.payment_method));
    assert.equal(pm.customer, customer.id);
    const attempts = await stripe.setupAttempts.list({ setup_intent: si.id });
    assert.deepEqual(attempts.data.map((a) => [a.id, a.status]), [[si.latest_attempt, 'succeeded']]);
    assert.deepEqual(await log.types(mark), ['setup_intent.created', 'payment_method.attached', 'setup_intent.succeeded']);

    const err = (await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_chargeDeclined', confirm: true }).catch((e: CardError) => e)) as CardError;
    assert.ok(err instanceof Stripe.errors.StripeCardError);
    const failed = await stripe.setupIntents.retrieve(err.setup_intent!.id);
    assert.deepEqual([failed.status, failed.last_setup_error?.decline_code, failed.payment_method], ['requires_payment_method', 'generic_decline', null]);

    const pending = await stripe.setupIntents.create({ customer: customer.id });
    assert.equal(pending.status, 'requires_payment_method');
    const canceled = await stripe.setupIntents.cancel(pending.id, { cancellation_reason: 'abandoned' });
    assert.deepEqual([canceled.status, canceled.cancellation_reason], ['canceled', 'abandoned']);
    await assert.rejects(stripe.setupIntents.confirm(pending.id, { payment_method: 'pm_card_visa' }), (e: Stripe.errors.StripeError) => e.code === 'setup_intent_unexpected_state');
    const types = await log.types(mark);
    assert.ok(types.includes('setup_intent.setup_failed') && types.at(-1) === 'setup_intent.canceled');
  });

  test('every object retrieves as its newest event carries it (no change without an event)', async () => {
    const compared = await log.stateMatches();
    assert.ok(compared >= 20, `${compared} objects`);
  });

  test('every event recorded validates against the spec, object included', async () => {
    const count = await log.validateAll();
    assert.ok(count >= 60, `${count} events`);
  });
});
