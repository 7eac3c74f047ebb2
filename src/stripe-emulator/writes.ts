// The pattern every write endpoint follows: build the new object from its fixture (create) or
// the stored one (update), store it, rebuild the sub-lists of parents that embed it, and record
// the event with the whole object, `previous_attributes` on updates, and the request.
import type { Call } from './api.ts';
import type { Emulator } from './context.ts';
import { refreshParents, withEmbeddedLists } from './embedded.ts';
import { invalid, StripeError } from './errors.ts';
import { previousAttributes, recordEvent, type EventRequest } from './events.ts';
import { instantiate } from './objects.ts';
import type { Params } from './params.ts';
import type { JsonObject, Schema } from './spec.ts';
import type { Entry, InsertOptions } from './store.ts';

export interface CreateOptions extends Pick<InsertOptions, 'owner' | 'key'> {
  collection?: string;
  id?: string;
  /** Event type; `${object}.created` by default, null for none. */
  event?: string | null;
}

export function createObject(emu: Emulator, request: EventRequest, object: string, set: JsonObject, options: CreateOptions = {}): Entry {
  const created = emu.clock.now();
  const id = options.id ?? emu.ids.next(object);
  const obj = withEmbeddedLists(emu, instantiate(emu.spec, object, { id, created, set }));
  const entry = emu.store.insert(options.collection ?? object, obj, { owner: options.owner, key: options.key, t: created });
  refreshParents(emu, entry);
  if (options.event !== null) recordEvent(emu, options.event ?? `${object}.created`, entry.obj, { request, created });
  return entry;
}

/**
 * Applies `changes` and, when anything changed, records `${object}.updated` (or `eventType`; null
 * for none) with the whole object; `*.updated` events carry the previous values of what changed,
 * compared with `before` when given (the state before sub-lists such as `items` were rebuilt).
 */
export function updateObject(emu: Emulator, request: EventRequest, entry: Entry, changes: JsonObject, eventType?: string | null, before: JsonObject = entry.obj): Entry {
  const current = entry.obj;
  const after = withEmbeddedLists(emu, { ...current, ...changes });
  const previous = previousAttributes(before, after);
  if (!previous) return entry;
  entry.collection.replace(entry, after);
  refreshParents(emu, entry);
  const type = eventType === undefined ? `${entry.type}.updated` : eventType;
  if (type) recordEvent(emu, type, after, { request, previous: type.endsWith('.updated') ? previous : undefined });
  return entry;
}

/** Changes a stored object with no event (Stripe records none for this change). */
export function replaceSilently(emu: Emulator, entry: Entry, changes: JsonObject): Entry {
  entry.collection.replace(entry, withEmbeddedLists(emu, { ...entry.obj, ...changes }));
  refreshParents(emu, entry);
  return entry;
}

/** Removes the object; the event carries its last state, the response the `deleted: true` stub. */
export function deleteObject(emu: Emulator, request: EventRequest, entry: Entry): string {
  entry.collection.remove(entry);
  refreshParents(emu, entry);
  recordEvent(emu, `${entry.type}.deleted`, entry.obj, { request });
  return JSON.stringify({ id: entry.id, object: entry.type, deleted: true });
}

/** Stripe's metadata update: keys merge, `''` removes a key, `metadata=''` clears them all. */
export function mergeMetadata(current: unknown, update: unknown): JsonObject {
  if (update === '') return {};
  const out: JsonObject = { ...((current as JsonObject | null) ?? {}) };
  for (const [k, v] of Object.entries((update as JsonObject) ?? {})) {
    if (v === '') delete out[k];
    else out[k] = v;
  }
  if (Object.keys(out).length > 50) throw invalid('You can only specify up to 50 metadata keys.', 'metadata');
  return out;
}

/**
 * A parameter as the value of the same-named field: `''` unsets (null), objects take the
 * resource schema's shape with absent nullable members null, so they validate like Stripe's.
 */
export function fieldValue(emu: Emulator, object: string, field: string, value: unknown, current?: unknown): unknown {
  const schema = emu.spec.resources.get(object)?.schema.properties?.[field];
  if (!schema) throw new Error(`${object} has no field ${field}`);
  return shape(emu, schema, value, current, field);
}

function shape(emu: Emulator, schema: Schema, value: unknown, current: unknown, name: string): unknown {
  const s = emu.spec.resolve(schema);
  if (value === '') {
    if (schema.nullable || s.nullable) return null;
    if (s.type === 'array') return [];
    throw invalid(`You cannot unset ${name}.`, name);
  }
  if (Array.isArray(value)) {
    const items = s.items ?? (s.anyOf ?? []).map((a) => emu.spec.resolve(a)).find((a) => a.type === 'array')?.items;
    return value.map((v) => (items ? shape(emu, items, v, undefined, name) : v));
  }
  if (value && typeof value === 'object') {
    const target = s.properties ? s : (s.anyOf ?? []).map((a) => emu.spec.resolve(a)).find((a) => a.properties);
    if (!target?.properties) return value;
    const base = current && typeof current === 'object' ? (current as JsonObject) : {};
    const out: JsonObject = {};
    for (const [k, prop] of Object.entries(target.properties)) {
      const v = (value as JsonObject)[k];
      if (v !== undefined) out[k] = shape(emu, prop, v, base[k], `${name}[${k}]`);
      else if (k in base) out[k] = base[k];
      else if (prop.nullable || emu.spec.resolve(prop).nullable) out[k] = null;
      else if (emu.spec.resolve(prop).type === 'array') out[k] = [];
    }
    return out;
  }
  return value;
}

/** Copies the named parameters onto same-named fields (metadata merges). */
export function directFields(emu: Emulator, object: string, params: Params, fields: readonly string[], current: JsonObject = {}): JsonObject {
  const out: JsonObject = {};
  for (const field of fields) {
    if (params[field] === undefined) continue;
    out[field] = field === 'metadata' ? mergeMetadata(current.metadata, params.metadata) : fieldValue(emu, object, field, params[field], current[field]);
  }
  return out;
}

/** Parameters the spec accepts that this emulator does not act on yet: a clear 400, never silence. */
export function rejectUnsupported(call: Call, supported: readonly string[], what: string): void {
  for (const key of Object.keys(call.params)) {
    if (key === 'expand' || supported.includes(key)) continue;
    throw new StripeError(400, `The Stripe emulator does not support the parameter ${key} on ${what} yet.`, { param: key, code: 'parameter_unknown' });
  }
}

export function findLive(emu: Emulator, object: string, id: string, param = 'id', collection = object): Entry {
  const entry = emu.store.existing(collection)?.get(id);
  if (!entry || entry.type !== object) throw new StripeError(404, `No such ${object.replaceAll('_', ' ')}: '${id}'`, { code: 'resource_missing', param });
  return entry;
}
