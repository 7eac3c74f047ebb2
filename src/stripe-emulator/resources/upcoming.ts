// Virtual invoices: `GET /v1/invoices/upcoming` (and `/lines`) and `POST
// /v1/invoices/create_preview` (newer SDKs' name for it; not in the 2023-08-16 spec) compute the
// next invoice of a customer's or a subscription's from the current state: the next period of the
// subscription's items (or of the proposed `subscription_items`, with the prorations the change
// would make), the customer's pending invoice items, the discount and tax rates in force and
// the customer's balance. Like Stripe's, the result has no `id`; its lines have `il_tmp_` ids that
// stay the same between calls, so `/lines` pages through them. Nothing to bill is Stripe's 404
// `invoice_upcoming_none`.
import type { Router } from '../api.ts';
import type { Emulator } from '../context.ts';
import { invalid, StripeError } from '../errors.ts';
import { expandObject } from '../expand.ts';
import { instantiate } from '../objects.ts';
import type { Params } from '../params.ts';
import type { JsonObject, Schema } from '../spec.ts';
import type { Entry } from '../store.ts';
import { findLive } from '../writes.ts';
import { applyBalance } from './balance.ts';
import { checkCoupon, taxRates } from './coupons.ts';
import { invoiceItemLine, priceLines, subscriptionLine, type LineSource, type Period } from './invoice-lines.ts';
import { invoiceFields, pendingItems } from './invoices.ts';
import { renderVirtualList } from './paging.ts';
import { addInterval, type Interval } from './periods.ts';
import { planItems, prorations, subscriptionItems, type ItemPlan } from './subscriptions.ts';

interface PreviewInput {
  customer?: string;
  subscription?: string;
  items?: Params[];
  prorationBehavior?: string;
  prorationDate?: number;
  cancelAtPeriodEnd?: boolean;
  coupon?: string;
  defaultTaxRates?: unknown;
}

const UPCOMING_PARAMS = ['coupon', 'customer', 'subscription', 'subscription_cancel_at_period_end', 'subscription_default_tax_rates', 'subscription_items', 'subscription_proration_behavior', 'subscription_proration_date'];

const none = (what: string) => new StripeError(404, `No upcoming invoices for ${what}`, { code: 'invoice_upcoming_none' });

const suffix = (id: string) => id.slice(id.indexOf('_') + 1);

/** The subscription whose invoice comes next among a customer's live ones. */
function nextSubscription(emu: Emulator, customer: string): Entry | undefined {
  const live = emu.store.collection('subscription').indexed('customer', customer).filter((e) => ['active', 'trialing', 'past_due', 'unpaid'].includes(e.obj.status as string) && e.obj.cancel_at_period_end !== true);
  return live.sort((a, b) => (a.obj.current_period_end as number) - (b.obj.current_period_end as number))[0];
}

function fromUpcomingParams(params: Params): PreviewInput {
  const unknown = Object.keys(params).find((k) => !UPCOMING_PARAMS.includes(k) && !['expand', 'limit', 'starting_after', 'ending_before'].includes(k));
  if (unknown) throw new StripeError(400, `The Stripe emulator does not support the parameter ${unknown} on the upcoming invoice yet.`, { param: unknown, code: 'parameter_unknown' });
  return {
    customer: params.customer as string | undefined,
    subscription: params.subscription as string | undefined,
    items: params.subscription_items as Params[] | undefined,
    prorationBehavior: params.subscription_proration_behavior as string | undefined,
    prorationDate: params.subscription_proration_date as number | undefined,
    cancelAtPeriodEnd: params.subscription_cancel_at_period_end as boolean | undefined,
    coupon: params.coupon as string | undefined,
    defaultTaxRates: params.subscription_default_tax_rates,
  };
}

function fromPreviewParams(params: Params): PreviewInput {
  const details = (params.subscription_details ?? {}) as Params;
  const discounts = params.discounts as Array<{ coupon?: string }> | '' | undefined;
  if (Array.isArray(discounts) && (discounts.length > 1 || (discounts[0] && !discounts[0].coupon))) throw invalid('The Stripe emulator supports one discount given as discounts[0][coupon].', 'discounts');
  return {
    customer: params.customer as string | undefined,
    subscription: params.subscription as string | undefined,
    items: details.items as Params[] | undefined,
    prorationBehavior: details.proration_behavior as string | undefined,
    prorationDate: details.proration_date as number | undefined,
    cancelAtPeriodEnd: details.cancel_at_period_end as boolean | undefined,
    coupon: Array.isArray(discounts) ? discounts[0]?.coupon : undefined,
    defaultTaxRates: details.default_tax_rates,
  };
}

