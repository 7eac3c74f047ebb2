// Invoice items (create, update, delete while pending or on a draft) and invoices: create a draft
// (optionally from the customer's pending items), update, finalize (number, payment intent),
// pay (charges the payment method through the payment intent), void, mark uncollectible, send,
// delete drafts. Lines live in the `line_item` collection, owned by their invoice, and the
// invoice embeds the first 10 with `has_more` like every sub-list.
//
// Events: invoiceitem.created / .deleted (Stripe has no invoiceitem.updated in this version);
// invoice.created, .updated, .finalized, .paid + .payment_succeeded (after charge.succeeded and
// payment_intent.succeeded), .payment_failed (after charge.failed and payment_intent.payment_failed),
// .voided (with payment_intent.canceled), .marked_uncollectible, .sent, .deleted.
import type { Router } from '../api.ts';
import type { Emulator } from '../context.ts';
import { invalid, StripeError } from '../errors.ts';
import { recordEvent, type EventRequest } from '../events.ts';
import { renderObject } from '../expand.ts';
import type { Params } from '../params.ts';
import type { JsonObject } from '../spec.ts';
import type { Entry } from '../store.ts';
import { createObject, deleteObject, findLive, mergeMetadata, rejectUnsupported, replaceSilently, updateObject } from '../writes.ts';
import { adjustBalance, applyBalance } from './balance.ts';
import { checkCoupon, discountApplies, redeemCoupon, taxRates } from './coupons.ts';
import { invoiceItemLine, lineAsSource, priceLines, type LineSource, type Period } from './invoice-lines.ts';
import { cancelPaymentIntent, checkConfirmable, checkCurrency, confirmPaymentIntent, createPaymentIntent, declineError, type ConfirmResult } from './payments.ts';

const DAY = 86400;

export interface InvoiceInit {
  customer: Entry;
  subscription?: JsonObject | null;
  billingReason: string;
  collectionMethod: 'charge_automatically' | 'send_invoice';
  /** For send_invoice: when payment is due. */
  dueDate?: number | null;
  currency: string;
  sources: LineSource[];
  /** Pending invoice items the invoice takes (they get `invoice` set). */
  invoiceItems: Entry[];
  discount: JsonObject | null;
  defaultTaxRates: JsonObject[];
  period: Period;
  description?: string | null;
  metadata?: JsonObject;
  autoAdvance?: boolean;
  defaultPaymentMethod?: string | null;
  footer?: string | null;
  statementDescriptor?: string | null;
  /** A pre-allocated id (a subscription names its first invoice before creating it). */
  id?: string;
}

function lineEntries(emu: Emulator, invoice: string): readonly Entry[] {
  return emu.store.collection('line_item').indexed('$owner', invoice);
}

/** Stores the priced lines of an invoice and returns its totals. */
function storeLines(emu: Emulator, request: EventRequest, invoiceId: string, sources: LineSource[], context: { currency: string; discount: JsonObject | null; defaultTaxRates: JsonObject[] }): JsonObject {
  const priced = priceLines(emu, sources, { ...context, at: emu.clock.now(), lineId: () => emu.ids.next('line_item') });
  for (const line of priced.lines) createObject(emu, request, 'line_item', line, { id: line.id as string, owner: invoiceId, event: null });
  return { ...priced.totals, amount_remaining: priced.totals.amount_due };
}

/** A draft invoice with its lines, recorded with invoice.created. */
export function createInvoice(emu: Emulator, request: EventRequest, init: InvoiceInit): Entry {
  const id = init.id ?? emu.ids.next('invoice');
  const discount = discountApplies(init.discount, emu.clock.now(), init.currency) ? init.discount : null;
  const totals = storeLines(emu, request, id, init.sources, { currency: init.currency, discount, defaultTaxRates: init.defaultTaxRates });
  for (const item of init.invoiceItems) replaceSilently(emu, item, { invoice: id });
  return createObject(emu, request, 'invoice', invoiceFields(init, discount, totals), { id, event: 'invoice.created' });
}

