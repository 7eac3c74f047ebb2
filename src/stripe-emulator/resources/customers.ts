// Customers: create, update, delete, with customer.created / .updated / .deleted events.
import type { Router } from '../api.ts';
import type { Emulator } from '../context.ts';
import { renderObject } from '../expand.ts';
import { createObject, deleteObject, directFields, findLive, rejectUnsupported, updateObject } from '../writes.ts';
import { invalid } from '../errors.ts';
import type { JsonObject } from '../spec.ts';

const FIELDS = ['address', 'balance', 'description', 'email', 'invoice_prefix', 'invoice_settings', 'metadata', 'name', 'next_invoice_sequence', 'phone', 'preferred_locales', 'shipping', 'tax_exempt'] as const;

function checkDefaultPaymentMethod(emu: Emulator, customer: string, settings: JsonObject | undefined): void {
  const pm = settings?.default_payment_method;
  if (typeof pm !== 'string' || pm === '') return;
  const entry = emu.store.collection('payment_method').get(pm);
  if (!entry) throw invalid(`No such PaymentMethod: '${pm}'`, 'invoice_settings[default_payment_method]', 'resource_missing');
  if (entry.obj.customer !== customer) {
    throw invalid(`The customer does not have a payment method with the ID ${pm}. The payment method must be attached to the customer.`, 'invoice_settings[default_payment_method]', 'resource_missing');
  }
}

export function defineCustomerRoutes(router: Router): void {
  router.define('POST', '/v1/customers', (call) => {
    rejectUnsupported(call, FIELDS, 'POST /v1/customers');
    const { emu, params } = call;
    const id = emu.ids.next('customer');
    checkDefaultPaymentMethod(emu, id, params.invoice_settings as JsonObject | undefined);
    const base: JsonObject = { currency: null, invoice_prefix: emu.ids.chars(8).toUpperCase().replace(/[^A-Z0-9]/g, 'X'), metadata: {} };
    const entry = createObject(emu, call.request, 'customer', { ...base, ...directFields(emu, 'customer', params, FIELDS, base) }, { id });
    return renderObject(emu, entry, call.expand);
  });

  router.define('POST', '/v1/customers/{customer}', (call) => {
    rejectUnsupported(call, FIELDS, 'POST /v1/customers/{customer}');
    const { emu, params } = call;
    const entry = findLive(emu, 'customer', call.pathParams.customer!, 'customer');
    checkDefaultPaymentMethod(emu, entry.id, params.invoice_settings as JsonObject | undefined);
    updateObject(emu, call.request, entry, directFields(emu, 'customer', params, FIELDS, entry.obj));
    return renderObject(emu, entry, call.expand);
  });

  router.define('DELETE', '/v1/customers/{customer}', (call) => {
    const entry = findLive(call.emu, 'customer', call.pathParams.customer!, 'customer');
    return deleteObject(call.emu, call.request, entry);
  });
}
