// Products: create (optionally with default_price_data), update, delete (refused while the
// product has prices, as on Stripe).
import type { Router } from '../api.ts';
import { invalid, StripeError } from '../errors.ts';
import { renderObject } from '../expand.ts';
import type { Params } from '../params.ts';
import type { JsonObject } from '../spec.ts';
import { recordEvent } from '../events.ts';
import { createObject, deleteObject, directFields, findLive, rejectUnsupported, replaceSilently, updateObject } from '../writes.ts';
import { createPrice } from './prices.ts';

const FIELDS = ['active', 'description', 'features', 'images', 'metadata', 'name', 'package_dimensions', 'shippable', 'statement_descriptor', 'unit_label', 'url'] as const;

export function defineProductRoutes(router: Router): void {
  router.define('POST', '/v1/products', (call) => {
    rejectUnsupported(call, [...FIELDS, 'id', 'default_price_data'], 'POST /v1/products');
    const { emu, params } = call;
    const id = typeof params.id === 'string' ? params.id : emu.ids.next('product');
    if (emu.store.collection('product').get(id)) throw new StripeError(400, `Product already exists.`, { code: 'resource_already_exists', param: 'id' });
    const now = emu.clock.now();
    const base: JsonObject = { active: true, default_price: null, description: null, features: [], images: [], metadata: {}, package_dimensions: null, shippable: null, statement_descriptor: null, tax_code: null, unit_label: null, updated: now, url: null };
    const fields = { ...base, ...directFields(emu, 'product', params, FIELDS, base) };
    if (!params.default_price_data) return renderObject(emu, createObject(emu, call.request, 'product', fields, { id }), call.expand);
    // The price needs the product to exist; product.created waits until its default price is set,
    // since Stripe's event carries the product as the response returns it.
    const product = createObject(emu, call.request, 'product', fields, { id, event: null });
    let price;
    try {
      price = createPrice(emu, call.request, { ...(params.default_price_data as Params), product: product.id }, 'default_price_data');
    } catch (err) {
      // A refused default_price_data creates nothing.
      product.collection.remove(product);
      throw err;
    }
    replaceSilently(emu, product, { default_price: price.id });
    recordEvent(emu, 'product.created', product.obj, { request: call.request, created: product.obj.created as number });
    return renderObject(emu, product, call.expand);
  });

  router.define('POST', '/v1/products/{id}', (call) => {
    rejectUnsupported(call, [...FIELDS, 'default_price'], 'POST /v1/products/{id}');
    const { emu, params } = call;
    const entry = findLive(emu, 'product', call.pathParams.id!);
    const changes = directFields(emu, 'product', params, FIELDS, entry.obj);
    if (params.default_price !== undefined) {
      if (params.default_price === '') changes.default_price = null;
      else {
        const price = emu.store.collection('price').get(String(params.default_price));
        if (!price || price.obj.product !== entry.id) throw invalid(`No such price: '${String(params.default_price)}' for this product`, 'default_price', 'resource_missing');
        changes.default_price = price.id;
      }
    }
    if (Object.keys(changes).length) changes.updated = emu.clock.now();
    updateObject(emu, call.request, entry, changes);
    return renderObject(emu, entry, call.expand);
  });

  router.define('DELETE', '/v1/products/{id}', (call) => {
    const { emu } = call;
    const entry = findLive(emu, 'product', call.pathParams.id!);
    if (emu.store.collection('price').indexed('product', entry.id).length) {
      throw invalid('This product cannot be deleted because it has one or more user-created prices.', undefined, 'product_has_prices' as string);
    }
    return deleteObject(emu, call.request, entry);
  });
}