interface Computed {
  invoice: JsonObject;
  lines: JsonObject[];
  query: string;
}

function computeUpcoming(emu: Emulator, input: PreviewInput): Computed {
  const now = emu.clock.now();
  let sub: Entry | undefined;
  let customer: Entry;
  if (input.subscription) {
    sub = emu.store.existing('subscription')?.get(input.subscription);
    if (!sub) throw new StripeError(400, `No such subscription: '${input.subscription}'`, { code: 'resource_missing', param: 'subscription' });
    if (input.customer && input.customer !== sub.obj.customer) throw invalid(`The subscription ${sub.id} does not belong to customer ${input.customer}.`, 'subscription');
    customer = findLive(emu, 'customer', String(sub.obj.customer), 'customer');
  } else {
    if (!input.customer) throw invalid('Missing required param: customer.', 'customer', 'parameter_missing');
    const found = emu.store.existing('customer')?.get(input.customer);
    if (!found) throw new StripeError(400, `No such customer: '${input.customer}'`, { code: 'resource_missing', param: 'customer' });
    customer = found;
    // Proposed items with no subscription preview a new subscription.
    if (!input.items) sub = nextSubscription(emu, customer.id);
  }
  const what = sub ? `subscription: ${sub.id}` : `customer: ${customer.id}`;
  if (sub && ['canceled', 'incomplete_expired'].includes(sub.obj.status as string)) throw none(what);
  if (input.coupon) checkCoupon(emu, input.coupon);

  let plan: ItemPlan;
  let period: Period;
  let extra: JsonObject[] = [];
  let previewing = false;
  if (sub) {
    const s = sub.obj;
    if (input.cancelAtPeriodEnd ?? s.cancel_at_period_end === true) throw none(what);
    plan = planItems(emu, subscriptionItems(emu, sub.id), input.items, 'subscription_items');
    if (input.items && (input.prorationBehavior ?? 'create_prorations') !== 'none') extra = prorations(emu, s, plan, input.prorationDate ?? now);
    previewing = !!input.items;
    const { interval, interval_count: count } = plan.items[0]!.price.recurring as { interval: Interval; interval_count: number };
    const start = s.current_period_end as number;
    period = { start, end: addInterval(start, interval, count, s.billing_cycle_anchor as number) };
  } else {
    if (!input.items) throw none(what);
    plan = planItems(emu, [], input.items, 'subscription_items');
    const { interval, interval_count: count } = plan.items[0]!.price.recurring as { interval: Interval; interval_count: number };
    period = { start: now, end: addInterval(now, interval, count) };
  }
  const currency = plan.items[0]!.price.currency as string;
  const subLike: JsonObject = sub ? sub.obj : { id: null, metadata: {} };
  const subscriptionLines: LineSource[] = plan.items.map((it, i) => ({
    ...subscriptionLine(emu, { id: it.entry?.id ?? `si_tmp_${i}`, price: it.price, quantity: it.quantity, tax_rates: it.taxRates }, subLike, period),
    subscription: sub?.id ?? null,
  }));
  const pending = pendingItems(emu, customer.id, currency).filter((e) => e.obj.subscription === null || e.obj.subscription === sub?.id);
  const prorationLines = extra.map((item, i) => ({ ...invoiceItemLine({ ...item, id: `ii_tmp_${sub ? suffix(sub.id) : 'new'}${i}` }) }));
  const sources = [...pending.map((e) => invoiceItemLine(e.obj)), ...prorationLines, ...subscriptionLines];
  const discount = input.coupon
    ? { id: `di_tmp_${input.coupon}`, object: 'discount', checkout_session: null, coupon: checkCoupon(emu, input.coupon).obj, customer: customer.id, end: null, invoice: null, invoice_item: null, promotion_code: null, start: now, subscription: sub?.id ?? null }
    : ((sub?.obj.discount as JsonObject | null | undefined) ?? (customer.obj.discount as JsonObject | null) ?? null);
  const defaultRates = input.defaultTaxRates !== undefined ? taxRates(emu, input.defaultTaxRates, 'subscription_default_tax_rates') : ((sub?.obj.default_tax_rates as JsonObject[] | null | undefined) ?? []);
  const priced = priceLines(emu, sources, {
    currency,
    discount,
    defaultTaxRates: defaultRates,
    at: period.start,
    lineId: (source) => `il_tmp_${suffix(source.type === 'invoiceitem' ? source.invoiceItem! : source.subscriptionItem!)}`,
  });
  const balance = (customer.obj.balance as number | undefined) ?? 0;
  const { amountDue, endingBalance } = applyBalance(priced.totals.total, balance);
  const collection = (sub?.obj.collection_method as 'charge_automatically' | 'send_invoice' | undefined) ?? 'charge_automatically';
  const fields = invoiceFields({
    customer,
    subscription: sub?.obj ?? null,
    billingReason: 'upcoming',
    collectionMethod: collection,
    dueDate: collection === 'send_invoice' ? period.start + ((sub?.obj.days_until_due as number | null) ?? 30) * 86400 : null,
    currency,
    discount,
    defaultTaxRates: defaultRates,
    period: sub ? { start: sub.obj.current_period_start as number, end: sub.obj.current_period_end as number } : { start: now, end: now },
    autoAdvance: true,
    defaultPaymentMethod: null,
  }, priced.totals.total_discount_amounts.length ? discount : null, { ...priced.totals, amount_due: amountDue, amount_remaining: amountDue });
  const query = new URLSearchParams({ customer: customer.id, ...(sub ? { subscription: sub.id } : {}) }).toString();
  const { id: _id, ...withoutId } = instantiate(emu.spec, 'invoice', {
    id: 'upcoming',
    created: period.start,
    set: {
      ...fields,
      starting_balance: balance,
      ending_balance: balance === 0 ? null : endingBalance,
      next_payment_attempt: collection === 'charge_automatically' && amountDue > 0 ? period.start + 3600 : null,
      ...(previewing ? { subscription_proration_date: input.prorationDate ?? now } : {}),
      lines: { object: 'list', data: priced.lines.slice(0, 10), has_more: priced.lines.length > 10, url: `/v1/invoices/upcoming/lines?${query}` },
    },
  });
  return { invoice: withoutId, lines: priced.lines, query };
}

