// Subscriptions with items: create (first invoice finalized and, for charge_automatically,
// charged with the default payment method), update (items, quantities, prices with prorations,
// cancel_at_period_end, metadata, coupon, default payment method and tax rates), cancel, and the
// subscription item endpoints. Deleting a customer cancels its subscriptions (customers.ts).
//
// Events, in order, for a create that charges a card: customer.subscription.created,
// invoice.created, payment_intent.created, invoice.finalized, charge.succeeded,
// payment_intent.succeeded, invoice.paid, invoice.payment_succeeded. Updates record
// customer.subscription.updated (with previous_attributes, `items` included) and
// invoiceitem.created for each proration; cancel records customer.subscription.deleted.
import type { Router } from '../api.ts';
import type { Emulator } from '../context.ts';
import { invalid, StripeError } from '../errors.ts';
import { recordEvent, type EventRequest } from '../events.ts';
import { renderObject } from '../expand.ts';
import type { Params } from '../params.ts';
import type { JsonObject } from '../spec.ts';
import type { Entry } from '../store.ts';
import { createObject, findLive, mergeMetadata, rejectUnsupported, updateObject } from '../writes.ts';
import { applyBalance } from './balance.ts';
import { checkCoupon, deletedDiscount, redeemCoupon, taxRates } from './coupons.ts';
import { invoiceItemLine, priceLines, productName, subscriptionLine, type LineSource, type Period } from './invoice-lines.ts';
import { createInvoice, finalizeInvoice, invoicePaymentMethod, payInvoice, pendingItems } from './invoices.ts';
import { cardError } from './payment-methods.ts';
import { addInterval, day, type Interval } from './periods.ts';
import { cardBehaviour } from './test-cards.ts';

const DAY = 86400;

const SUB_CREATE = [
  'cancel_at_period_end', 'collection_method', 'coupon', 'currency', 'customer', 'days_until_due', 'default_payment_method', 'default_tax_rates', 'description', 'items',
  'metadata', 'off_session', 'payment_behavior', 'proration_behavior', 'trial_end', 'trial_period_days', 'trial_from_plan',
] as const;
const SUB_UPDATE = [
  'cancel_at_period_end', 'cancellation_details', 'collection_method', 'coupon', 'days_until_due', 'default_payment_method', 'default_tax_rates', 'description', 'items',
  'metadata', 'off_session', 'payment_behavior', 'proration_behavior', 'proration_date',
] as const;

/** What an item will be after a change (an existing entry, changed or not, or a new item). */
export interface PlannedItem {
  entry?: Entry;
  price: JsonObject;
  quantity: number;
  metadata: JsonObject;
  taxRates: JsonObject[];
}

export interface ItemPlan {
  items: PlannedItem[];
  removed: Entry[];
}

export const subscriptionItems = (emu: Emulator, subscription: string): readonly Entry[] => emu.store.collection('subscription_item').indexed('subscription', subscription);

function recurringPrice(emu: Emulator, id: unknown, param: string): JsonObject {
  const price = typeof id === 'string' ? emu.store.existing('price')?.get(id) : undefined;
  if (!price) throw new StripeError(400, `No such price: '${String(id)}'`, { code: 'resource_missing', param });
  if (price.obj.type !== 'recurring') throw invalid(`The price specified (${price.id}) is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`, param);
  if (price.obj.active === false) throw invalid(`The price specified (${price.id}) is inactive. This field only accepts active prices.`, param);
  if (price.obj.unit_amount === null || price.obj.unit_amount === undefined) throw invalid('The Stripe emulator only bills prices with a unit_amount.', param);
  return price.obj;
}

/**
 * The items a subscription will have after `items` parameters (Stripe's semantics: `{id,
 * deleted}` removes, `{id, …}` changes, `{price, …}` adds; others stay), all checked.
 */
