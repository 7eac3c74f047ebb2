// Payment intents (create, update, confirm, capture, cancel), the charges they make and the
// balance transactions of captured money, and refunds. What a confirmation does depends on the
// test card behind the payment method (test-cards.ts): `pm_card_visa` succeeds,
// `pm_card_chargeDeclinedInsufficientFunds` is a 402 card_error with decline_code
// insufficient_funds, after which the intent is back to requires_payment_method, as on Stripe.
//
// Events: payment_intent.created; on success charge.succeeded then payment_intent.succeeded (or
// payment_intent.amount_capturable_updated for manual capture; capture adds charge.captured and
// payment_intent.succeeded); on a decline charge.failed then payment_intent.payment_failed;
// payment_intent.canceled; refund.created then charge.refunded; charge.updated, refund.updated.
import type { Router } from '../api.ts';
import type { Emulator } from '../context.ts';
import { invalid, StripeError } from '../errors.ts';
import type { EventRequest } from '../events.ts';
import { renderObject } from '../expand.ts';
import type { Params } from '../params.ts';
import type { JsonObject } from '../spec.ts';
import type { Entry } from '../store.ts';
import { createObject, fieldValue, findLive, mergeMetadata, rejectUnsupported, replaceSilently, updateObject } from '../writes.ts';
import { attachPaymentMethod, cardError, checkCustomer, checkPaymentMethodRef, declineDetails, resolvePaymentMethod } from './payment-methods.ts';
import { cardBehaviour, type Decline } from './test-cards.ts';

const DAY = 86400;

/** Stripe's minimum charge amounts (in the smallest unit) for the common currencies. */
const MINIMUM: Record<string, number> = { usd: 50, eur: 50, cad: 50, aud: 50, nzd: 50, chf: 50, gbp: 30, jpy: 50, sgd: 50, hkd: 400, sek: 300, nok: 300, dkk: 250, mxn: 1000, brl: 50, inr: 50, pln: 200 };

const unexpectedState = (message: string) => invalid(message, undefined, 'payment_intent_unexpected_state');

export function checkCurrency(value: unknown, param = 'currency'): string {
  const currency = String(value ?? '').toLowerCase();
  if (!/^[a-z]{3}$/.test(currency)) throw invalid(`Invalid currency: ${String(value)}. Stripe currently supports these currencies: usd, eur, gbp, …`, param);
  return currency;
}

function checkAmount(amount: number, currency: string): void {
  const min = MINIMUM[currency];
  if (min !== undefined && amount < min) {
    const shown = currency === 'jpy' ? `¥${min}` : `${(min / 100).toFixed(2)}`;
    throw invalid(`Amount must be at least ${shown} ${currency}`, 'amount', 'amount_too_small');
  }
}

export interface IntentInit {
  amount: number;
  currency: string;
  customer: string | null;
  description?: string | null;
  metadata?: JsonObject;
  paymentMethod?: string | null;
  captureMethod?: 'automatic' | 'manual';
  confirmationMethod?: 'automatic' | 'manual';
  invoice?: string | null;
  paymentMethodTypes?: string[];
  automaticPaymentMethods?: JsonObject | null;
  receiptEmail?: string | null;
  setupFutureUsage?: string | null;
  statementDescriptor?: string | null;
  statementDescriptorSuffix?: string | null;
  shipping?: unknown;
  transferGroup?: string | null;
}