/** The fields of a draft invoice (the upcoming invoice is one that is never stored). */
export function invoiceFields(init: Omit<InvoiceInit, 'sources' | 'invoiceItems'>, discount: JsonObject | null, totals: JsonObject): JsonObject {
  const customer = init.customer.obj;
  const sub = init.subscription;
  return {
    account_country: 'US',
    account_name: null,
    account_tax_ids: null,
    amount_paid: 0,
    amount_shipping: 0,
    application: null,
    application_fee_amount: null,
    attempt_count: 0,
    attempted: false,
    auto_advance: init.autoAdvance ?? init.billingReason !== 'manual',
    automatic_tax: { enabled: false, status: null },
    billing_reason: init.billingReason,
    charge: null,
    collection_method: init.collectionMethod,
    currency: init.currency,
    custom_fields: null,
    customer: init.customer.id,
    ...customerSnapshot(customer),
    customer_tax_ids: [],
    default_payment_method: init.defaultPaymentMethod ?? null,
    default_source: null,
    default_tax_rates: init.defaultTaxRates,
    description: init.description ?? null,
    discount,
    discounts: discount ? [discount.id] : [],
    due_date: init.dueDate ?? null,
    effective_at: null,
    ending_balance: null,
    footer: init.footer ?? null,
    from_invoice: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    last_finalization_error: null,
    latest_revision: null,
    metadata: init.metadata ?? {},
    next_payment_attempt: null,
    number: null,
    on_behalf_of: null,
    paid: false,
    paid_out_of_band: false,
    payment_intent: null,
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    period_end: init.period.end,
    period_start: init.period.start,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    quote: null,
    receipt_number: null,
    rendering_options: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: init.statementDescriptor ?? null,
    status: 'draft',
    status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subscription: sub ? sub.id : null,
    subscription_details: { metadata: sub ? sub.metadata : null },
    test_clock: null,
    transfer_data: null,
    webhooks_delivered_at: null,
    ...totals,
  };
}

function customerSnapshot(customer: JsonObject): JsonObject {
  return {
    customer_address: customer.address ?? null,
    customer_email: customer.email ?? null,
    customer_name: customer.name ?? null,
    customer_phone: customer.phone ?? null,
    customer_shipping: customer.shipping ?? null,
    customer_tax_exempt: customer.tax_exempt ?? 'none',
  };
}

/** Re-prices a draft from its invoice items and other lines (after an item or discount changed). */
function repriceDraft(emu: Emulator, request: EventRequest, invoice: Entry, changes: JsonObject = {}, event: string | null = 'invoice.updated'): Entry {
  const inv = { ...invoice.obj, ...changes };
  const lines = lineEntries(emu, invoice.id);
  const kept = lines.map((l) => l.obj).filter((l) => l.type !== 'invoiceitem').map(lineAsSource);
  for (const line of [...lines]) line.collection.remove(line);
  const items = emu.store.collection('invoiceitem').indexed('invoice', invoice.id).map((e) => invoiceItemLine(e.obj));
  const discount = discountApplies(inv.discount as JsonObject | null, emu.clock.now(), inv.currency as string) ? (inv.discount as JsonObject) : null;
  const totals = storeLines(emu, request, invoice.id, [...kept, ...items], { currency: inv.currency as string, discount, defaultTaxRates: inv.default_tax_rates as JsonObject[] });
  return updateObject(emu, request, invoice, { ...changes, ...totals, discount, discounts: discount ? [discount.id] : [] }, event);
}

/** The payment method an invoice charges by default, if any. */
export function invoicePaymentMethod(emu: Emulator, invoice: JsonObject): string | null {
  if (typeof invoice.default_payment_method === 'string') return invoice.default_payment_method;
  const sub = typeof invoice.subscription === 'string' ? emu.store.existing('subscription')?.get(invoice.subscription) : undefined;
  if (typeof sub?.obj.default_payment_method === 'string') return sub.obj.default_payment_method;
  const customer = emu.store.existing('customer')?.get(String(invoice.customer));
  const settings = customer?.obj.invoice_settings as JsonObject | undefined;
  return typeof settings?.default_payment_method === 'string' ? settings.default_payment_method : null;
}

/**
 * Finalizes a draft: a number, the payment intent for the amount due, invoice.finalized; an
 * invoice with nothing to pay is paid at once. A `once` discount from the customer or the
 * subscription is used up.
 */
