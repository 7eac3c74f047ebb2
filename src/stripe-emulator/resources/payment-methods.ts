// Payment methods (create from test cards and tokens, update, attach, detach) and setup intents
// (create, update, confirm, cancel). `pm_card_visa` and friends work wherever Stripe takes a
// payment method id: each use creates a new `pm_…` from the test card, as Stripe does.
import type { Router } from '../api.ts';
import type { Emulator } from '../context.ts';
import { invalid, StripeError } from '../errors.ts';
import type { EventRequest } from '../events.ts';
import { renderObject } from '../expand.ts';
import type { Params } from '../params.ts';
import type { JsonObject } from '../spec.ts';
import type { Entry } from '../store.ts';
import { createObject, fieldValue, findLive, mergeMetadata, rejectUnsupported, replaceSilently, updateObject } from '../writes.ts';
import { cardBehaviour, fingerprintOf, testCard, type Decline, type TestCard } from './test-cards.ts';

/** Stripe's 402 for a declined card; `extra` names the intent and payment method involved. */
export function cardError(decline: Decline, extra: JsonObject = {}): StripeError {
  return new StripeError(402, decline.message, { type: 'card_error', code: decline.code, extra: { decline_code: decline.decline_code, ...extra } });
}

/** The `last_payment_error` / `last_setup_error` an intent keeps after a decline. */
export function declineDetails(decline: Decline, paymentMethod: JsonObject, charge?: string): JsonObject {
  return {
    ...(charge ? { charge } : {}),
    code: decline.code,
    decline_code: decline.decline_code,
    doc_url: `https://stripe.com/docs/error-codes/${decline.code.replaceAll('_', '-')}`,
    message: decline.message,
    payment_method: paymentMethod,
    type: 'card_error',
  };
}

const noSuchPaymentMethod = (id: string, param: string) => new StripeError(404, `No such PaymentMethod: '${id}'`, { code: 'resource_missing', param });

function newCardPaymentMethod(emu: Emulator, request: EventRequest, card: TestCard, params: Params = {}): Entry {
  const cardParams = (params.card ?? {}) as Params;
  const year = new Date(emu.clock.now() * 1000).getUTCFullYear();
  const billing = fieldValue(emu, 'payment_method', 'billing_details', params.billing_details ?? {}, {
    address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
  });
  return createObject(emu, request, 'payment_method', {
    billing_details: billing,
    card: {
      brand: card.brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: cardParams.cvc === undefined ? null : 'pass' },
      country: card.country,
      exp_month: (cardParams.exp_month as number | undefined) ?? 12,
      exp_year: (cardParams.exp_year as number | undefined) ?? year + 3,
      fingerprint: fingerprintOf(card),
      funding: card.funding,
      generated_from: null,
      last4: card.last4,
      networks: { available: [card.brand], preferred: null },
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    customer: null,
    metadata: mergeMetadata({}, params.metadata ?? {}),
    type: 'card',
  }, { event: null });
}

/**
 * The payment method an id names: a stored `pm_…`, or a new one made from a test id or token
 * (`pm_card_visa`, `tok_visa`). Unknown ids are Stripe's 404 on `param`.
 */
export function resolvePaymentMethod(emu: Emulator, request: EventRequest, id: string, param = 'payment_method'): Entry {
  const stored = emu.store.existing('payment_method')?.get(id);
  if (stored) return stored;
  const card = /^(pm_card_|tok_)/.test(id) ? testCard(id) : undefined;
  if (card) return newCardPaymentMethod(emu, request, card);
  throw noSuchPaymentMethod(id, param);
}

/** Checks (without side effects) that `id` can be used; test ids always can. */
export function checkPaymentMethodRef(emu: Emulator, id: string, param: string, customer?: string | null): void {
  if (/^(pm_card_|tok_)/.test(id) && testCard(id)) return;
  const stored = emu.store.existing('payment_method')?.get(id);
  if (!stored) throw noSuchPaymentMethod(id, param);
  const owner = stored.obj.customer as string | null;
  if (owner && customer !== undefined && owner !== customer) {
    throw invalid(`The payment method ${id} belongs to another customer (${owner}).`, param);
  }
}

