// Customers: create (optionally attaching a payment method, applying a coupon), update, delete
// (which cancels the customer's subscriptions first, as on Stripe), with customer.* events.
import type { Router } from '../api.ts';
import type { Emulator } from '../context.ts';
import { renderObject } from '../expand.ts';
import { createObject, deleteObject, directFields, findLive, rejectUnsupported, updateObject } from '../writes.ts';
import { invalid } from '../errors.ts';
import type { JsonObject } from '../spec.ts';
import { checkCoupon, setCustomerDiscount } from './coupons.ts';
import { attachPaymentMethod, checkPaymentMethodRef, resolvePaymentMethod } from './payment-methods.ts';
import { cancelSubscription } from './subscriptions.ts';

const FIELDS = ['address', 'balance', 'description', 'email', 'invoice_prefix', 'invoice_settings', 'metadata', 'name', 'next_invoice_sequence', 'phone', 'preferred_locales', 'shipping', 'tax_exempt'] as const;

function checkDefaultPaymentMethod(emu: Emulator, customer: string, settings: JsonObject | undefined, attaching?: string): void {
  const pm = settings?.default_payment_method;
  if (typeof pm !== 'string' || pm === '' || pm === attaching) return;
  const entry = emu.store.collection('payment_method').get(pm);
  if (!entry) throw invalid(`No such PaymentMethod: '${pm}'`, 'invoice_settings[default_payment_method]', 'resource_missing');
  if (entry.obj.customer !== customer) {
    throw invalid(`The customer does not have a payment method with the ID ${pm}. The payment method must be attached to the customer.`, 'invoice_settings[default_payment_method]', 'resource_missing');
  }
}

export function defineCustomerRoutes(router: Router): void {
  router.define('POST', '/v1/customers', (call) => {
    rejectUnsupported(call, [...FIELDS, 'payment_method', 'coupon'], 'POST /v1/customers');
    const { emu, params, request } = call;
    const id = emu.ids.next('customer');
    const pmRef = params.payment_method as string | undefined;
    if (pmRef) checkPaymentMethodRef(emu, pmRef, 'payment_method', null);
    checkDefaultPaymentMethod(emu, id, params.invoice_settings as JsonObject | undefined, pmRef);
    if (typeof params.coupon === 'string') checkCoupon(emu, params.coupon);
    const base: JsonObject = { currency: null, discount: null, invoice_prefix: emu.ids.chars(8).toUpperCase().replace(/[^A-Z0-9]/g, 'X'), metadata: {}, next_invoice_sequence: 1 };
    const entry = createObject(emu, request, 'customer', { ...base, ...directFields(emu, 'customer', params, FIELDS, base) }, { id });
    if (pmRef) attachPaymentMethod(emu, request, resolvePaymentMethod(emu, request, pmRef), id);
    if (typeof params.coupon === 'string') setCustomerDiscount(emu, request, entry, params.coupon);
    return renderObject(emu, entry, call.expand);
  });

  router.define('POST', '/v1/customers/{customer}', (call) => {
    rejectUnsupported(call, [...FIELDS, 'coupon'], 'POST /v1/customers/{customer}');
    const { emu, params } = call;
    const entry = findLive(emu, 'customer', call.pathParams.customer!, 'customer');
    checkDefaultPaymentMethod(emu, entry.id, params.invoice_settings as JsonObject | undefined);
    if (typeof params.coupon === 'string' && params.coupon !== '') checkCoupon(emu, params.coupon);
    updateObject(emu, call.request, entry, directFields(emu, 'customer', params, FIELDS, entry.obj));
    if (params.coupon === '' && entry.obj.discount) setCustomerDiscount(emu, call.request, entry, null);
    else if (typeof params.coupon === 'string' && params.coupon !== '') setCustomerDiscount(emu, call.request, entry, params.coupon);
    return renderObject(emu, entry, call.expand);
  });

  router.define('DELETE', '/v1/customers/{customer}', (call) => {
    const { emu, request } = call;
    const entry = findLive(emu, 'customer', call.pathParams.customer!, 'customer');
    for (const sub of [...emu.store.collection('subscription').indexed('customer', entry.id)]) {
      if (sub.obj.status !== 'canceled' && sub.obj.status !== 'incomplete_expired') cancelSubscription(emu, request, sub);
    }
    return deleteObject(emu, request, entry);
  });
}