export function finalizeInvoice(emu: Emulator, request: EventRequest, invoice: Entry, autoAdvance?: boolean): Entry {
  const inv = invoice.obj;
  if (inv.status !== 'draft') throw invalid("This invoice is already finalized, you can't re-finalize a non-draft invoice.", undefined, 'invoice_not_editable');
  const now = emu.clock.now();
  const customer = emu.store.collection('customer').get(String(inv.customer))!;
  const sequence = (customer.obj.next_invoice_sequence as number | undefined) ?? 1;
  replaceSilently(emu, customer, { next_invoice_sequence: sequence + 1 });
  if (!customer.obj.currency) updateObject(emu, request, customer, { currency: inv.currency });
  // The customer's balance is used up (a credit) or added (a debt) when the invoice is finalized.
  const balance = (customer.obj.balance as number | undefined) ?? 0;
  const { amountDue, endingBalance } = applyBalance((inv.total as number) - (inv.pre_payment_credit_notes_amount as number), balance);
  if (endingBalance !== balance) adjustBalance(emu, request, customer, endingBalance - balance, 'applied_to_invoice', { invoice: invoice.id });
  const charging = inv.collection_method === 'charge_automatically';
  const advance = autoAdvance ?? (inv.auto_advance as boolean);
  const pi = amountDue > 0
    ? createPaymentIntent(emu, request, {
      amount: amountDue,
      currency: inv.currency as string,
      customer: customer.id,
      description: `Invoice ${String(customer.obj.invoice_prefix)}-${String(sequence).padStart(4, '0')}`,
      invoice: invoice.id,
      paymentMethodTypes: ['card'],
      setupFutureUsage: null,
    })
    : undefined;
  updateObject(emu, request, invoice, {
    ...customerSnapshot(customer.obj),
    auto_advance: advance,
    number: `${String(customer.obj.invoice_prefix)}-${String(sequence).padStart(4, '0')}`,
    status: 'open',
    effective_at: now,
    starting_balance: balance,
    ending_balance: endingBalance,
    amount_due: amountDue,
    amount_remaining: amountDue,
    due_date: charging ? null : ((inv.due_date as number | null) ?? now + 30 * DAY),
    next_payment_attempt: charging && advance && amountDue > 0 ? now + 3600 : null,
    payment_intent: pi?.id ?? null,
    status_transitions: { ...(inv.status_transitions as JsonObject), finalized_at: now },
    webhooks_delivered_at: now,
  }, 'invoice.finalized');
  useUpOnceDiscount(emu, request, invoice.obj);
  if (amountDue === 0) markPaid(emu, request, invoice, { paid_out_of_band: false });
  return invoice;
}

function useUpOnceDiscount(emu: Emulator, request: EventRequest, inv: JsonObject): void {
  const discount = inv.discount as JsonObject | null;
  if (!discount || (discount.coupon as JsonObject).duration !== 'once') return;
  const sub = typeof discount.subscription === 'string' ? emu.store.existing('subscription')?.get(discount.subscription) : undefined;
  const owner = sub ?? emu.store.existing('customer')?.get(String(discount.customer));
  if (!owner || (owner.obj.discount as JsonObject | null)?.id !== discount.id) return;
  recordEvent(emu, 'customer.discount.deleted', discount, { request });
  updateObject(emu, request, owner, { discount: null }, sub ? 'customer.subscription.updated' : 'customer.updated');
}

function markPaid(emu: Emulator, request: EventRequest, invoice: Entry, extra: JsonObject): void {
  const inv = invoice.obj;
  const now = emu.clock.now();
  updateObject(emu, request, invoice, {
    amount_paid: inv.amount_due,
    amount_remaining: 0,
    paid: true,
    status: 'paid',
    next_payment_attempt: null,
    status_transitions: { ...(inv.status_transitions as JsonObject), paid_at: now },
    ...extra,
  }, 'invoice.paid');
  recordEvent(emu, 'invoice.payment_succeeded', invoice.obj, { request });
  activateSubscription(emu, request, invoice.obj);
}

/** A subscription waiting on this invoice becomes active once it is paid. */
function activateSubscription(emu: Emulator, request: EventRequest, inv: JsonObject): void {
  if (typeof inv.subscription !== 'string') return;
  const sub = emu.store.existing('subscription')?.get(inv.subscription);
  if (!sub || sub.obj.latest_invoice !== inv.id) return;
  if (['incomplete', 'past_due', 'unpaid'].includes(sub.obj.status as string)) updateObject(emu, request, sub, { status: 'active' }, 'customer.subscription.updated');
}

export interface PayOptions {
  paymentMethod?: string;
  paidOutOfBand?: boolean;
}

export interface PayResult {
  invoice: Entry;
  /** Set when the card was declined (the invoice stays open). */
  error?: StripeError;
}

/** Checks an invoice can be paid, before anything changes. */
export function checkPayable(emu: Emulator, inv: JsonObject, options: PayOptions): void {
  const status = inv.status as string;
  if (status === 'paid') throw invalid('Invoice is already paid', undefined, 'invoice_already_paid');
  if (status === 'void') throw invalid('You cannot pay a void invoice.', undefined, 'invoice_not_editable');
  if (options.paidOutOfBand || (inv.amount_due as number) === 0) return;
  const pm = options.paymentMethod ?? invoicePaymentMethod(emu, inv);
  if (!pm) {
    throw invalid('This customer has no attached payment source or default payment method. Please consider adding a default payment method. For more information, visit https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method-priority.');
  }
  const pi = typeof inv.payment_intent === 'string' ? emu.store.existing('payment_intent')?.get(inv.payment_intent) : undefined;
  // A draft has no payment intent yet: checked against a stand-in with the invoice's customer.
  checkConfirmable(emu, pi?.obj ?? { status: 'requires_payment_method', customer: inv.customer }, pm);
}