/** Attaches to a customer with `payment_method.attached`; a card that declines when saved is a 402. */
export function attachPaymentMethod(emu: Emulator, request: EventRequest, pm: Entry, customer: string): Entry {
  const current = pm.obj.customer as string | null;
  if (current === customer) return pm;
  if (current) throw invalid('The payment method you provided has already been attached to a customer.', 'payment_method', 'payment_method_unexpected_state');
  const behaviour = cardBehaviour(pm.obj);
  if (behaviour?.decline && behaviour.declinesOnSave) throw cardError(behaviour.decline, { payment_method: pm.obj });
  return updateObject(emu, request, pm, { customer }, 'payment_method.attached');
}

/** Detaches with `payment_method.detached`, unsetting it where it was a default (customer, subscriptions). */
export function detachPaymentMethod(emu: Emulator, request: EventRequest, pm: Entry): Entry {
  const customer = pm.obj.customer as string | null;
  if (!customer) throw invalid('The payment method you provided is not attached to a customer so detachment is impossible.', 'payment_method', 'payment_method_unexpected_state');
  updateObject(emu, request, pm, { customer: null }, 'payment_method.detached');
  const cust = emu.store.existing('customer')?.get(customer);
  const settings = cust?.obj.invoice_settings as JsonObject | undefined;
  if (cust && settings?.default_payment_method === pm.id) updateObject(emu, request, cust, { invoice_settings: { ...settings, default_payment_method: null } });
  for (const sub of emu.store.collection('subscription').indexed('customer', customer)) {
    if (sub.obj.default_payment_method === pm.id) updateObject(emu, request, sub, { default_payment_method: null }, 'customer.subscription.updated');
  }
  return pm;
}

const SETUP_CREATE = ['automatic_payment_methods', 'confirm', 'customer', 'description', 'metadata', 'payment_method', 'payment_method_types', 'return_url', 'usage'] as const;
const SETUP_UPDATE = ['customer', 'description', 'metadata', 'payment_method', 'payment_method_types'] as const;

/** A customer id parameter, checked to name a live customer (null when absent or ''). */
export function checkCustomer(emu: Emulator, id: unknown, param = 'customer'): string | null {
  if (id === undefined || id === '' || id === null) return null;
  if (!emu.store.existing('customer')?.get(String(id))) throw new StripeError(400, `No such customer: '${String(id)}'`, { code: 'resource_missing', param });
  return String(id);
}

function confirmSetupIntent(emu: Emulator, request: EventRequest, si: Entry, paymentMethod: unknown): Entry {
  const status = si.obj.status as string;
  if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(status)) {
    throw invalid(`You cannot confirm this SetupIntent because it has a status of ${status}.`, undefined, 'setup_intent_unexpected_state');
  }
  const ref = (paymentMethod as string | undefined) ?? (si.obj.payment_method as string | null);
  if (!ref) throw invalid('You cannot confirm this SetupIntent because it is missing a payment method. Update it with a payment_method and confirm again.', 'payment_method', 'setup_intent_unexpected_state');
  const customer = si.obj.customer as string | null;
  checkPaymentMethodRef(emu, ref, 'payment_method', customer);
  const pm = resolvePaymentMethod(emu, request, ref);
  const behaviour = cardBehaviour(pm.obj);
  const failed = behaviour?.decline && behaviour.declinesOnSave ? behaviour.decline : undefined;
  const card = pm.obj.card as JsonObject;
  const attempt = createObject(emu, request, 'setup_attempt', {
    application: null,
    customer,
    flow_directions: null,
    on_behalf_of: null,
    payment_method: pm.id,
    payment_method_details: {
      card: { brand: card.brand, checks: card.checks, country: card.country, exp_month: card.exp_month, exp_year: card.exp_year, fingerprint: card.fingerprint, funding: card.funding, last4: card.last4, network: card.brand, three_d_secure: null, wallet: null },
      type: 'card',
    },
    setup_error: failed ? declineDetails(failed, pm.obj) : null,
    setup_intent: si.id,
    status: failed ? 'failed' : 'succeeded',
    usage: si.obj.usage,
  }, { event: null });
  if (failed) {
    updateObject(emu, request, si, { status: 'requires_payment_method', payment_method: null, latest_attempt: attempt.id, last_setup_error: declineDetails(failed, pm.obj) }, 'setup_intent.setup_failed');
    throw cardError(failed, { payment_method: pm.obj, setup_intent: si.obj });
  }
  if (customer) attachPaymentMethod(emu, request, pm, customer);
  return updateObject(emu, request, si, { status: 'succeeded', payment_method: pm.id, latest_attempt: attempt.id, last_setup_error: null }, 'setup_intent.succeeded');
}

