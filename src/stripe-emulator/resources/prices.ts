// Prices: create (with product or product_data), update. A recurring price also appears as a
// plan, as on Stripe, with its own plan.* events. Prices cannot be deleted.
import type { Router } from '../api.ts';
import type { Emulator } from '../context.ts';
import { invalid, StripeError } from '../errors.ts';
import type { EventRequest } from '../events.ts';
import { renderObject } from '../expand.ts';
import type { Params } from '../params.ts';
import type { JsonObject } from '../spec.ts';
import type { Entry } from '../store.ts';
import { createObject, directFields, findLive, mergeMetadata, rejectUnsupported, updateObject } from '../writes.ts';

const CREATE = ['active', 'billing_scheme', 'currency', 'custom_unit_amount', 'lookup_key', 'metadata', 'nickname', 'product', 'product_data', 'recurring', 'tax_behavior', 'transfer_lookup_key', 'unit_amount', 'unit_amount_decimal'] as const;
const UPDATE = ['active', 'lookup_key', 'metadata', 'nickname', 'tax_behavior', 'transfer_lookup_key'] as const;

function checkLookupKey(emu: Emulator, params: Params, self?: string): void {
  const key = params.lookup_key;
  if (typeof key !== 'string' || key === '') return;
  const taken = emu.store.collection('price').indexed('lookup_key', key).find((e) => e.id !== self);
  if (!taken) return;
  if (params.transfer_lookup_key !== true) {
    throw invalid(`A price (\`${taken.id}\`) already uses that lookup key.`, 'lookup_key', 'lookup_key_already_exists' as string);
  }
  updateObject(emu, { id: null, idempotency_key: null }, taken, { lookup_key: null });
}

/** Creates a price (and its plan twin when recurring); `param` names the parameter for errors. */
export function createPrice(emu: Emulator, request: EventRequest, params: Params, param?: string): Entry {
  const at = (name: string) => (param ? `${param}[${name}]` : name);
  if (params.currency === undefined) throw new StripeError(400, `Missing required param: ${at('currency')}.`, { code: 'parameter_missing', param: at('currency') });
  let productId = params.product as string | undefined;
  if (params.product_data) {
    const data = params.product_data as Params;
    if (!data.name) throw new StripeError(400, `Missing required param: ${at('product_data[name]')}.`, { code: 'parameter_missing', param: at('product_data[name]') });
    const product = createObject(emu, request, 'product', {
      active: data.active ?? true, default_price: null, description: null, features: [], images: [], metadata: mergeMetadata({}, data.metadata ?? {}),
      name: data.name, package_dimensions: null, shippable: null, statement_descriptor: data.statement_descriptor ?? null, tax_code: null,
      unit_label: data.unit_label ?? null, updated: emu.clock.now(), url: null,
    });
    productId = product.id;
  }
  if (!productId) throw new StripeError(400, `Missing required param: ${at('product')}.`, { code: 'parameter_missing', param: at('product') });
  if (!emu.store.collection('product').get(productId)) throw invalid(`No such product: '${productId}'`, at('product'), 'resource_missing');
  if ((params.billing_scheme ?? 'per_unit') !== 'per_unit') throw invalid('The Stripe emulator only emulates per_unit prices so far.', at('billing_scheme'));
  const custom = params.custom_unit_amount as Params | undefined;
  let unitAmount: number | null = null;
  let decimal: string | null = null;
  if (params.unit_amount !== undefined) {
    unitAmount = params.unit_amount as number;
    decimal = String(unitAmount);
  } else if (params.unit_amount_decimal !== undefined) {
    decimal = String(params.unit_amount_decimal);
    unitAmount = Number.isInteger(Number(decimal)) ? Number(decimal) : null;
  } else if (!custom) {
    throw invalid('Missing required param: unit_amount.', at('unit_amount'), 'parameter_missing');
  }
  checkLookupKey(emu, params);
  const recurring = params.recurring as Params | undefined;
  const set: JsonObject = {
    active: params.active ?? true,
    billing_scheme: 'per_unit',
    currency: String(params.currency).toLowerCase(),
    custom_unit_amount: custom ? { maximum: custom.maximum ?? null, minimum: custom.minimum ?? null, preset: custom.preset ?? null } : null,
    lookup_key: params.lookup_key || null,
    metadata: mergeMetadata({}, params.metadata ?? {}),
    nickname: params.nickname || null,
    product: productId,
    recurring: recurring
      ? { aggregate_usage: recurring.aggregate_usage ?? null, interval: recurring.interval, interval_count: recurring.interval_count ?? 1, usage_type: recurring.usage_type ?? 'licensed' }
      : null,
    tax_behavior: params.tax_behavior ?? 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: recurring ? 'recurring' : 'one_time',
    unit_amount: unitAmount,
    unit_amount_decimal: decimal,
  };
  const price = createObject(emu, request, 'price', set);
  if (recurring) createObject(emu, request, 'plan', planFields(set), { id: price.id });
  return price;
}

/** The plan view of a recurring price. */
function planFields(price: JsonObject): JsonObject {
  const recurring = price.recurring as JsonObject;
  return {
    active: price.active,
    aggregate_usage: recurring.aggregate_usage,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: price.billing_scheme,
    currency: price.currency,
    interval: recurring.interval,
    interval_count: recurring.interval_count,
    metadata: price.metadata,
    nickname: price.nickname,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: recurring.usage_type,
  };
}

export function definePriceRoutes(router: Router): void {
  router.define('POST', '/v1/prices', (call) => {
    rejectUnsupported(call, CREATE, 'POST /v1/prices');
    return renderObject(call.emu, createPrice(call.emu, call.request, call.params), call.expand);
  });

  router.define('POST', '/v1/prices/{price}', (call) => {
    rejectUnsupported(call, UPDATE, 'POST /v1/prices/{price}');
    const { emu, params } = call;
    const entry = findLive(emu, 'price', call.pathParams.price!, 'price');
    if (params.tax_behavior !== undefined && entry.obj.tax_behavior !== 'unspecified' && params.tax_behavior !== entry.obj.tax_behavior) {
      throw invalid('tax_behavior cannot be changed once it is set.', 'tax_behavior');
    }
    checkLookupKey(emu, params, entry.id);
    const changes = directFields(emu, 'price', params, ['active', 'lookup_key', 'metadata', 'nickname', 'tax_behavior'], entry.obj);
    updateObject(emu, call.request, entry, changes);
    const plan = emu.store.collection('plan').get(entry.id);
    if (plan) {
      const { active, metadata, nickname } = entry.obj;
      updateObject(emu, call.request, plan, { active, metadata, nickname });
    }
    return renderObject(emu, entry, call.expand);
  });
}