export function planItems(emu: Emulator, current: readonly Entry[], params: Params[] | undefined, param = 'items'): ItemPlan {
  const items: PlannedItem[] = current.map((entry) => ({ entry, price: entry.obj.price as JsonObject, quantity: (entry.obj.quantity as number | undefined) ?? 1, metadata: entry.obj.metadata as JsonObject, taxRates: (entry.obj.tax_rates as JsonObject[] | null) ?? [] }));
  const removed: Entry[] = [];
  (params ?? []).forEach((p, i) => {
    const at = (name: string) => `${param}[${i}][${name}]`;
    const unknown = Object.keys(p).find((k) => !['id', 'price', 'quantity', 'metadata', 'tax_rates', 'deleted', 'clear_usage'].includes(k));
    if (unknown) throw invalid(`The Stripe emulator does not support ${at(unknown)} yet.`, at(unknown), 'parameter_unknown');
    if (p.quantity !== undefined && (p.quantity as number) < 0) throw invalid('Quantity must be a non-negative integer.', at('quantity'));
    if (typeof p.id === 'string') {
      const k = items.findIndex((it) => it.entry?.id === p.id);
      if (k < 0) throw new StripeError(400, `No such subscription item: '${p.id}'`, { code: 'resource_missing', param: at('id') });
      if (p.deleted === true) {
        removed.push(items[k]!.entry!);
        items.splice(k, 1);
        return;
      }
      const it = items[k]!;
      if (p.price !== undefined) it.price = recurringPrice(emu, p.price, at('price'));
      if (p.quantity !== undefined) it.quantity = p.quantity as number;
      if (p.metadata !== undefined) it.metadata = mergeMetadata(it.metadata, p.metadata);
      if (p.tax_rates !== undefined) it.taxRates = taxRates(emu, p.tax_rates, at('tax_rates'));
      return;
    }
    if (p.deleted === true) throw invalid('deleted needs the id of the item to delete.', at('id'), 'parameter_missing');
    if (p.price === undefined) throw invalid(`Missing required param: ${at('price')}.`, at('price'), 'parameter_missing');
    items.push({ price: recurringPrice(emu, p.price, at('price')), quantity: (p.quantity as number | undefined) ?? 1, metadata: mergeMetadata({}, p.metadata ?? {}), taxRates: taxRates(emu, p.tax_rates, at('tax_rates')) });
  });
  if (items.length === 0) throw invalid('A subscription must have at least one active price. To cancel a subscription, use the cancel endpoint.', param);
  const first = items[0]!.price;
  const recurring = (p: JsonObject) => p.recurring as JsonObject;
  for (const it of items) {
    if (it.price.currency !== first.currency) throw invalid('All prices on a subscription must have the same currency.', param);
    if (recurring(it.price).interval !== recurring(first).interval || recurring(it.price).interval_count !== recurring(first).interval_count) {
      throw invalid('All prices on a subscription must have the same recurring interval and interval_count.', param);
    }
  }
  const ids = items.map((it) => it.price.id);
  if (new Set(ids).size !== ids.length) throw invalid('Cannot add multiple subscription items with the same price.', param);
  return { items, removed };
}

const intervalOf = (price: JsonObject) => price.recurring as { interval: Interval; interval_count: number };

/** Invoice items (not stored) crediting and charging the rest of the period for what changed. */
export function prorations(emu: Emulator, sub: JsonObject, plan: ItemPlan, at: number): JsonObject[] {
  const start = sub.current_period_start as number;
  const end = sub.current_period_end as number;
  if (at >= end || !['active', 'past_due'].includes(sub.status as string)) return [];
  const fraction = (end - Math.max(at, start)) / (end - start);
  const out: JsonObject[] = [];
  const item = (entry: { id?: string } | undefined, price: JsonObject, quantity: number, rates: JsonObject[], credit: boolean): JsonObject => {
    const unit = price.unit_amount as number;
    const amount = Math.round(unit * quantity * fraction) * (credit ? -1 : 1);
    return {
      amount,
      currency: price.currency,
      customer: sub.customer,
      date: at,
      description: `${credit ? 'Unused' : 'Remaining'} time on ${quantity} × ${productName(emu, price.product)} after ${day(at)}`,
      discountable: false,
      discounts: [],
      invoice: null,
      metadata: {},
      period: { start: at, end },
      price,
      proration: true,
      quantity,
      subscription: sub.id,
      subscription_item: entry?.id ?? null,
      tax_rates: rates,
      test_clock: null,
      unit_amount: unit,
      unit_amount_decimal: String(unit),
    };
  };
  for (const entry of plan.removed) out.push(item(entry, entry.obj.price as JsonObject, (entry.obj.quantity as number) ?? 1, (entry.obj.tax_rates as JsonObject[]) ?? [], true));
  for (const it of plan.items) {
    const before = it.entry?.obj;
    const oldPrice = before?.price as JsonObject | undefined;
    const oldQuantity = (before?.quantity as number | undefined) ?? 1;
    if (before && oldPrice!.id === it.price.id && oldQuantity === it.quantity) continue;
    if (before) out.push(item(it.entry, oldPrice!, oldQuantity, (before.tax_rates as JsonObject[]) ?? [], true));
    out.push(item(it.entry, it.price, it.quantity, it.taxRates, false));
  }
  return out.filter((o) => o.amount !== 0);
}