/** A new payment intent, in requires_payment_method or requires_confirmation, with payment_intent.created. */
export function createPaymentIntent(emu: Emulator, request: EventRequest, init: IntentInit): Entry {
  const id = emu.ids.next('payment_intent');
  return createObject(emu, request, 'payment_intent', {
    amount: init.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: init.automaticPaymentMethods ?? null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: init.captureMethod ?? 'automatic',
    client_secret: `${id}_secret_${emu.ids.chars(25)}`,
    confirmation_method: init.confirmationMethod ?? 'automatic',
    currency: init.currency,
    customer: init.customer,
    description: init.description ?? null,
    invoice: init.invoice ?? null,
    last_payment_error: null,
    latest_charge: null,
    metadata: init.metadata ?? {},
    next_action: null,
    on_behalf_of: null,
    payment_method: init.paymentMethod ?? null,
    payment_method_options: {},
    payment_method_types: init.paymentMethodTypes ?? ['card'],
    processing: null,
    receipt_email: init.receiptEmail ?? null,
    review: null,
    setup_future_usage: init.setupFutureUsage ?? null,
    shipping: init.shipping ?? null,
    statement_descriptor: init.statementDescriptor ?? null,
    statement_descriptor_suffix: init.statementDescriptorSuffix ?? null,
    status: init.paymentMethod ? 'requires_confirmation' : 'requires_payment_method',
    transfer_data: null,
    transfer_group: init.transferGroup ?? null,
  }, { id });
}

function balanceTransaction(emu: Emulator, request: EventRequest, amount: number, currency: string, type: 'charge' | 'refund', source: string): Entry {
  const now = emu.clock.now();
  const fee = type === 'charge' ? Math.round(amount * 0.029) + 30 : 0;
  return createObject(emu, request, 'balance_transaction', {
    amount,
    available_on: type === 'charge' ? now - (now % DAY) + 2 * DAY : now,
    currency,
    description: type === 'refund' ? 'REFUND FOR CHARGE' : null,
    exchange_rate: null,
    fee,
    fee_details: fee ? [{ amount: fee, application: null, currency, description: 'Stripe processing fees', type: 'stripe_fee' }] : [],
    net: amount - fee,
    reporting_category: type,
    source,
    status: type === 'charge' ? 'pending' : 'available',
    type,
  }, { event: null });
}

function outcomeFor(decline: Decline | undefined): JsonObject {
  if (!decline) return { network_status: 'approved_by_network', reason: null, risk_level: 'normal', risk_score: 32, seller_message: 'Payment complete.', type: 'authorized' };
  const generic = decline.decline_code === 'generic_decline';
  return {
    network_status: 'declined_by_network',
    reason: decline.decline_code,
    risk_level: 'normal',
    risk_score: 32,
    seller_message: generic ? 'The bank did not return any further details with this decline.' : `The bank returned the decline code \`${decline.decline_code}\`.`,
    type: 'issuer_declined',
  };
}

function createCharge(emu: Emulator, request: EventRequest, pi: JsonObject, pm: Entry, decline: Decline | undefined, capture: boolean): Entry {
  const id = emu.ids.next('charge');
  const amount = pi.amount as number;
  const currency = pi.currency as string;
  const captured = !decline && capture;
  const txn = captured ? balanceTransaction(emu, request, amount, currency, 'charge', id) : undefined;
  const card = pm.obj.card as JsonObject;
  return createObject(emu, request, 'charge', {
    amount,
    amount_captured: captured ? amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: txn?.id ?? null,
    billing_details: pm.obj.billing_details,
    calculated_statement_descriptor: 'LEDGERLINE',
    captured,
    currency,
    customer: pi.customer,
    description: pi.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: decline?.code ?? null,
    failure_message: decline?.message ?? null,
    fraud_details: {},
    invoice: pi.invoice,
    metadata: pi.metadata,
    on_behalf_of: null,
    outcome: outcomeFor(decline),
    paid: !decline,
    payment_intent: pi.id,
    payment_method: pm.id,
    payment_method_details: {
      card: {
        brand: card.brand, checks: card.checks, country: card.country, exp_month: card.exp_month, exp_year: card.exp_year, fingerprint: card.fingerprint, funding: card.funding,
        installments: null, last4: card.last4, mandate: null, network: card.brand, network_token: { used: false }, three_d_secure: null, wallet: null,
      },
      type: 'card',
    },
    receipt_email: pi.receipt_email,
    receipt_number: null,
    receipt_url: null,
    refunded: false,
    review: null,
    shipping: pi.shipping,
    source_transfer: null,
    statement_descriptor: pi.statement_descriptor,
    statement_descriptor_suffix: pi.statement_descriptor_suffix,
    status: decline ? 'failed' : 'succeeded',
    transfer_data: null,
    transfer_group: pi.transfer_group,
  }, { id, event: decline ? 'charge.failed' : 'charge.succeeded' });
}