/** The form schema of create_preview, built from the upcoming invoice's own parameter schemas. */
function previewSchema(emu: Emulator): Schema {
  const params = new Map((emu.spec.operation('GET', '/v1/invoices/upcoming')?.parameters ?? []).map((p) => [p.name, p.schema]));
  const string: Schema = { type: 'string', maxLength: 5000 };
  return {
    type: 'object',
    properties: {
      customer: string,
      subscription: string,
      currency: string,
      expand: { type: 'array', items: string },
      discounts: params.get('discounts') ?? { type: 'array', items: { type: 'object', properties: { coupon: string, discount: string } } },
      subscription_details: {
        type: 'object',
        properties: {
          items: params.get('subscription_items')!,
          proration_behavior: params.get('subscription_proration_behavior')!,
          proration_date: params.get('subscription_proration_date')!,
          cancel_at_period_end: params.get('subscription_cancel_at_period_end')!,
          default_tax_rates: params.get('subscription_default_tax_rates')!,
        },
      },
    },
  };
}

export function defineUpcomingRoutes(router: Router, emu: Emulator): void {
  router.define('GET', '/v1/invoices/upcoming', (call) => {
    const { invoice } = computeUpcoming(call.emu, fromUpcomingParams(call.params));
    return JSON.stringify(call.expand ? expandObject(call.emu, invoice, call.expand) : invoice);
  });

  router.define('GET', '/v1/invoices/upcoming/lines', (call) => {
    const { lines, query } = computeUpcoming(call.emu, fromUpcomingParams(call.params));
    return renderVirtualList(call.emu, lines, call.params, `/v1/invoices/upcoming/lines?${query}`, call.expand);
  });

  router.define('POST', '/v1/invoices/create_preview', (call) => {
    const { invoice } = computeUpcoming(call.emu, fromPreviewParams(call.params));
    return JSON.stringify(call.expand ? expandObject(call.emu, invoice, call.expand) : invoice);
  }, { bodySchema: previewSchema(emu) });
}