/** Writes a plan: new items created, changed ones replaced, removed ones deleted. */
function applyPlan(emu: Emulator, request: EventRequest, subscription: string, plan: ItemPlan): void {
  for (const entry of plan.removed) {
    entry.collection.remove(entry);
  }
  for (const it of plan.items) {
    const fields = { price: it.price, quantity: it.quantity, metadata: it.metadata, tax_rates: it.taxRates };
    // Stripe has no subscription item events: the subscription's event carries the change.
    if (it.entry) updateObject(emu, request, it.entry, fields, null);
    else it.entry = createObject(emu, request, 'subscription_item', { ...fields, billing_thresholds: null, subscription }, { event: null });
  }
}

function storeProrations(emu: Emulator, request: EventRequest, items: JsonObject[]): Entry[] {
  return items.map((item) => createObject(emu, request, 'invoiceitem', item));
}

/** The default payment method a subscription charges, if any. */
function chargeMethod(emu: Emulator, sub: JsonObject): string | null {
  return invoicePaymentMethod(emu, { default_payment_method: null, subscription: null, customer: sub.customer, ...(typeof sub.default_payment_method === 'string' ? { default_payment_method: sub.default_payment_method } : {}) });
}

function checkAttached(emu: Emulator, customer: string, id: string, param: string): void {
  const pm = emu.store.existing('payment_method')?.get(id);
  if (!pm || pm.obj.customer !== customer) throw invalid(`The customer does not have a payment method with the ID ${id}. The payment method must be attached to the customer.`, param, 'resource_missing');
}

/** Invoices what a subscription owes now (its pending items) and collects it as the subscription does. */
function invoiceNow(emu: Emulator, request: EventRequest, sub: Entry, billingReason: string, extra: LineSource[] = []): Entry | undefined {
  const s = sub.obj;
  const customer = emu.store.collection('customer').get(String(s.customer))!;
  const items = pendingItems(emu, customer.id, s.currency as string, sub.id);
  if (!items.length && !extra.length) return undefined;
  const invoice = createInvoice(emu, request, {
    customer,
    subscription: s,
    billingReason,
    collectionMethod: s.collection_method as 'charge_automatically' | 'send_invoice',
    dueDate: s.collection_method === 'send_invoice' ? emu.clock.now() + ((s.days_until_due as number | null) ?? 30) * DAY : null,
    currency: s.currency as string,
    sources: [...extra, ...items.map((e) => invoiceItemLine(e.obj))],
    invoiceItems: items,
    discount: (s.discount as JsonObject | null) ?? (customer.obj.discount as JsonObject | null) ?? null,
    defaultTaxRates: (s.default_tax_rates as JsonObject[] | null) ?? [],
    period: { start: emu.clock.now(), end: emu.clock.now() },
    autoAdvance: true,
  });
  updateObject(emu, request, sub, { latest_invoice: invoice.id }, 'customer.subscription.updated');
  finalizeInvoice(emu, request, invoice);
  if (invoice.obj.status === 'open' && s.collection_method === 'charge_automatically' && chargeMethod(emu, s)) payInvoice(emu, request, invoice);
  return invoice;
}