export interface ConfirmOptions {
  /** A payment method id or test id; the intent's own when absent. */
  paymentMethod?: string;
  captureMethod?: 'automatic' | 'manual';
  setupFutureUsage?: string | null;
  receiptEmail?: string | null;
}

export interface ConfirmResult {
  intent: Entry;
  charge: Entry;
  paymentMethod: Entry;
  decline: Decline | undefined;
}

/** Checks a confirmation can run, before anything changes. */
export function checkConfirmable(emu: Emulator, pi: JsonObject, paymentMethod: string | undefined): void {
  const status = pi.status as string;
  if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(status)) {
    throw unexpectedState(`You cannot confirm this PaymentIntent because it has a status of ${status}. Only a PaymentIntent with one of the following statuses may be confirmed: requires_payment_method, requires_confirmation, requires_action.`);
  }
  const ref = paymentMethod ?? (pi.payment_method as string | null);
  if (!ref) throw invalid('You cannot confirm this PaymentIntent because it\'s missing a payment method. To confirm the PaymentIntent with the customer\'s default payment method, pass it as payment_method.', 'payment_method', 'payment_intent_unexpected_state');
  checkPaymentMethodRef(emu, ref, 'payment_method', pi.customer as string | null);
}

/**
 * Charges the payment method: a charge (succeeded or failed) and the intent's new state, with
 * their events. A decline does not throw: callers answer it (a 402 for the API, an open invoice
 * for a subscription).
 */
export function confirmPaymentIntent(emu: Emulator, request: EventRequest, pi: Entry, options: ConfirmOptions = {}): ConfirmResult {
  checkConfirmable(emu, pi.obj, options.paymentMethod);
  const pm = resolvePaymentMethod(emu, request, options.paymentMethod ?? (pi.obj.payment_method as string));
  const decline = cardBehaviour(pm.obj)?.decline;
  const captureMethod = options.captureMethod ?? (pi.obj.capture_method as 'automatic' | 'manual');
  const base: JsonObject = { ...pi.obj, capture_method: captureMethod, payment_method: pm.id };
  if (options.setupFutureUsage !== undefined) base.setup_future_usage = options.setupFutureUsage;
  if (options.receiptEmail !== undefined) base.receipt_email = options.receiptEmail;
  const charge = createCharge(emu, request, base, pm, decline, captureMethod === 'automatic');
  if (decline) {
    updateObject(emu, request, pi, {
      capture_method: captureMethod,
      latest_charge: charge.id,
      last_payment_error: declineDetails(decline, pm.obj, charge.id),
      payment_method: null,
      status: 'requires_payment_method',
      setup_future_usage: base.setup_future_usage,
      receipt_email: base.receipt_email,
    }, 'payment_intent.payment_failed');
    return { intent: pi, charge, paymentMethod: pm, decline };
  }
  const customer = pi.obj.customer as string | null;
  if (customer && base.setup_future_usage) attachPaymentMethod(emu, request, pm, customer);
  const amount = pi.obj.amount as number;
  const manual = captureMethod === 'manual';
  updateObject(emu, request, pi, {
    amount_capturable: manual ? amount : 0,
    amount_received: manual ? 0 : amount,
    capture_method: captureMethod,
    latest_charge: charge.id,
    last_payment_error: null,
    payment_method: pm.id,
    status: manual ? 'requires_capture' : 'succeeded',
    setup_future_usage: base.setup_future_usage,
    receipt_email: base.receipt_email,
  }, manual ? 'payment_intent.amount_capturable_updated' : 'payment_intent.succeeded');
  return { intent: pi, charge, paymentMethod: pm, decline: undefined };
}

