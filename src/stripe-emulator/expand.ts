// expand[]: ids become the objects they name, recursively along dotted paths, at most four
// levels (counting `data` on lists, as Stripe does). What may be expanded comes from the spec:
// each schema's `x-expandableFields` and `x-expansionResources`, also inside plain sub-objects
// (`customer.invoice_settings.default_payment_method`). Expansion copies along each path and never
// touches stored objects; responses with nothing to expand are plain cached JSON.
import type { Emulator } from './context.ts';
import { embeddedList } from './embedded.ts';
import { invalid } from './errors.ts';
import type { JsonObject, Schema } from './spec.ts';
import { serialize, type Entry } from './store.ts';

export const MAX_EXPAND_DEPTH = 4;

export type ExpandTree = Map<string, ExpandTree>;

export function expandTree(paths: readonly string[] | undefined): ExpandTree | undefined {
  if (!paths || paths.length === 0) return undefined;
  const root: ExpandTree = new Map();
  for (const path of paths) {
    const parts = path.split('.');
    if (parts.some((p) => p === '')) throw invalid(`Invalid expand path: ${path}`, 'expand');
    if (parts.length > MAX_EXPAND_DEPTH) {
      throw invalid(`You cannot expand more than ${MAX_EXPAND_DEPTH} levels of a property. Property: ${path}`, 'expand');
    }
    let node = root;
    for (const part of parts) {
      let next = node.get(part);
      if (!next) node.set(part, (next = new Map()));
      node = next;
    }
  }
  return root;
}

const cannot = (path: string) => invalid(`This property cannot be expanded (${path}).`, 'expand');

const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);

/** The object schema among a property's alternatives (`anyOf: [id, object]`, nullable refs). */
function objectSchema(emu: Emulator, schema: Schema | undefined, value: unknown): Schema | undefined {
  if (!schema) return undefined;
  const s = emu.spec.resolve(schema);
  if (s.anyOf) {
    const kind = value && typeof value === 'object' ? (value as JsonObject).object : undefined;
    const alts = s.anyOf.map((a) => emu.spec.resolve(a)).filter((a) => a.properties);
    return alts.find((a) => a.properties!.object?.enum?.includes(kind)) ?? alts[0];
  }
  return s;
}

function targetsOf(emu: Emulator, prop: Schema): string[] | undefined {
  const expansion = prop['x-expansionResources'] ?? prop.items?.['x-expansionResources'];
  if (!expansion) return undefined;
  return expansion.oneOf.flatMap((o) => {
    const value = emu.spec.schemas[refName(o.$ref ?? '')]?.properties?.object?.enum?.[0];
    return typeof value === 'string' ? [value] : [];
  });
}

/** A copy of `obj` with the fields in `tree` expanded; `schema` describes objects with no `object`. */
export function expandObject(emu: Emulator, obj: JsonObject, tree: ExpandTree, at = '', schema?: Schema): JsonObject {
  const s = emu.spec.resources.get(String(obj.object))?.schema ?? schema;
  let out = obj;
  for (const [field, sub] of tree) {
    const path = at ? `${at}.${field}` : field;
    const prop = s?.properties?.[field];
    const expandable = !!s?.['x-expandableFields']?.includes(field);
    if (!prop || (!expandable && sub.size === 0)) throw cannot(path);
    let value = out[field];
    const targets = expandable ? targetsOf(emu, prop) : undefined;
    if (targets) {
      value = Array.isArray(value) ? value.map((v) => resolveRef(emu, v, targets)) : resolveRef(emu, value, targets);
    } else if (value === undefined && expandable) {
      value = embeddedList(emu, obj, field);
    } else if (typeof value === 'string') {
      throw cannot(path);
    }
    if (sub.size) value = expandValue(emu, value, sub, path, prop);
    out = out === obj ? { ...obj } : out;
    out[field] = value;
  }
  return out;
}

function expandValue(emu: Emulator, value: unknown, tree: ExpandTree, at: string, schema: Schema): unknown {
  if (value === null || value === undefined || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => expandValue(emu, v, tree, at, emu.spec.resolve(schema).items ?? {}));
  const obj = value as JsonObject;
  if (obj.deleted === true) return obj;
  const s = objectSchema(emu, schema, obj);
  if (obj.object === 'list' || obj.object === 'search_result') {
    const itemSchema = s?.properties?.data?.items;
    let out = obj;
    for (const [field, sub] of tree) {
      if (field !== 'data') throw cannot(`${at}.${field}`);
      out = { ...obj, data: (obj.data as JsonObject[]).map((item) => expandObject(emu, item, sub, `${at}.data`, objectSchema(emu, itemSchema, item))) };
    }
    return out;
  }
  return expandObject(emu, obj, tree, at, s);
}

function resolveRef(emu: Emulator, value: unknown, objects: readonly string[]): unknown {
  if (typeof value !== 'string') return value;
  const entry = emu.store.find(objects, value);
  if (entry) return entry.obj;
  return emu.store.deletedStub(objects, value) ?? value;
}

/** One object as a response body. */
export function renderObject(emu: Emulator, entry: Entry, tree: ExpandTree | undefined): string {
  return tree ? JSON.stringify(expandObject(emu, entry.obj, tree)) : serialize(entry);
}

/** A list response, concatenated from each object's cached JSON unless `data.` paths need expanding. */
export function renderList(emu: Emulator, entries: readonly Entry[], hasMore: boolean, url: string, tree: ExpandTree | undefined): string {
  let items: string;
  if (tree) {
    for (const key of tree.keys()) if (key !== 'data') throw cannot(key);
    const sub = tree.get('data')!;
    items = entries.map((e) => JSON.stringify(expandObject(emu, e.obj, sub, 'data'))).join(',');
  } else {
    items = entries.map(serialize).join(',');
  }
  return `{"object":"list","data":[${items}],"has_more":${hasMore},"url":${JSON.stringify(url)}}`;
}