function createSubscription(emu: Emulator, request: EventRequest, params: Params): Entry {
  const customer = findLive(emu, 'customer', String(params.customer), 'customer');
  const plan = planItems(emu, [], params.items as Params[] | undefined);
  const first = plan.items[0]!.price;
  const currency = first.currency as string;
  if (params.currency !== undefined && String(params.currency).toLowerCase() !== currency) throw invalid('The currency must match the prices of the items.', 'currency');
  if (customer.obj.currency && customer.obj.currency !== currency) {
    throw invalid(`You cannot combine currencies on a single customer. This customer has an active subscription, subscription schedule, discount, quote, or invoice item with currency ${String(customer.obj.currency)}.`, 'currency');
  }
  const collection = (params.collection_method as 'charge_automatically' | 'send_invoice' | undefined) ?? 'charge_automatically';
  if (collection === 'send_invoice' && params.days_until_due === undefined) throw invalid('Missing required param: days_until_due (for collection_method=send_invoice).', 'days_until_due', 'parameter_missing');
  if (collection !== 'send_invoice' && params.days_until_due !== undefined) throw invalid('days_until_due is only for collection_method=send_invoice.', 'days_until_due');
  if (typeof params.default_payment_method === 'string') checkAttached(emu, customer.id, params.default_payment_method, 'default_payment_method');
  const coupon = typeof params.coupon === 'string' ? checkCoupon(emu, params.coupon) : undefined;
  const defaultRates = taxRates(emu, params.default_tax_rates, 'default_tax_rates');
  const now = emu.clock.now();
  let trialEnd: number | null = null;
  if (params.trial_period_days !== undefined) trialEnd = now + (params.trial_period_days as number) * DAY;
  if (params.trial_end !== undefined && params.trial_end !== 'now') trialEnd = params.trial_end as number;
  if (trialEnd !== null && trialEnd <= now) throw invalid('trial_end must be in the future.', 'trial_end');
  const { interval, interval_count: count } = intervalOf(first);
  const periodEnd = trialEnd ?? addInterval(now, interval, count);
  const behaviour = (params.payment_behavior as string | undefined) ?? 'allow_incomplete';
  const pmId = chargeMethod(emu, { default_payment_method: params.default_payment_method, customer: customer.id });

  // What the first invoice will ask for, to know the outcome before anything is written.
  const id = emu.ids.next('subscription');
  const subLike: JsonObject = { id, customer: customer.id, metadata: mergeMetadata({}, params.metadata ?? {}), status: 'active' };
  const period: Period = { start: now, end: periodEnd };
  const lines = plan.items.map((it) => {
    const line = subscriptionLine(emu, { id: 'si_pending', price: it.price, quantity: it.quantity, tax_rates: it.taxRates }, subLike, period);
    return trialEnd === null ? line : { ...line, amount: 0, description: `Trial period for ${productName(emu, it.price.product)}` };
  });
  const pending = pendingItems(emu, customer.id, currency, null);
  const previewDiscount = coupon ? { id: 'di_preview', coupon: coupon.obj, end: null } : ((customer.obj.discount as JsonObject | null) ?? null);
  const preview = priceLines(emu, [...lines, ...pending.map((e) => invoiceItemLine(e.obj))], { currency, discount: previewDiscount, defaultTaxRates: defaultRates, at: now, lineId: () => 'il_preview' });
  const amountDue = applyBalance(preview.totals.total, (customer.obj.balance as number | undefined) ?? 0).amountDue;
  const charging = collection === 'charge_automatically' && amountDue > 0 && behaviour !== 'default_incomplete';
  if (charging && !pmId) {
    throw invalid('This customer has no attached payment source or default payment method. Please consider adding a default payment method. For more information, visit https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method-priority.', undefined, 'resource_missing');
  }
  const pm = pmId ? emu.store.existing('payment_method')?.get(pmId) : undefined;
  const decline = charging && pm ? cardBehaviour(pm.obj)?.decline : undefined;
  if (decline && behaviour === 'error_if_incomplete') throw cardError(decline, { payment_method: pm!.obj });
  const paysLater = collection === 'charge_automatically' && amountDue > 0 && behaviour === 'default_incomplete';
  const status = trialEnd !== null ? 'trialing' : decline || paysLater ? 'incomplete' : 'active';

  for (const it of plan.items) {
    it.entry = createObject(emu, request, 'subscription_item', { billing_thresholds: null, metadata: it.metadata, price: it.price, quantity: it.quantity, subscription: id, tax_rates: it.taxRates }, { event: null });
  }
  const invoiceId = emu.ids.next('invoice');
  const discount = typeof params.coupon === 'string' ? redeemCoupon(emu, params.coupon, { customer: customer.id, subscription: id }) : null;
  const sub = createObject(emu, request, 'subscription', {
    application: null,
    application_fee_percent: null,
    automatic_tax: { enabled: false },
    billing_cycle_anchor: periodEnd === trialEnd ? trialEnd : now,
    billing_thresholds: null,
    cancel_at: params.cancel_at_period_end === true ? periodEnd : null,
    cancel_at_period_end: params.cancel_at_period_end === true,
    canceled_at: params.cancel_at_period_end === true ? now : null,
    cancellation_details: { comment: null, feedback: null, reason: params.cancel_at_period_end === true ? 'cancellation_requested' : null },
    collection_method: collection,
    currency,
    current_period_end: periodEnd,
    current_period_start: now,
    customer: customer.id,
    days_until_due: (params.days_until_due as number | undefined) ?? null,
    default_payment_method: (params.default_payment_method as string | undefined) ?? null,
    default_source: null,
    default_tax_rates: defaultRates,
    description: (params.description as string | undefined) ?? null,
    discount,
    ended_at: null,
    latest_invoice: invoiceId,
    metadata: subLike.metadata,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: 'off' },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status,
    test_clock: null,
    transfer_data: null,
    trial_end: trialEnd,
    trial_settings: { end_behavior: { missing_payment_method: 'create_invoice' } },
    trial_start: trialEnd === null ? null : now,
  }, { id, event: 'customer.subscription.created' });
  if (discount) recordEvent(emu, 'customer.discount.created', discount, { request });
  if (!customer.obj.currency) updateObject(emu, request, customer, { currency });

  const invoice = createInvoice(emu, request, {
    id: invoiceId,
    customer,
    subscription: sub.obj,
    billingReason: 'subscription_create',
    collectionMethod: collection,
    dueDate: collection === 'send_invoice' ? now + (params.days_until_due as number) * DAY : null,
    currency,
    sources: [...plan.items.map((it, i) => ({ ...lines[i]!, subscriptionItem: it.entry!.id })), ...pending.map((e) => invoiceItemLine(e.obj))],
    invoiceItems: pending,
    discount: discount ?? (customer.obj.discount as JsonObject | null) ?? null,
    defaultTaxRates: defaultRates,
    period: { start: now, end: now },
    autoAdvance: true,
  });
  finalizeInvoice(emu, request, invoice);
  if (invoice.obj.status === 'open' && charging) payInvoice(emu, request, invoice, { paymentMethod: pmId! });
  return sub;
}