/** The 402 the API answers for a declined confirmation. */
export function declineError(result: ConfirmResult): StripeError {
  return cardError(result.decline!, { charge: result.charge.id, payment_intent: result.intent.obj, payment_method: result.paymentMethod.obj });
}

/** Cancels an intent (releasing an uncaptured charge), with payment_intent.canceled. */
export function cancelPaymentIntent(emu: Emulator, request: EventRequest, pi: Entry, reason: string | null): Entry {
  const status = pi.obj.status as string;
  if (!['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing'].includes(status)) {
    throw unexpectedState(`You cannot cancel this PaymentIntent because it has a status of ${status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.`);
  }
  if (status === 'requires_capture' && typeof pi.obj.latest_charge === 'string') {
    const charge = emu.store.collection('charge').get(pi.obj.latest_charge);
    // The authorization is released: the charge reads as refunded in full.
    if (charge) updateObject(emu, request, charge, { amount_refunded: charge.obj.amount, refunded: true }, 'charge.refunded');
  }
  return updateObject(emu, request, pi, { status: 'canceled', canceled_at: emu.clock.now(), cancellation_reason: reason, amount_capturable: 0 }, 'payment_intent.canceled');
}

function capturePaymentIntent(emu: Emulator, request: EventRequest, pi: Entry, params: Params): Entry {
  const status = pi.obj.status as string;
  if (status !== 'requires_capture') {
    throw unexpectedState(`This PaymentIntent could not be captured because it has a status of ${status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`);
  }
  const capturable = pi.obj.amount_capturable as number;
  const amount = (params.amount_to_capture as number | undefined) ?? capturable;
  if (amount > capturable) throw invalid(`The amount to capture (${amount}) must be less than or equal to the amount capturable (${capturable}).`, 'amount_to_capture', 'amount_too_large');
  if (amount < 1) throw invalid('The amount to capture must be positive.', 'amount_to_capture');
  const charge = emu.store.collection('charge').get(String(pi.obj.latest_charge))!;
  const txn = balanceTransaction(emu, request, amount, pi.obj.currency as string, 'charge', charge.id);
  const metadata = params.metadata === undefined ? pi.obj.metadata : mergeMetadata(pi.obj.metadata, params.metadata);
  updateObject(emu, request, charge, { amount_captured: amount, captured: true, balance_transaction: txn.id, metadata }, 'charge.captured');
  return updateObject(emu, request, pi, { amount_capturable: 0, amount_received: amount, status: 'succeeded', metadata }, 'payment_intent.succeeded');
}

/** Refunds part or all of a captured charge: a refund, its balance transaction, the charge's new totals. */
export function createRefund(emu: Emulator, request: EventRequest, charge: Entry, amount: number | undefined, options: { reason?: string | null; metadata?: JsonObject; param?: string } = {}): Entry {
  const c = charge.obj;
  if (c.status !== 'succeeded' || c.paid !== true) throw invalid(`Charge ${charge.id} has not succeeded, so it cannot be refunded.`, 'charge');
  if (c.captured !== true) throw invalid(`Charge ${charge.id} has not been captured: cancel its PaymentIntent to release the authorization instead.`, 'charge');
  const remaining = (c.amount_captured as number) - (c.amount_refunded as number);
  if (remaining <= 0) throw invalid(`Charge ${charge.id} has already been refunded.`, 'charge', 'charge_already_refunded');
  const value = amount ?? remaining;
  if (value < 1) throw invalid('Refund amount must be positive.', options.param ?? 'amount');
  if (value > remaining) {
    throw invalid(`Refund amount (${value}) is greater than unrefunded amount on charge (${remaining})`, options.param ?? 'amount', 'amount_too_large');
  }
  const id = emu.ids.next('refund');
  const txn = balanceTransaction(emu, request, -value, c.currency as string, 'refund', id);
  const refund = createObject(emu, request, 'refund', {
    amount: value,
    balance_transaction: txn.id,
    charge: charge.id,
    currency: c.currency,
    description: null,
    failure_balance_transaction: null,
    failure_reason: null,
    instructions_email: null,
    metadata: options.metadata ?? {},
    next_action: null,
    payment_intent: c.payment_intent,
    reason: options.reason ?? null,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  }, { id, event: 'refund.created' });
  const refunded = (c.amount_refunded as number) + value;
  updateObject(emu, request, charge, { amount_refunded: refunded, refunded: refunded === c.amount_captured }, 'charge.refunded');
  return refund;
}