/** Pays an open (or draft: finalized first) invoice; a decline leaves it open and is returned, not thrown. */
export function payInvoice(emu: Emulator, request: EventRequest, invoice: Entry, options: PayOptions = {}): PayResult {
  checkPayable(emu, invoice.obj, options);
  if (invoice.obj.status === 'draft') finalizeInvoice(emu, request, invoice);
  if (invoice.obj.status === 'paid') return { invoice };
  const inv = invoice.obj;
  const pi = typeof inv.payment_intent === 'string' ? emu.store.collection('payment_intent').get(inv.payment_intent) : undefined;
  if (options.paidOutOfBand || !pi) {
    if (pi && pi.obj.status !== 'canceled') cancelPaymentIntent(emu, request, pi, null);
    markPaid(emu, request, invoice, { paid_out_of_band: true });
    return { invoice };
  }
  const result = confirmPaymentIntent(emu, request, pi, { paymentMethod: options.paymentMethod ?? invoicePaymentMethod(emu, inv)! });
  const attempt = { attempt_count: (inv.attempt_count as number) + 1, attempted: true, charge: result.charge.id };
  if (result.decline) {
    updateObject(emu, request, invoice, { ...attempt, next_payment_attempt: null }, 'invoice.payment_failed');
    if (typeof inv.subscription === 'string' && inv.billing_reason !== 'subscription_create') {
      const sub = emu.store.existing('subscription')?.get(inv.subscription);
      if (sub?.obj.status === 'active') updateObject(emu, request, sub, { status: 'past_due' }, 'customer.subscription.updated');
    }
    return { invoice, error: declineError(result) };
  }
  markPaid(emu, request, invoice, attempt);
  return { invoice };
}

/**
 * An invoice's payment intent confirmed directly (as Stripe.js does for a subscription created
 * with payment_behavior=default_incomplete): the invoice is paid, or records the failed attempt.
 */
export function settleInvoicePayment(emu: Emulator, request: EventRequest, result: ConfirmResult): void {
  const invoiceId = result.intent.obj.invoice;
  const invoice = typeof invoiceId === 'string' ? emu.store.existing('invoice')?.get(invoiceId) : undefined;
  if (!invoice || invoice.obj.status !== 'open') return;
  const attempt = { attempt_count: (invoice.obj.attempt_count as number) + 1, attempted: true, charge: result.charge.id };
  if (result.decline) updateObject(emu, request, invoice, { ...attempt, next_payment_attempt: null }, 'invoice.payment_failed');
  else markPaid(emu, request, invoice, attempt);
}

/** Voids an open or uncollectible invoice (canceling its payment intent). */
export function voidInvoice(emu: Emulator, request: EventRequest, invoice: Entry): Entry {
  const status = invoice.obj.status as string;
  if (status !== 'open' && status !== 'uncollectible') throw invalid(`You can only void open or uncollectible invoices; this one is ${status}.`, undefined, 'invoice_not_editable');
  const pi = typeof invoice.obj.payment_intent === 'string' ? emu.store.collection('payment_intent').get(invoice.obj.payment_intent) : undefined;
  if (pi && !['canceled', 'succeeded'].includes(pi.obj.status as string)) cancelPaymentIntent(emu, request, pi, 'void_invoice');
  return updateObject(emu, request, invoice, {
    status: 'void',
    next_payment_attempt: null,
    status_transitions: { ...(invoice.obj.status_transitions as JsonObject), voided_at: emu.clock.now() },
  }, 'invoice.voided');
}

/** The customer's pending invoice items in a currency (optionally only one subscription's). */
export function pendingItems(emu: Emulator, customer: string, currency: string | null, subscription?: string | null): Entry[] {
  return emu.store.collection('invoiceitem').indexed('customer', customer).filter((e) => {
    const o = e.obj;
    if (o.invoice !== null && o.invoice !== undefined) return false;
    if (currency && o.currency !== currency) return false;
    return subscription === undefined || o.subscription === subscription;
  });
}