/** Cancels now: status canceled, customer.subscription.deleted; optionally a final invoice. */
export function cancelSubscription(emu: Emulator, request: EventRequest, sub: Entry, options: { invoiceNow?: boolean; prorate?: boolean; details?: JsonObject } = {}): Entry {
  if (sub.obj.status === 'canceled' || sub.obj.status === 'incomplete_expired') throw invalid(`This subscription has already been canceled (${sub.id}).`, undefined, 'resource_missing');
  const now = emu.clock.now();
  if (options.prorate) {
    const plan: ItemPlan = { items: [], removed: [...subscriptionItems(emu, sub.id)] };
    storeProrations(emu, request, prorations(emu, sub.obj, plan, now));
  }
  if (options.invoiceNow) invoiceNow(emu, request, sub, 'subscription_cycle');
  const details = sub.obj.cancellation_details as JsonObject;
  return updateObject(emu, request, sub, {
    status: 'canceled',
    canceled_at: now,
    ended_at: now,
    cancel_at: null,
    cancel_at_period_end: false,
    cancellation_details: { ...details, ...options.details, reason: 'cancellation_requested' },
  }, 'customer.subscription.deleted');
}

function updateSubscription(emu: Emulator, request: EventRequest, sub: Entry, params: Params): Entry {
  const s = sub.obj;
  const before = s;
  const now = emu.clock.now();
  if (s.status === 'canceled' || s.status === 'incomplete_expired') {
    const allowed = Object.keys(params).every((k) => ['metadata', 'cancellation_details', 'expand'].includes(k));
    if (!allowed) throw invalid('A canceled subscription can only update its cancellation_details and metadata.', Object.keys(params)[0]);
  }
  const proration = (params.proration_behavior as string | undefined) ?? 'create_prorations';
  const at = (params.proration_date as number | undefined) ?? now;
  const plan = params.items !== undefined ? planItems(emu, subscriptionItems(emu, sub.id), params.items as Params[]) : undefined;
  if (plan && plan.items[0]!.price.currency !== s.currency) throw invalid('All prices on a subscription must have the same currency.', 'items');
  if (plan) {
    const now0 = intervalOf(plan.items[0]!.price);
    const was = intervalOf(subscriptionItems(emu, sub.id)[0]!.obj.price as JsonObject);
    if (now0.interval !== was.interval || now0.interval_count !== was.interval_count) throw invalid('The Stripe emulator does not emulate changing a subscription\'s billing interval yet.', 'items');
  }
  const customer = String(s.customer);
  if (typeof params.default_payment_method === 'string' && params.default_payment_method !== '') checkAttached(emu, customer, params.default_payment_method, 'default_payment_method');
  if (typeof params.coupon === 'string' && params.coupon !== '') checkCoupon(emu, params.coupon);
  const changes: JsonObject = {};
  if (params.metadata !== undefined) changes.metadata = mergeMetadata(s.metadata, params.metadata);
  if (params.description !== undefined) changes.description = params.description || null;
  if (params.default_payment_method !== undefined) changes.default_payment_method = params.default_payment_method || null;
  if (params.default_tax_rates !== undefined) changes.default_tax_rates = taxRates(emu, params.default_tax_rates, 'default_tax_rates');
  if (params.collection_method !== undefined) changes.collection_method = params.collection_method;
  const collection = (changes.collection_method ?? s.collection_method) as string;
  if (params.days_until_due !== undefined) changes.days_until_due = params.days_until_due;
  if (collection === 'send_invoice' && (changes.days_until_due ?? s.days_until_due) === null) throw invalid('Missing required param: days_until_due (for collection_method=send_invoice).', 'days_until_due', 'parameter_missing');
  if (collection === 'charge_automatically' && params.collection_method !== undefined) changes.days_until_due = null;
  if (params.cancellation_details !== undefined) changes.cancellation_details = { ...(s.cancellation_details as JsonObject), ...(params.cancellation_details as JsonObject) };
  if (params.cancel_at_period_end !== undefined) {
    const on = params.cancel_at_period_end === true;
    changes.cancel_at_period_end = on;
    changes.cancel_at = on ? s.current_period_end : null;
    changes.canceled_at = on ? now : null;
    changes.cancellation_details = { ...((changes.cancellation_details ?? s.cancellation_details) as JsonObject), reason: on ? 'cancellation_requested' : null };
  }
  let discount: JsonObject | null | undefined;
  if (params.coupon !== undefined) discount = params.coupon === '' ? null : redeemCoupon(emu, params.coupon as string, { customer, subscription: sub.id });
  if (discount !== undefined) changes.discount = discount;

  let extra: JsonObject[] = [];
  if (plan) {
    extra = proration === 'none' ? [] : prorations(emu, s, plan, at);
    applyPlan(emu, request, sub.id, plan);
  }
  updateObject(emu, request, sub, changes, 'customer.subscription.updated', before);
  if (discount) recordEvent(emu, (before.discount ? 'customer.discount.updated' : 'customer.discount.created'), discount, { request });
  if (discount === null && before.discount) recordEvent(emu, 'customer.discount.deleted', before.discount as JsonObject, { request });
  storeProrations(emu, request, extra);
  if (proration === 'always_invoice' && extra.length) invoiceNow(emu, request, sub, 'subscription_update');
  return sub;
}