const PI_CREATE = [
  'amount', 'automatic_payment_methods', 'capture_method', 'confirm', 'confirmation_method', 'currency', 'customer', 'description', 'error_on_requires_action', 'metadata',
  'off_session', 'payment_method', 'payment_method_types', 'receipt_email', 'return_url', 'setup_future_usage', 'shipping', 'statement_descriptor', 'statement_descriptor_suffix', 'transfer_group', 'use_stripe_sdk',
] as const;
const PI_UPDATE = ['amount', 'capture_method', 'currency', 'customer', 'description', 'metadata', 'payment_method', 'payment_method_types', 'receipt_email', 'setup_future_usage', 'shipping', 'statement_descriptor', 'statement_descriptor_suffix', 'transfer_group'] as const;
const PI_CONFIRM = ['capture_method', 'error_on_requires_action', 'off_session', 'payment_method', 'receipt_email', 'return_url', 'setup_future_usage', 'use_stripe_sdk'] as const;

function checkTypes(types: unknown): string[] | undefined {
  if (types === undefined) return undefined;
  const list = types as string[];
  if (list.some((t) => t !== 'card')) throw invalid('The Stripe emulator only emulates card payments (payment_method_types[]=card).', 'payment_method_types');
  return list;
}

/** What else a confirmation through the API settles (the invoice of an invoice's intent). */
export type AfterConfirm = (emu: Emulator, request: EventRequest, result: ConfirmResult) => void;