const ITEM_CREATE = ['amount', 'currency', 'customer', 'description', 'discountable', 'invoice', 'metadata', 'period', 'price', 'price_data', 'quantity', 'subscription', 'tax_rates', 'unit_amount', 'unit_amount_decimal'] as const;
const ITEM_UPDATE = ['amount', 'description', 'discountable', 'metadata', 'period', 'price', 'quantity', 'tax_rates', 'unit_amount', 'unit_amount_decimal'] as const;
const INVOICE_CREATE = ['auto_advance', 'collection_method', 'currency', 'customer', 'days_until_due', 'default_payment_method', 'default_tax_rates', 'description', 'discounts', 'due_date', 'footer', 'metadata', 'pending_invoice_items_behavior', 'statement_descriptor', 'subscription'] as const;
const DRAFT_UPDATE = ['auto_advance', 'collection_method', 'days_until_due', 'default_payment_method', 'default_tax_rates', 'description', 'discounts', 'due_date', 'footer', 'metadata', 'statement_descriptor'] as const;
const OPEN_UPDATE = ['auto_advance', 'description', 'footer', 'metadata'] as const;

/** Amount, unit amount, quantity and price of an invoice item from its parameters. */
function itemAmounts(emu: Emulator, params: Params, current?: JsonObject): { amount: number; unit_amount: number | null; unit_amount_decimal: string | null; quantity: number; price: JsonObject | null; currency?: string } {
  const quantity = (params.quantity as number | undefined) ?? (current?.quantity as number | undefined) ?? 1;
  if (params.price_data !== undefined) throw invalid('The Stripe emulator does not emulate price_data on invoice items yet: create the price first.', 'price_data');
  if (typeof params.price === 'string') {
    const price = emu.store.existing('price')?.get(params.price);
    if (!price) throw new StripeError(400, `No such price: '${params.price}'`, { code: 'resource_missing', param: 'price' });
    if (price.obj.type !== 'one_time') throw invalid('The price specified is set to `type=recurring` but this field only accepts prices with `type=one_time`.', 'price');
    const unit = price.obj.unit_amount as number;
    return { amount: unit * quantity, unit_amount: unit, unit_amount_decimal: String(price.obj.unit_amount_decimal ?? unit), quantity, price: price.obj, currency: price.obj.currency as string };
  }
  if (params.unit_amount !== undefined || params.unit_amount_decimal !== undefined) {
    const unit = params.unit_amount !== undefined ? (params.unit_amount as number) : Number(params.unit_amount_decimal);
    return { amount: Math.round(unit * quantity), unit_amount: Number.isInteger(unit) ? unit : null, unit_amount_decimal: String(unit), quantity, price: null };
  }
  if (params.amount !== undefined) {
    if (params.quantity !== undefined && params.quantity !== 1) throw invalid('You cannot pass quantity with amount: use unit_amount instead.', 'quantity');
    const amount = params.amount as number;
    return { amount, unit_amount: amount, unit_amount_decimal: String(amount), quantity: 1, price: null };
  }
  if (current) {
    const unit = current.unit_amount as number | null;
    return { amount: unit === null ? (current.amount as number) : unit * quantity, unit_amount: unit, unit_amount_decimal: current.unit_amount_decimal as string | null, quantity, price: (current.price as JsonObject | null) ?? null };
  }
  throw invalid('You must specify either `amount`, `unit_amount` or `price`.', 'amount', 'parameter_missing');
}

function draftFor(emu: Emulator, id: string, customer: string): Entry {
  const invoice = findLive(emu, 'invoice', id, 'invoice');
  if (invoice.obj.customer !== customer) throw invalid(`Invoice ${id} belongs to another customer.`, 'invoice');
  if (invoice.obj.status !== 'draft') throw invalid(`Invoice ${id} is finalized: invoice items can only be added to draft invoices.`, 'invoice', 'invoice_not_editable');
  return invoice;
}

function editableItem(emu: Emulator, item: Entry): Entry | undefined {
  const invoiceId = item.obj.invoice;
  if (invoiceId === null || invoiceId === undefined) return undefined;
  const invoice = emu.store.collection('invoice').get(String(invoiceId));
  if (invoice && invoice.obj.status !== 'draft') throw invalid(`Invoice item ${item.id} is on a finalized invoice and can no longer change.`, undefined, 'invoice_not_editable');
  return invoice;
}

function discountParam(emu: Emulator, discounts: unknown, customer: string, invoice?: string): JsonObject | null | undefined {
  if (discounts === undefined) return undefined;
  if (discounts === '') return null;
  const list = discounts as Array<{ coupon?: string; discount?: string }>;
  if (list.length === 0) return null;
  if (list.length > 1 || !list[0]!.coupon) throw invalid('The Stripe emulator supports one discount given as discounts[0][coupon].', 'discounts');
  checkCoupon(emu, list[0]!.coupon, 'discounts[0][coupon]');
  return redeemCoupon(emu, list[0]!.coupon, { customer, invoice }, 'discounts[0][coupon]');
}