function itemOwner(emu: Emulator, item: Entry): Entry {
  const sub = emu.store.collection('subscription').get(String(item.obj.subscription))!;
  if (sub.obj.status === 'canceled') throw invalid('The subscription of this item is canceled.', 'subscription');
  return sub;
}

export function defineSubscriptionRoutes(router: Router): void {
  router.define('POST', '/v1/subscriptions', (call) => {
    rejectUnsupported(call, SUB_CREATE, 'POST /v1/subscriptions');
    if (call.params.trial_end === 'now') throw invalid('trial_end=now on create is the same as no trial: leave it out.', 'trial_end');
    return renderObject(call.emu, createSubscription(call.emu, call.request, call.params), call.expand);
  });

  router.define('POST', '/v1/subscriptions/{subscription_exposed_id}', (call) => {
    rejectUnsupported(call, SUB_UPDATE, 'POST /v1/subscriptions/{subscription_exposed_id}');
    const sub = findLive(call.emu, 'subscription', call.pathParams.subscription_exposed_id!, 'subscription_exposed_id');
    return renderObject(call.emu, updateSubscription(call.emu, call.request, sub, call.params), call.expand);
  });

  router.define('DELETE', '/v1/subscriptions/{subscription_exposed_id}', (call) => {
    rejectUnsupported(call, ['cancellation_details', 'invoice_now', 'prorate'], 'DELETE /v1/subscriptions/{subscription_exposed_id}');
    const sub = findLive(call.emu, 'subscription', call.pathParams.subscription_exposed_id!, 'subscription_exposed_id');
    const { params } = call;
    cancelSubscription(call.emu, call.request, sub, { invoiceNow: params.invoice_now === true, prorate: params.prorate === true, details: params.cancellation_details as JsonObject | undefined });
    return renderObject(call.emu, sub, call.expand);
  });

  router.define('DELETE', '/v1/subscriptions/{subscription_exposed_id}/discount', (call) => {
    const { emu, request } = call;
    const sub = findLive(emu, 'subscription', call.pathParams.subscription_exposed_id!, 'subscription_exposed_id');
    const discount = sub.obj.discount as JsonObject | null;
    if (!discount) throw new StripeError(404, `No active discount for subscription: '${sub.id}'`, { code: 'resource_missing' });
    recordEvent(emu, 'customer.discount.deleted', discount, { request });
    updateObject(emu, request, sub, { discount: null }, 'customer.subscription.updated');
    return deletedDiscount(discount);
  });

  const ITEM_FIELDS = ['metadata', 'payment_behavior', 'price', 'proration_behavior', 'proration_date', 'quantity', 'tax_rates'] as const;
  const changeItems = (emu: Emulator, request: EventRequest, sub: Entry, item: Params, params: Params) =>
    updateSubscription(emu, request, sub, { items: [item], proration_behavior: params.proration_behavior, proration_date: params.proration_date });

  router.define('POST', '/v1/subscription_items', (call) => {
    rejectUnsupported(call, ['subscription', ...ITEM_FIELDS], 'POST /v1/subscription_items');
    const { emu, params, request } = call;
    const sub = findLive(emu, 'subscription', String(params.subscription), 'subscription');
    if (sub.obj.status === 'canceled') throw invalid('You cannot add items to a canceled subscription.', 'subscription');
    const known = new Set(subscriptionItems(emu, sub.id).map((e) => e.id));
    changeItems(emu, request, sub, { price: params.price, quantity: params.quantity, metadata: params.metadata, tax_rates: params.tax_rates }, params);
    const added = subscriptionItems(emu, sub.id).find((e) => !known.has(e.id))!;
    return renderObject(emu, added, call.expand);
  });

  router.define('POST', '/v1/subscription_items/{item}', (call) => {
    rejectUnsupported(call, ITEM_FIELDS, 'POST /v1/subscription_items/{item}');
    const { emu, params, request } = call;
    const item = findLive(emu, 'subscription_item', call.pathParams.item!, 'item');
    const sub = itemOwner(emu, item);
    changeItems(emu, request, sub, { id: item.id, price: params.price, quantity: params.quantity, metadata: params.metadata, tax_rates: params.tax_rates }, params);
    return renderObject(emu, item, call.expand);
  });

  router.define('DELETE', '/v1/subscription_items/{item}', (call) => {
    rejectUnsupported(call, ['clear_usage', 'proration_behavior', 'proration_date'], 'DELETE /v1/subscription_items/{item}');
    const { emu, params, request } = call;
    const item = findLive(emu, 'subscription_item', call.pathParams.item!, 'item');
    const sub = itemOwner(emu, item);
    changeItems(emu, request, sub, { id: item.id, deleted: true }, params);
    return JSON.stringify({ id: item.id, object: 'subscription_item', deleted: true });
  });
}