export function definePaymentMethodRoutes(router: Router): void {
  router.define('POST', '/v1/payment_methods', (call) => {
    rejectUnsupported(call, ['type', 'card', 'billing_details', 'metadata'], 'POST /v1/payment_methods');
    const { emu, params } = call;
    if (params.type !== 'card') throw invalid(`The Stripe emulator only creates card payment methods (type=${String(params.type)} is not emulated).`, 'type');
    const card = (params.card ?? {}) as Params;
    const ref = typeof card.token === 'string' ? card.token : typeof card.number === 'string' ? card.number : undefined;
    if (!ref) throw invalid('Missing required param: card[number] (or card[token]).', 'card', 'parameter_missing');
    const found = testCard(ref);
    if (!found) {
      throw new StripeError(402, 'Your card number is incorrect.', { type: 'card_error', code: 'incorrect_number', param: typeof card.token === 'string' ? 'card[token]' : 'card[number]' });
    }
    return renderObject(emu, newCardPaymentMethod(emu, call.request, found, params), call.expand);
  });

  router.define('POST', '/v1/payment_methods/{payment_method}', (call) => {
    rejectUnsupported(call, ['billing_details', 'card', 'metadata'], 'POST /v1/payment_methods/{payment_method}');
    const { emu, params } = call;
    const pm = emu.store.existing('payment_method')?.get(call.pathParams.payment_method!);
    if (!pm) throw noSuchPaymentMethod(call.pathParams.payment_method!, 'payment_method');
    if (!pm.obj.customer) throw invalid('You must save this PaymentMethod to a customer before you can update it.', undefined, 'payment_method_unexpected_state');
    const changes: JsonObject = {};
    if (params.billing_details !== undefined) changes.billing_details = fieldValue(emu, 'payment_method', 'billing_details', params.billing_details, pm.obj.billing_details);
    if (params.metadata !== undefined) changes.metadata = mergeMetadata(pm.obj.metadata, params.metadata);
    const card = params.card as Params | undefined;
    if (card) {
      const unknown = Object.keys(card).find((k) => k !== 'exp_month' && k !== 'exp_year');
      if (unknown) throw invalid(`Received unknown parameter: card[${unknown}]`, `card[${unknown}]`, 'parameter_unknown');
      changes.card = { ...(pm.obj.card as JsonObject), ...card };
    }
    updateObject(emu, call.request, pm, changes);
    return renderObject(emu, pm, call.expand);
  });

  router.define('POST', '/v1/payment_methods/{payment_method}/attach', (call) => {
    rejectUnsupported(call, ['customer'], 'POST /v1/payment_methods/{payment_method}/attach');
    const { emu } = call;
    const customer = checkCustomer(emu, call.params.customer)!;
    checkPaymentMethodRef(emu, call.pathParams.payment_method!, 'payment_method');
    const pm = resolvePaymentMethod(emu, call.request, call.pathParams.payment_method!);
    return renderObject(emu, attachPaymentMethod(emu, call.request, pm, customer), call.expand);
  });

  router.define('POST', '/v1/payment_methods/{payment_method}/detach', (call) => {
    rejectUnsupported(call, [], 'POST /v1/payment_methods/{payment_method}/detach');
    const pm = call.emu.store.existing('payment_method')?.get(call.pathParams.payment_method!);
    if (!pm) throw noSuchPaymentMethod(call.pathParams.payment_method!, 'payment_method');
    return renderObject(call.emu, detachPaymentMethod(call.emu, call.request, pm), call.expand);
  });

  router.define('POST', '/v1/setup_intents', (call) => {
    rejectUnsupported(call, SETUP_CREATE, 'POST /v1/setup_intents');
    const { emu, params, request } = call;
    const customer = checkCustomer(emu, params.customer);
    if (typeof params.payment_method === 'string') checkPaymentMethodRef(emu, params.payment_method, 'payment_method', customer);
    const pm = typeof params.payment_method === 'string' ? resolvePaymentMethod(emu, request, params.payment_method) : undefined;
    const types = params.payment_method_types as string[] | undefined;
    if (types && types.some((t) => t !== 'card')) throw invalid('The Stripe emulator only emulates card setup intents.', 'payment_method_types');
    const automatic = params.automatic_payment_methods as Params | undefined;
    const id = emu.ids.next('setup_intent');
    const si = createObject(emu, request, 'setup_intent', {
      application: null,
      automatic_payment_methods: types ? null : { allow_redirects: automatic?.allow_redirects ?? 'always', enabled: automatic?.enabled ?? true },
      cancellation_reason: null,
      client_secret: `${id}_secret_${emu.ids.chars(32)}`,
      customer,
      description: params.description ?? null,
      flow_directions: null,
      last_setup_error: null,
      latest_attempt: null,
      mandate: null,
      metadata: mergeMetadata({}, params.metadata ?? {}),
      next_action: null,
      on_behalf_of: null,
      payment_method: pm?.id ?? null,
      payment_method_types: types ?? ['card'],
      single_use_mandate: null,
      status: pm ? 'requires_confirmation' : 'requires_payment_method',
      usage: params.usage ?? 'off_session',
    }, { id });
    if (params.confirm === true) confirmSetupIntent(emu, request, si, undefined);
    return renderObject(emu, si, call.expand);
  });

  router.define('POST', '/v1/setup_intents/{intent}', (call) => {
    rejectUnsupported(call, SETUP_UPDATE, 'POST /v1/setup_intents/{intent}');
    const { emu, params, request } = call;
    const si = findLive(emu, 'setup_intent', call.pathParams.intent!, 'intent');
    const status = si.obj.status as string;
    if (status === 'succeeded' || status === 'canceled') {
      const onlyMetadata = Object.keys(params).every((k) => k === 'metadata' || k === 'expand');
      if (!onlyMetadata) throw invalid(`You cannot update this SetupIntent because it has a status of ${status}.`, undefined, 'setup_intent_unexpected_state');
    }
    const changes: JsonObject = {};
    if (params.customer !== undefined) {
      if (si.obj.customer && params.customer !== si.obj.customer) throw invalid('You cannot change the customer of a SetupIntent once it is set.', 'customer');
      changes.customer = checkCustomer(emu, params.customer);
    }
    if (params.description !== undefined) changes.description = params.description || null;
    if (params.metadata !== undefined) changes.metadata = mergeMetadata(si.obj.metadata, params.metadata);
    if (params.payment_method_types !== undefined) changes.payment_method_types = params.payment_method_types;
    if (typeof params.payment_method === 'string') {
      checkPaymentMethodRef(emu, params.payment_method, 'payment_method', (changes.customer ?? si.obj.customer) as string | null);
      changes.payment_method = resolvePaymentMethod(emu, request, params.payment_method).id;
      changes.status = 'requires_confirmation';
      changes.last_setup_error = null;
    }
    // Stripe has no setup_intent.updated event.
    if (Object.keys(changes).length) replaceSilently(emu, si, changes);
    return renderObject(emu, si, call.expand);
  });

  router.define('POST', '/v1/setup_intents/{intent}/confirm', (call) => {
    rejectUnsupported(call, ['payment_method', 'return_url'], 'POST /v1/setup_intents/{intent}/confirm');
    const si = findLive(call.emu, 'setup_intent', call.pathParams.intent!, 'intent');
    return renderObject(call.emu, confirmSetupIntent(call.emu, call.request, si, call.params.payment_method), call.expand);
  });

  router.define('POST', '/v1/setup_intents/{intent}/cancel', (call) => {
    rejectUnsupported(call, ['cancellation_reason'], 'POST /v1/setup_intents/{intent}/cancel');
    const si = findLive(call.emu, 'setup_intent', call.pathParams.intent!, 'intent');
    const status = si.obj.status as string;
    if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(status)) {
      throw invalid(`You cannot cancel this SetupIntent because it has a status of ${status}. Only a SetupIntent with one of the following statuses may be canceled: requires_payment_method, requires_confirmation, requires_action.`, undefined, 'setup_intent_unexpected_state');
    }
    updateObject(call.emu, call.request, si, { status: 'canceled', cancellation_reason: call.params.cancellation_reason ?? null }, 'setup_intent.canceled');
    return renderObject(call.emu, si, call.expand);
  });
}