export function defineInvoiceRoutes(router: Router): void {
  router.define('POST', '/v1/invoiceitems', (call) => {
    rejectUnsupported(call, ITEM_CREATE, 'POST /v1/invoiceitems');
    const { emu, params, request } = call;
    const customer = findLive(emu, 'customer', String(params.customer), 'customer');
    const amounts = itemAmounts(emu, params);
    const currency = amounts.currency ?? (params.currency !== undefined ? checkCurrency(params.currency) : (customer.obj.currency as string | null));
    if (!currency) throw invalid('Missing required param: currency.', 'currency', 'parameter_missing');
    if (params.currency !== undefined && amounts.currency && checkCurrency(params.currency) !== amounts.currency) throw invalid('The currency must match the price currency.', 'currency');
    const invoice = typeof params.invoice === 'string' ? draftFor(emu, params.invoice, customer.id) : undefined;
    if (invoice && invoice.obj.currency !== currency) throw invalid(`The invoice is in ${String(invoice.obj.currency)}; this item is in ${currency}.`, 'currency');
    let subscription: string | null = null;
    if (typeof params.subscription === 'string') {
      const sub = findLive(emu, 'subscription', params.subscription, 'subscription');
      if (sub.obj.customer !== customer.id) throw invalid('The subscription belongs to another customer.', 'subscription');
      subscription = sub.id;
    }
    const rates = taxRates(emu, params.tax_rates, 'tax_rates');
    const now = emu.clock.now();
    const period = params.period as Period | undefined;
    const item = createObject(emu, request, 'invoiceitem', {
      amount: amounts.amount,
      currency,
      customer: customer.id,
      date: now,
      description: (params.description as string | undefined) ?? null,
      discountable: (params.discountable as boolean | undefined) ?? amounts.amount >= 0,
      discounts: [],
      invoice: invoice?.id ?? null,
      metadata: mergeMetadata({}, params.metadata ?? {}),
      period: period ? { start: period.start, end: period.end } : { start: now, end: now },
      price: amounts.price,
      proration: false,
      quantity: amounts.quantity,
      subscription,
      subscription_item: null,
      tax_rates: rates,
      test_clock: null,
      unit_amount: amounts.unit_amount,
      unit_amount_decimal: amounts.unit_amount_decimal,
    });
    if (invoice) repriceDraft(emu, request, invoice);
    return renderObject(emu, item, call.expand);
  });

  router.define('POST', '/v1/invoiceitems/{invoiceitem}', (call) => {
    rejectUnsupported(call, ITEM_UPDATE, 'POST /v1/invoiceitems/{invoiceitem}');
    const { emu, params, request } = call;
    const item = findLive(emu, 'invoiceitem', call.pathParams.invoiceitem!, 'invoiceitem');
    const invoice = editableItem(emu, item);
    const changes: JsonObject = {};
    if (['amount', 'price', 'quantity', 'unit_amount', 'unit_amount_decimal'].some((k) => params[k] !== undefined)) {
      const amounts = itemAmounts(emu, params, item.obj);
      if (amounts.currency && amounts.currency !== item.obj.currency) throw invalid('The price currency must match the invoice item currency.', 'price');
      Object.assign(changes, { amount: amounts.amount, unit_amount: amounts.unit_amount, unit_amount_decimal: amounts.unit_amount_decimal, quantity: amounts.quantity, price: amounts.price });
    }
    if (params.description !== undefined) changes.description = params.description || null;
    if (params.discountable !== undefined) changes.discountable = params.discountable;
    if (params.metadata !== undefined) changes.metadata = mergeMetadata(item.obj.metadata, params.metadata);
    if (params.period !== undefined) changes.period = { start: (params.period as Period).start, end: (params.period as Period).end };
    if (params.tax_rates !== undefined) changes.tax_rates = taxRates(emu, params.tax_rates, 'tax_rates');
    // This API version has no invoiceitem.updated event.
    if (Object.keys(changes).length) replaceSilently(emu, item, changes);
    if (invoice) repriceDraft(emu, request, invoice);
    return renderObject(emu, item, call.expand);
  });

  router.define('DELETE', '/v1/invoiceitems/{invoiceitem}', (call) => {
    const { emu, request } = call;
    const item = findLive(emu, 'invoiceitem', call.pathParams.invoiceitem!, 'invoiceitem');
    const invoice = editableItem(emu, item);
    const body = deleteObject(emu, request, item);
    if (invoice) repriceDraft(emu, request, invoice);
    return body;
  });

  router.define('POST', '/v1/invoices', (call) => {
    rejectUnsupported(call, INVOICE_CREATE, 'POST /v1/invoices');
    const { emu, params, request } = call;
    if (params.customer === undefined) throw invalid('Missing required param: customer.', 'customer', 'parameter_missing');
    const customer = findLive(emu, 'customer', String(params.customer), 'customer');
    let subscription: Entry | undefined;
    if (typeof params.subscription === 'string') {
      subscription = findLive(emu, 'subscription', params.subscription, 'subscription');
      if (subscription.obj.customer !== customer.id) throw invalid('The subscription belongs to another customer.', 'subscription');
    }
    const collection = (params.collection_method as 'charge_automatically' | 'send_invoice' | undefined) ?? 'charge_automatically';
    if (collection === 'send_invoice' && params.days_until_due === undefined && params.due_date === undefined) throw invalid('Missing required param: days_until_due or due_date (for collection_method=send_invoice).', 'days_until_due', 'parameter_missing');
    if (collection !== 'send_invoice' && (params.days_until_due !== undefined || params.due_date !== undefined)) throw invalid('days_until_due and due_date are only for collection_method=send_invoice.', 'days_until_due');
    const include = params.pending_invoice_items_behavior === 'include';
    const explicitCurrency = params.currency !== undefined ? checkCurrency(params.currency) : null;
    let items = include ? pendingItems(emu, customer.id, explicitCurrency, subscription ? subscription.id : undefined) : [];
    const currency = explicitCurrency ?? (customer.obj.currency as string | null) ?? (items[0]?.obj.currency as string | undefined) ?? 'usd';
    items = items.filter((e) => e.obj.currency === currency);
    const rates = taxRates(emu, params.default_tax_rates, 'default_tax_rates');
    if (typeof params.default_payment_method === 'string') {
      const pm = emu.store.existing('payment_method')?.get(params.default_payment_method);
      if (!pm || pm.obj.customer !== customer.id) throw invalid(`The payment method ${params.default_payment_method} is not attached to this customer.`, 'default_payment_method', 'resource_missing');
    }
    const id = emu.ids.next('invoice');
    const own = discountParam(emu, params.discounts, customer.id, id);
    const invoice = createInvoice(emu, request, {
      id,
      customer,
      subscription: subscription?.obj ?? null,
      billingReason: 'manual',
      collectionMethod: collection,
      currency,
      sources: items.map((e) => invoiceItemLine(e.obj)),
      invoiceItems: items,
      discount: own === undefined ? ((subscription?.obj.discount as JsonObject | null) ?? (customer.obj.discount as JsonObject | null) ?? null) : own,
      defaultTaxRates: rates,
      period: { start: emu.clock.now(), end: emu.clock.now() },
      description: (params.description as string | undefined) ?? null,
      metadata: mergeMetadata({}, params.metadata ?? {}),
      autoAdvance: (params.auto_advance as boolean | undefined) ?? false,
      defaultPaymentMethod: (params.default_payment_method as string | undefined) ?? null,
      footer: (params.footer as string | undefined) ?? null,
      statementDescriptor: (params.statement_descriptor as string | undefined) ?? null,
      dueDate: collection === 'send_invoice' ? ((params.due_date as number | undefined) ?? emu.clock.now() + (params.days_until_due as number) * DAY) : null,
    });
    return renderObject(emu, invoice, call.expand);
  });

  router.define('POST', '/v1/invoices/{invoice}', (call) => {
    const { emu, params, request } = call;
    const invoice = findLive(emu, 'invoice', call.pathParams.invoice!, 'invoice');
    const draft = invoice.obj.status === 'draft';
    rejectUnsupported(call, draft ? DRAFT_UPDATE : OPEN_UPDATE, draft ? 'POST /v1/invoices/{invoice} (draft)' : `POST /v1/invoices/{invoice} (${String(invoice.obj.status)} invoice)`);
    const changes: JsonObject = {};
    for (const field of ['auto_advance', 'collection_method', 'description', 'footer', 'statement_descriptor'] as const) {
      if (params[field] !== undefined) changes[field] = params[field] === '' ? null : params[field];
    }
    if (params.metadata !== undefined) changes.metadata = mergeMetadata(invoice.obj.metadata, params.metadata);
    if (params.due_date !== undefined) changes.due_date = params.due_date || null;
    if (params.days_until_due !== undefined) changes.due_date = emu.clock.now() + (params.days_until_due as number) * DAY;
    if (params.default_payment_method !== undefined) {
      const pmId = params.default_payment_method as string;
      if (pmId) {
        const pm = emu.store.existing('payment_method')?.get(pmId);
        if (!pm || pm.obj.customer !== invoice.obj.customer) throw invalid(`The payment method ${pmId} is not attached to this customer.`, 'default_payment_method', 'resource_missing');
      }
      changes.default_payment_method = pmId || null;
    }
    const reprice = params.default_tax_rates !== undefined || params.discounts !== undefined;
    if (params.default_tax_rates !== undefined) changes.default_tax_rates = taxRates(emu, params.default_tax_rates, 'default_tax_rates');
    const own = discountParam(emu, params.discounts, String(invoice.obj.customer), invoice.id);
    if (own !== undefined) changes.discount = own;
    const collection = (changes.collection_method ?? invoice.obj.collection_method) as string;
    if (collection === 'charge_automatically' && (params.days_until_due !== undefined || params.due_date !== undefined)) throw invalid('days_until_due and due_date are only for collection_method=send_invoice.', 'days_until_due');
    if (reprice) repriceDraft(emu, request, invoice, changes);
    else updateObject(emu, request, invoice, changes);
    return renderObject(emu, invoice, call.expand);
  });

  router.define('DELETE', '/v1/invoices/{invoice}', (call) => {
    const { emu, request } = call;
    const invoice = findLive(emu, 'invoice', call.pathParams.invoice!, 'invoice');
    if (invoice.obj.status !== 'draft') throw invalid('You can only delete draft invoices; void a finalized invoice instead.', undefined, 'invoice_not_editable');
    if (invoice.obj.subscription) throw invalid("You can't delete invoices created by subscriptions.", undefined, 'invoice_not_editable');
    // Its invoice items are pending again.
    for (const item of [...emu.store.collection('invoiceitem').indexed('invoice', invoice.id)]) replaceSilently(emu, item, { invoice: null });
    for (const line of [...lineEntries(emu, invoice.id)]) line.collection.remove(line);
    return deleteObject(emu, request, invoice);
  });

  router.define('POST', '/v1/invoices/{invoice}/finalize', (call) => {
    rejectUnsupported(call, ['auto_advance'], 'POST /v1/invoices/{invoice}/finalize');
    const invoice = findLive(call.emu, 'invoice', call.pathParams.invoice!, 'invoice');
    return renderObject(call.emu, finalizeInvoice(call.emu, call.request, invoice, call.params.auto_advance as boolean | undefined), call.expand);
  });

  router.define('POST', '/v1/invoices/{invoice}/pay', (call) => {
    rejectUnsupported(call, ['forgive', 'off_session', 'paid_out_of_band', 'payment_method'], 'POST /v1/invoices/{invoice}/pay');
    const { emu, params } = call;
    const invoice = findLive(emu, 'invoice', call.pathParams.invoice!, 'invoice');
    const result = payInvoice(emu, call.request, invoice, { paymentMethod: params.payment_method as string | undefined, paidOutOfBand: params.paid_out_of_band === true });
    if (result.error) throw result.error;
    return renderObject(emu, invoice, call.expand);
  });

  router.define('POST', '/v1/invoices/{invoice}/void', (call) => {
    rejectUnsupported(call, [], 'POST /v1/invoices/{invoice}/void');
    const invoice = findLive(call.emu, 'invoice', call.pathParams.invoice!, 'invoice');
    return renderObject(call.emu, voidInvoice(call.emu, call.request, invoice), call.expand);
  });

  router.define('POST', '/v1/invoices/{invoice}/mark_uncollectible', (call) => {
    rejectUnsupported(call, [], 'POST /v1/invoices/{invoice}/mark_uncollectible');
    const { emu } = call;
    const invoice = findLive(emu, 'invoice', call.pathParams.invoice!, 'invoice');
    if (invoice.obj.status !== 'open') throw invalid(`You can only mark open invoices uncollectible; this one is ${String(invoice.obj.status)}.`, undefined, 'invoice_not_editable');
    updateObject(emu, call.request, invoice, {
      status: 'uncollectible',
      next_payment_attempt: null,
      status_transitions: { ...(invoice.obj.status_transitions as JsonObject), marked_uncollectible_at: emu.clock.now() },
    }, 'invoice.marked_uncollectible');
    return renderObject(emu, invoice, call.expand);
  });

  router.define('POST', '/v1/invoices/{invoice}/send', (call) => {
    rejectUnsupported(call, [], 'POST /v1/invoices/{invoice}/send');
    const invoice = findLive(call.emu, 'invoice', call.pathParams.invoice!, 'invoice');
    if (invoice.obj.status !== 'open') throw invalid(`You can only send open invoices; this one is ${String(invoice.obj.status)}.`, undefined, 'invoice_not_editable');
    // No e-mail leaves the emulator; the event says it would have.
    recordEvent(call.emu, 'invoice.sent', invoice.obj, { request: call.request });
    return renderObject(call.emu, invoice, call.expand);
  });
}