export function definePaymentRoutes(router: Router, afterConfirm: AfterConfirm = () => {}): void {
  const confirmOrThrow = (emu: Emulator, request: EventRequest, pi: Entry, options: ConfirmOptions): Entry => {
    const result = confirmPaymentIntent(emu, request, pi, options);
    afterConfirm(emu, request, result);
    if (result.decline) throw declineError(result);
    return result.intent;
  };

  router.define('POST', '/v1/payment_intents', (call) => {
    rejectUnsupported(call, PI_CREATE, 'POST /v1/payment_intents');
    const { emu, params, request } = call;
    const currency = checkCurrency(params.currency);
    const amount = params.amount as number;
    checkAmount(amount, currency);
    const customer = checkCustomer(emu, params.customer);
    const types = checkTypes(params.payment_method_types);
    const pmRef = params.payment_method as string | undefined;
    if (pmRef) checkPaymentMethodRef(emu, pmRef, 'payment_method', customer);
    if (params.off_session !== undefined && params.confirm !== true) throw invalid('off_session can only be used with confirm=true.', 'off_session');
    if (params.confirm === true && !pmRef) {
      throw invalid("You cannot confirm this PaymentIntent because it's missing a payment method. Pass payment_method.", 'payment_method', 'payment_intent_unexpected_state');
    }
    const automatic = params.automatic_payment_methods as Params | undefined;
    // From API version 2023-08-16 on, automatic payment methods are on unless types are given.
    const automaticPaymentMethods = types ? null : { allow_redirects: automatic?.allow_redirects ?? 'always', enabled: automatic?.enabled ?? true };
    const pm = pmRef ? resolvePaymentMethod(emu, request, pmRef) : undefined;
    const pi = createPaymentIntent(emu, request, {
      amount,
      currency,
      customer,
      description: (params.description as string | undefined) ?? null,
      metadata: mergeMetadata({}, params.metadata ?? {}),
      paymentMethod: pm?.id ?? null,
      captureMethod: params.capture_method as 'automatic' | 'manual' | undefined,
      confirmationMethod: params.confirmation_method as 'automatic' | 'manual' | undefined,
      paymentMethodTypes: types ?? ['card'],
      automaticPaymentMethods,
      receiptEmail: (params.receipt_email as string | undefined) ?? null,
      setupFutureUsage: (params.setup_future_usage as string | undefined) ?? null,
      statementDescriptor: (params.statement_descriptor as string | undefined) ?? null,
      statementDescriptorSuffix: (params.statement_descriptor_suffix as string | undefined) ?? null,
      shipping: params.shipping === undefined ? null : fieldValue(emu, 'payment_intent', 'shipping', params.shipping),
      transferGroup: (params.transfer_group as string | undefined) ?? null,
    });
    if (params.confirm === true) confirmOrThrow(emu, request, pi, {});
    return renderObject(emu, pi, call.expand);
  });

  router.define('POST', '/v1/payment_intents/{intent}', (call) => {
    rejectUnsupported(call, PI_UPDATE, 'POST /v1/payment_intents/{intent}');
    const { emu, params, request } = call;
    const pi = findLive(emu, 'payment_intent', call.pathParams.intent!, 'intent');
    const status = pi.obj.status as string;
    const editable = ['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(status);
    const onlyNotes = Object.keys(params).every((k) => ['metadata', 'description', 'receipt_email', 'expand'].includes(k));
    if (!editable && !onlyNotes) throw unexpectedState(`You cannot update this PaymentIntent because it has a status of ${status}.`);
    if (pi.obj.invoice && (params.amount !== undefined || params.currency !== undefined || params.customer !== undefined)) {
      throw invalid('You cannot change the amount, currency or customer of a PaymentIntent created by an invoice.', 'amount');
    }
    const changes: JsonObject = {};
    const currency = params.currency === undefined ? (pi.obj.currency as string) : checkCurrency(params.currency);
    if (params.currency !== undefined) changes.currency = currency;
    if (params.amount !== undefined) {
      checkAmount(params.amount as number, currency);
      changes.amount = params.amount;
    }
    if (params.customer !== undefined) {
      if (pi.obj.customer && params.customer !== pi.obj.customer) throw invalid('You cannot change the customer of a PaymentIntent once it is set.', 'customer');
      changes.customer = checkCustomer(emu, params.customer);
    }
    for (const field of ['capture_method', 'description', 'receipt_email', 'setup_future_usage', 'statement_descriptor', 'statement_descriptor_suffix', 'transfer_group'] as const) {
      if (params[field] !== undefined) changes[field] = params[field] === '' ? null : params[field];
    }
    if (params.metadata !== undefined) changes.metadata = mergeMetadata(pi.obj.metadata, params.metadata);
    if (params.shipping !== undefined) changes.shipping = fieldValue(emu, 'payment_intent', 'shipping', params.shipping, pi.obj.shipping);
    if (params.payment_method_types !== undefined) changes.payment_method_types = checkTypes(params.payment_method_types);
    if (typeof params.payment_method === 'string') {
      checkPaymentMethodRef(emu, params.payment_method, 'payment_method', (changes.customer ?? pi.obj.customer) as string | null);
      changes.payment_method = resolvePaymentMethod(emu, request, params.payment_method).id;
      changes.status = 'requires_confirmation';
    }
    // Any update clears the last error, as on Stripe; there is no payment_intent.updated event.
    if (Object.keys(changes).length) replaceSilently(emu, pi, { ...changes, last_payment_error: null });
    return renderObject(emu, pi, call.expand);
  });

  router.define('POST', '/v1/payment_intents/{intent}/confirm', (call) => {
    rejectUnsupported(call, PI_CONFIRM, 'POST /v1/payment_intents/{intent}/confirm');
    const { emu, params, request } = call;
    const pi = findLive(emu, 'payment_intent', call.pathParams.intent!, 'intent');
    if (params.payment_method_types !== undefined) checkTypes(params.payment_method_types);
    confirmOrThrow(emu, request, pi, {
      paymentMethod: params.payment_method as string | undefined,
      captureMethod: params.capture_method as 'automatic' | 'manual' | undefined,
      setupFutureUsage: params.setup_future_usage === undefined ? undefined : ((params.setup_future_usage as string) || null),
      receiptEmail: params.receipt_email as string | undefined,
    });
    return renderObject(emu, pi, call.expand);
  });

  router.define('POST', '/v1/payment_intents/{intent}/capture', (call) => {
    rejectUnsupported(call, ['amount_to_capture', 'metadata', 'statement_descriptor', 'statement_descriptor_suffix'], 'POST /v1/payment_intents/{intent}/capture');
    const pi = findLive(call.emu, 'payment_intent', call.pathParams.intent!, 'intent');
    return renderObject(call.emu, capturePaymentIntent(call.emu, call.request, pi, call.params), call.expand);
  });

  router.define('POST', '/v1/payment_intents/{intent}/cancel', (call) => {
    rejectUnsupported(call, ['cancellation_reason'], 'POST /v1/payment_intents/{intent}/cancel');
    const pi = findLive(call.emu, 'payment_intent', call.pathParams.intent!, 'intent');
    if (pi.obj.invoice) throw unexpectedState('You cannot cancel this PaymentIntent because it was created by an invoice. Void the invoice instead.');
    return renderObject(call.emu, cancelPaymentIntent(call.emu, call.request, pi, (call.params.cancellation_reason as string | undefined) ?? null), call.expand);
  });

  router.define('POST', '/v1/charges/{charge}', (call) => {
    rejectUnsupported(call, ['customer', 'description', 'fraud_details', 'metadata', 'receipt_email', 'shipping', 'transfer_group'], 'POST /v1/charges/{charge}');
    const { emu, params } = call;
    const charge = findLive(emu, 'charge', call.pathParams.charge!, 'charge');
    const changes: JsonObject = {};
    if (params.customer !== undefined) {
      if (charge.obj.customer) throw invalid('This charge already has a customer.', 'customer');
      changes.customer = checkCustomer(emu, params.customer);
    }
    for (const field of ['description', 'receipt_email', 'transfer_group'] as const) if (params[field] !== undefined) changes[field] = params[field] || null;
    if (params.metadata !== undefined) changes.metadata = mergeMetadata(charge.obj.metadata, params.metadata);
    if (params.shipping !== undefined) changes.shipping = fieldValue(emu, 'charge', 'shipping', params.shipping, charge.obj.shipping);
    if (params.fraud_details !== undefined) changes.fraud_details = { ...(charge.obj.fraud_details as JsonObject), ...(params.fraud_details as JsonObject) };
    updateObject(emu, call.request, charge, changes);
    return renderObject(emu, charge, call.expand);
  });

  router.define('POST', '/v1/charges/{charge}/capture', (call) => {
    rejectUnsupported(call, ['amount', 'metadata'], 'POST /v1/charges/{charge}/capture');
    const { emu } = call;
    const charge = findLive(emu, 'charge', call.pathParams.charge!, 'charge');
    const pi = typeof charge.obj.payment_intent === 'string' ? emu.store.collection('payment_intent').get(charge.obj.payment_intent) : undefined;
    if (!pi) throw invalid('The Stripe emulator only captures charges made by payment intents.', 'charge');
    if (charge.obj.captured === true) throw invalid(`Charge ${charge.id} has already been captured.`, 'charge', 'charge_already_captured');
    capturePaymentIntent(emu, call.request, pi, { amount_to_capture: call.params.amount, metadata: call.params.metadata });
    return renderObject(emu, charge, call.expand);
  });

  const refundParams = (call: { params: Params }) => ({
    reason: (call.params.reason as string | undefined) ?? null,
    metadata: mergeMetadata({}, call.params.metadata ?? {}),
  });

  router.define('POST', '/v1/refunds', (call) => {
    rejectUnsupported(call, ['amount', 'charge', 'payment_intent', 'reason', 'metadata', 'refund_application_fee', 'reverse_transfer'], 'POST /v1/refunds');
    const { emu, params } = call;
    let charge: Entry | undefined;
    if (typeof params.charge === 'string') {
      charge = findLive(emu, 'charge', params.charge, 'charge');
      if (typeof params.payment_intent === 'string' && charge.obj.payment_intent !== params.payment_intent) throw invalid('The charge does not belong to this PaymentIntent.', 'payment_intent');
    } else if (typeof params.payment_intent === 'string') {
      const pi = findLive(emu, 'payment_intent', params.payment_intent, 'payment_intent');
      if (pi.obj.status !== 'succeeded' || typeof pi.obj.latest_charge !== 'string') {
        throw invalid(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, 'payment_intent');
      }
      charge = findLive(emu, 'charge', pi.obj.latest_charge, 'payment_intent');
    } else {
      throw invalid('One of the following params should be provided for this request: payment_intent or charge.', undefined, 'parameter_missing');
    }
    const refund = createRefund(emu, call.request, charge, params.amount as number | undefined, refundParams(call));
    return renderObject(emu, refund, call.expand);
  });

  router.define('POST', '/v1/charges/{charge}/refunds', (call) => {
    rejectUnsupported(call, ['amount', 'reason', 'metadata', 'payment_intent', 'refund_application_fee', 'reverse_transfer'], 'POST /v1/charges/{charge}/refunds');
    const charge = findLive(call.emu, 'charge', call.pathParams.charge!, 'charge');
    return renderObject(call.emu, createRefund(call.emu, call.request, charge, call.params.amount as number | undefined, refundParams(call)), call.expand);
  });

  // The legacy form answers with the charge.
  router.define('POST', '/v1/charges/{charge}/refund', (call) => {
    rejectUnsupported(call, ['amount', 'reason', 'metadata', 'payment_intent', 'refund_application_fee', 'reverse_transfer'], 'POST /v1/charges/{charge}/refund');
    const charge = findLive(call.emu, 'charge', call.pathParams.charge!, 'charge');
    createRefund(call.emu, call.request, charge, call.params.amount as number | undefined, refundParams(call));
    return renderObject(call.emu, charge, call.expand);
  });

  const updateRefund = (emu: Emulator, request: EventRequest, refund: Entry, params: Params) => {
    if (params.metadata !== undefined) updateObject(emu, request, refund, { metadata: mergeMetadata(refund.obj.metadata, params.metadata) });
    return refund;
  };

  router.define('POST', '/v1/refunds/{refund}', (call) => {
    rejectUnsupported(call, ['metadata'], 'POST /v1/refunds/{refund}');
    const refund = findLive(call.emu, 'refund', call.pathParams.refund!, 'refund');
    return renderObject(call.emu, updateRefund(call.emu, call.request, refund, call.params), call.expand);
  });

  router.define('POST', '/v1/charges/{charge}/refunds/{refund}', (call) => {
    rejectUnsupported(call, ['metadata'], 'POST /v1/charges/{charge}/refunds/{refund}');
    const refund = findLive(call.emu, 'refund', call.pathParams.refund!, 'refund');
    if (refund.obj.charge !== call.pathParams.charge) throw new StripeError(404, `No such refund: '${refund.id}'`, { code: 'resource_missing', param: 'refund' });
    return renderObject(call.emu, updateRefund(call.emu, call.request, refund, call.params), call.expand);
  });

  router.define('POST', '/v1/refunds/{refund}/cancel', (call) => {
    rejectUnsupported(call, [], 'POST /v1/refunds/{refund}/cancel');
    const refund = findLive(call.emu, 'refund', call.pathParams.refund!, 'refund');
    throw invalid(`Refund ${refund.id} has a status of ${String(refund.obj.status)}: only refunds that require action can be canceled.`, 'refund', 'refund_not_cancelable');
  });
}

