// Coupons (create, update, delete), tax rates (create, update; Stripe cannot delete them) and the
// discounts a coupon becomes on a customer or a subscription (customer.discount.* events).
import type { Router } from '../api.ts';
import type { Emulator } from '../context.ts';
import { invalid, StripeError } from '../errors.ts';
import { recordEvent, type EventRequest } from '../events.ts';
import { renderObject } from '../expand.ts';
import type { JsonObject } from '../spec.ts';
import type { Entry } from '../store.ts';
import { createObject, deleteObject, findLive, mergeMetadata, rejectUnsupported, replaceSilently, updateObject } from '../writes.ts';
import { addInterval } from './periods.ts';

const COUPON_CREATE = ['amount_off', 'applies_to', 'currency', 'duration', 'duration_in_months', 'id', 'max_redemptions', 'metadata', 'name', 'percent_off', 'redeem_by'] as const;
const TAX_RATE_CREATE = ['active', 'country', 'description', 'display_name', 'inclusive', 'jurisdiction', 'metadata', 'percentage', 'state', 'tax_type'] as const;
const TAX_RATE_UPDATE = ['active', 'country', 'description', 'display_name', 'jurisdiction', 'metadata', 'state', 'tax_type'] as const;

/** Whether a coupon can still be redeemed now. */
function redeemable(emu: Emulator, coupon: JsonObject): boolean {
  if (coupon.valid === false) return false;
  if (typeof coupon.redeem_by === 'number' && coupon.redeem_by < emu.clock.now()) return false;
  return !(typeof coupon.max_redemptions === 'number' && (coupon.times_redeemed as number) >= coupon.max_redemptions);
}

/** Checks a coupon id can be applied, before anything changes. */
export function checkCoupon(emu: Emulator, id: string, param = 'coupon'): Entry {
  const coupon = emu.store.existing('coupon')?.get(id);
  if (!coupon) throw new StripeError(400, `No such coupon: '${id}'`, { code: 'resource_missing', param });
  if (!redeemable(emu, coupon.obj)) throw invalid(`Coupon ${id} is no longer valid.`, param, 'coupon_expired');
  return coupon;
}

/** A discount for the coupon (counted as one redemption), not stored on its own: parents embed it. */
export function redeemCoupon(emu: Emulator, id: string, owner: { customer: string | null; subscription?: string | null; invoice?: string | null }, param = 'coupon'): JsonObject {
  const coupon = checkCoupon(emu, id, param);
  const times = (coupon.obj.times_redeemed as number) + 1;
  const max = coupon.obj.max_redemptions;
  // A redemption changes the coupon with no event of its own, as on Stripe.
  replaceSilently(emu, coupon, { times_redeemed: times, valid: !(typeof max === 'number' && times >= max) });
  const start = emu.clock.now();
  const c = coupon.obj;
  return {
    checkout_session: null,
    coupon: c,
    customer: owner.customer,
    end: c.duration === 'repeating' ? addInterval(start, 'month', c.duration_in_months as number) : null,
    id: emu.ids.next('discount'),
    invoice: owner.invoice ?? null,
    invoice_item: null,
    object: 'discount',
    promotion_code: null,
    start,
    subscription: owner.subscription ?? null,
  };
}

/** Whether a discount applies to money billed at `t` in `currency`. */
export function discountApplies(discount: JsonObject | null | undefined, t: number, currency: string): discount is JsonObject {
  if (!discount) return false;
  if (typeof discount.end === 'number' && discount.end <= t) return false;
  const coupon = discount.coupon as JsonObject;
  return !(coupon.amount_off !== null && coupon.amount_off !== undefined && coupon.currency !== currency);
}

/** Sets or removes a customer's discount with customer.discount.* and customer.updated. */
export function setCustomerDiscount(emu: Emulator, request: EventRequest, customer: Entry, couponId: string | null, param = 'coupon'): void {
  const current = customer.obj.discount as JsonObject | null;
  if (couponId === null) {
    if (!current) throw new StripeError(404, `No active discount for customer: '${customer.id}'`, { code: 'resource_missing' });
    recordEvent(emu, 'customer.discount.deleted', current, { request });
    updateObject(emu, request, customer, { discount: null });
    return;
  }
  const discount = redeemCoupon(emu, couponId, { customer: customer.id }, param);
  recordEvent(emu, current ? 'customer.discount.updated' : 'customer.discount.created', discount, { request, previous: current ? { coupon: current.coupon, start: current.start, end: current.end } : undefined });
  updateObject(emu, request, customer, { discount });
}

/** The `deleted: true` answer of DELETE …/discount. */
export function deletedDiscount(discount: JsonObject): string {
  const { end: _end, ...rest } = discount;
  return JSON.stringify({ ...rest, deleted: true });
}

