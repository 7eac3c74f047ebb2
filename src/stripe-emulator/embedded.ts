// Sub-lists inside objects (invoice `lines`, subscription `items`, customer `subscriptions`…):
// at most 10 items with `has_more` and the `url` of the full list, as Stripe returns them. Lists
// the schema requires are kept inside the stored parent and rebuilt when a child changes; the
// others are built only when expanded.
import type { Emulator } from './context.ts';
import { listEntries } from './list-endpoints.ts';
import type { Params } from './params.ts';
import type { JsonObject } from './spec.ts';
import type { Entry } from './store.ts';

export const EMBEDDED_LIMIT = 10;

interface EmbedDef {
  /** The list endpoint that holds the items. */
  route: string;
  /** Its path parameter, or query parameters, naming the parent. */
  pathParam?: string;
  query?: (parent: JsonObject) => Params;
  url: (parent: JsonObject) => string;
}

const nested = (route: string, pathParam: string): EmbedDef => ({
  route,
  pathParam,
  url: (p) => route.replace(`{${pathParam}}`, String(p.id)),
});

const filtered = (route: string, query: (p: JsonObject) => Params, urlQuery: (p: JsonObject) => string): EmbedDef => ({
  route,
  query,
  url: (p) => `${route}?${urlQuery(p)}`,
});

/** `object.field` → where its items come from. */
export const EMBEDS: Record<string, EmbedDef> = {
  'invoice.lines': nested('/v1/invoices/{invoice}/lines', 'invoice'),
  'credit_note.lines': nested('/v1/credit_notes/{credit_note}/lines', 'credit_note'),
  'subscription.items': filtered('/v1/subscription_items', (p) => ({ subscription: p.id }), (p) => `subscription=${String(p.id)}`),
  'application_fee.refunds': nested('/v1/application_fees/{id}/refunds', 'id'),
  'transfer.reversals': nested('/v1/transfers/{id}/reversals', 'id'),
  'radar.value_list.list_items': filtered('/v1/radar/value_list_items', (p) => ({ value_list: p.id }), (p) => `value_list=${String(p.id)}`),
  'financial_connections.session.accounts': filtered('/v1/financial_connections/accounts', (p) => ({ session: p.id }), () => ''),
  'customer.subscriptions': nested('/v1/customers/{customer}/subscriptions', 'customer'),
  'customer.sources': nested('/v1/customers/{customer}/sources', 'customer'),
  'customer.tax_ids': nested('/v1/customers/{customer}/tax_ids', 'customer'),
  'charge.refunds': nested('/v1/charges/{charge}/refunds', 'charge'),
  'checkout.session.line_items': nested('/v1/checkout/sessions/{session}/line_items', 'session'),
  'payment_link.line_items': nested('/v1/payment_links/{payment_link}/line_items', 'payment_link'),
  'quote.line_items': nested('/v1/quotes/{quote}/line_items', 'quote'),
  'account.external_accounts': nested('/v1/accounts/{account}/external_accounts', 'account'),
  'file.links': filtered('/v1/file_links', (p) => ({ file: p.id }), (p) => `file=${String(p.id)}`),
  'tax.calculation.line_items': nested('/v1/tax/calculations/{calculation}/line_items', 'calculation'),
  'tax.transaction.line_items': nested('/v1/tax/transactions/{transaction}/line_items', 'transaction'),
  'treasury.transaction.entries': filtered(
    '/v1/treasury/transaction_entries',
    (p) => ({ transaction: p.id, financial_account: p.financial_account }),
    (p) => `financial_account=${String(p.financial_account)}&transaction=${String(p.id)}`,
  ),
};
EMBEDS['financial_connections.session.accounts']!.url = () => '/v1/financial_connections/accounts';

/** The first page of a sub-list, as a plain list object. */
export function embeddedList(emu: Emulator, parent: JsonObject, field: string): JsonObject | undefined {
  const def = EMBEDS[`${String(parent.object)}.${field}`];
  if (!def) return undefined;
  const route = emu.lists.get(def.route)!;
  const pathParams = def.pathParam ? { [def.pathParam]: String(parent.id) } : {};
  // The parent may not be stored yet (it is being created): no 404 check for it.
  const page = listEntries(emu, route, { pathParams, query: { ...def.query?.(parent), limit: EMBEDDED_LIMIT } }, false);
  return { object: 'list', data: page.entries.map((e) => e.obj), has_more: page.hasMore, url: def.url(parent) };
}

/** Lists the schema requires in the object, rebuilt from the store. */
export function withEmbeddedLists(emu: Emulator, obj: JsonObject): JsonObject {
  const info = emu.spec.resources.get(String(obj.object));
  if (!info) return obj;
  let out = obj;
  for (const field of info.listFields.keys()) {
    if (!info.schema.required?.includes(field)) continue;
    const list = embeddedList(emu, obj, field);
    if (list) out = { ...out, [field]: list };
  }
  return out;
}

/** Objects that embed `child` in a required sub-list, so their stored copy must be rebuilt. */
export function refreshParents(emu: Emulator, child: Entry): void {
  for (const [key, def] of Object.entries(EMBEDS)) {
    const route = emu.lists.get(def.route);
    if (!route || route.collection !== child.collection.name) continue;
    const dot = key.lastIndexOf('.');
    const parentObject = key.slice(0, dot);
    const field = key.slice(dot + 1);
    const info = emu.spec.resources.get(parentObject);
    if (!info?.schema.required?.includes(field)) continue;
    let parentId: string | undefined;
    if (route.link) parentId = route.link.field === '$owner' ? child.owner : (child.obj[route.link.field] as string | undefined);
    else if (def.query) {
      const [param] = Object.keys(def.query({ id: '' }));
      const v = child.obj[param!] ?? (param === 'session' ? child.owner : undefined);
      parentId = typeof v === 'string' ? v : undefined;
    }
    if (!parentId) continue;
    const parent = emu.store.find([parentObject], parentId);
    if (!parent) continue;
    const list = embeddedList(emu, parent.obj, field);
    if (list) parent.collection.replace(parent, { ...parent.obj, [field]: list });
  }
}