export function defineCouponRoutes(router: Router): void {
  router.define('POST', '/v1/coupons', (call) => {
    rejectUnsupported(call, COUPON_CREATE, 'POST /v1/coupons');
    const { emu, params } = call;
    const percent = params.percent_off as number | undefined;
    const amount = params.amount_off as number | undefined;
    if ((percent === undefined) === (amount === undefined)) throw invalid('You must pass exactly one of percent_off or amount_off.', percent === undefined ? 'percent_off' : 'amount_off');
    if (percent !== undefined && !(percent > 0 && percent <= 100)) throw invalid('percent_off must be greater than 0 and at most 100.', 'percent_off');
    if (amount !== undefined && amount < 1) throw invalid('amount_off must be positive.', 'amount_off');
    if (amount !== undefined && params.currency === undefined) throw invalid('You must pass currency when passing amount_off.', 'currency', 'parameter_missing');
    const duration = (params.duration as string | undefined) ?? 'once';
    if (duration === 'repeating' && params.duration_in_months === undefined) throw invalid('You must pass duration_in_months when duration is repeating.', 'duration_in_months', 'parameter_missing');
    if (duration !== 'repeating' && params.duration_in_months !== undefined) throw invalid('duration_in_months is only allowed when duration is repeating.', 'duration_in_months');
    const id = typeof params.id === 'string' ? params.id : emu.ids.chars(8);
    if (emu.store.existing('coupon')?.get(id)) throw invalid('Coupon already exists.', 'id', 'resource_already_exists');
    const redeemBy = params.redeem_by as number | undefined;
    if (redeemBy !== undefined && redeemBy <= emu.clock.now()) throw invalid('redeem_by must be in the future.', 'redeem_by');
    const appliesTo = params.applies_to as { products?: string[] } | undefined;
    if (appliesTo) throw invalid('The Stripe emulator does not emulate coupons restricted to products (applies_to) yet.', 'applies_to');
    const coupon = createObject(emu, call.request, 'coupon', {
      amount_off: amount ?? null,
      currency: amount !== undefined ? String(params.currency).toLowerCase() : null,
      duration,
      duration_in_months: (params.duration_in_months as number | undefined) ?? null,
      max_redemptions: (params.max_redemptions as number | undefined) ?? null,
      metadata: mergeMetadata({}, params.metadata ?? {}),
      name: (params.name as string | undefined) ?? null,
      percent_off: percent ?? null,
      redeem_by: redeemBy ?? null,
      times_redeemed: 0,
      valid: true,
    }, { id });
    return renderObject(emu, coupon, call.expand);
  });

  router.define('POST', '/v1/coupons/{coupon}', (call) => {
    rejectUnsupported(call, ['metadata', 'name'], 'POST /v1/coupons/{coupon}');
    const coupon = findLive(call.emu, 'coupon', call.pathParams.coupon!, 'coupon');
    const changes: JsonObject = {};
    if (call.params.name !== undefined) changes.name = call.params.name || null;
    if (call.params.metadata !== undefined) changes.metadata = mergeMetadata(coupon.obj.metadata, call.params.metadata);
    updateObject(call.emu, call.request, coupon, changes);
    return renderObject(call.emu, coupon, call.expand);
  });

  // Discounts already made from a deleted coupon keep working, as on Stripe.
  router.define('DELETE', '/v1/coupons/{coupon}', (call) => deleteObject(call.emu, call.request, findLive(call.emu, 'coupon', call.pathParams.coupon!, 'coupon')));

  router.define('POST', '/v1/tax_rates', (call) => {
    rejectUnsupported(call, TAX_RATE_CREATE, 'POST /v1/tax_rates');
    const { emu, params } = call;
    const percentage = params.percentage as number;
    if (percentage < 0 || percentage > 100) throw invalid('percentage must be between 0 and 100.', 'percentage');
    const rate = createObject(emu, call.request, 'tax_rate', {
      active: params.active ?? true,
      country: params.country ?? null,
      description: params.description ?? null,
      display_name: params.display_name,
      effective_percentage: percentage,
      inclusive: params.inclusive,
      jurisdiction: params.jurisdiction ?? null,
      metadata: mergeMetadata({}, params.metadata ?? {}),
      percentage,
      state: params.state ?? null,
      tax_type: params.tax_type ?? null,
    });
    return renderObject(emu, rate, call.expand);
  });

  router.define('POST', '/v1/tax_rates/{tax_rate}', (call) => {
    rejectUnsupported(call, TAX_RATE_UPDATE, 'POST /v1/tax_rates/{tax_rate}');
    const { emu, params } = call;
    const rate = findLive(emu, 'tax_rate', call.pathParams.tax_rate!, 'tax_rate');
    const changes: JsonObject = {};
    for (const field of TAX_RATE_UPDATE) {
      if (field === 'metadata' || params[field] === undefined) continue;
      changes[field] = params[field] === '' ? null : params[field];
    }
    if (params.metadata !== undefined) changes.metadata = mergeMetadata(rate.obj.metadata, params.metadata);
    updateObject(emu, call.request, rate, changes);
    return renderObject(emu, rate, call.expand);
  });

  router.define('GET', '/v1/customers/{customer}/discount', (call) => {
    const customer = findLive(call.emu, 'customer', call.pathParams.customer!, 'customer');
    const discount = customer.obj.discount as JsonObject | null;
    if (!discount) throw new StripeError(404, `No active discount for customer: '${customer.id}'`, { code: 'resource_missing' });
    return JSON.stringify(discount);
  });

  router.define('DELETE', '/v1/customers/{customer}/discount', (call) => {
    const customer = findLive(call.emu, 'customer', call.pathParams.customer!, 'customer');
    const discount = customer.obj.discount as JsonObject | null;
    setCustomerDiscount(call.emu, call.request, customer, null);
    return deletedDiscount(discount!);
  });
}

/** Tax rates named by id, checked to exist and be active (for items, invoices, subscriptions). */
export function taxRates(emu: Emulator, ids: unknown, param: string): JsonObject[] {
  if (ids === undefined || ids === '' || ids === null) return [];
  return (ids as string[]).map((id, i) => {
    const rate = emu.store.existing('tax_rate')?.get(id);
    if (!rate) throw new StripeError(400, `No such tax rate: '${id}'`, { code: 'resource_missing', param: `${param}[${i}]` });
    if (rate.obj.active === false) throw invalid(`Tax rate ${id} is archived (active=false) and cannot be applied.`, `${param}[${i}]`);
    return rate.obj;
  });
}
