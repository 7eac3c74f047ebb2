// Objects are never hand-typed: each starts as the spec's fixture for its type, with the id,
// times, references and amounts overridden. Unchanged sub-objects are shared with the fixture
// (stored objects are immutable), so a million clones cost little more than their top levels.
import type { Rng } from './rng.ts';
import type { JsonObject, Schema, StripeSpec } from './spec.ts';
import type { Store } from './store.ts';

/** Where a fixture holds an id another object must supply (`customer`, `lines.data.[].price.product`). */
export interface RefSlot {
  path: string[];
  objects: string[];
  nullable: boolean;
}

export interface Template {
  object: string;
  fixture: JsonObject;
  /** The fixture's own creation time, the origin its other timestamps are shifted from. */
  origin: number;
  /** Top-level keys whose subtrees hold timestamps (cloned and shifted per instance). */
  timed: string[];
  refs: RefSlot[];
  /** Lists Stripe only returns when expanded: dropped from the fixture. */
  dropped: string[];
}

const templates = new WeakMap<StripeSpec, Map<string, Template>>();

export function template(spec: StripeSpec, object: string): Template {
  let byObject = templates.get(spec);
  if (!byObject) templates.set(spec, (byObject = new Map()));
  let t = byObject.get(object);
  if (t) return t;
  const info = spec.resources.get(object);
  const raw = spec.fixtures[object] ?? (info ? spec.fixtures[info.schemaName] : undefined);
  if (!info || !raw) throw new Error(`no fixture for ${object}`);
  const fitted = conform(spec, raw, info.schema);
  if (fitted === FAIL) throw new Error(`the ${object} fixture cannot be made to fit its schema`);
  const fixture = fitted as JsonObject;
  const required = new Set(info.schema.required ?? []);
  const dropped = [...info.listFields.keys()].filter((f) => !required.has(f) && f in fixture);
  const timed: string[] = [];
  const refs: RefSlot[] = [];
  for (const [key, value] of Object.entries(fixture)) {
    if (dropped.includes(key)) continue;
    const prop = info.schema.properties?.[key];
    if (!prop) continue;
    if (hasTimestamp(spec, value, prop, key === 'created')) timed.push(key);
    findRefs(spec, value, prop, [key], refs);
  }
  const origin = typeof fixture.created === 'number' ? fixture.created : 1234567890;
  t = { object, fixture, origin, timed, refs, dropped };
  byObject.set(object, t);
  return t;
}

const FAIL = Symbol('does not fit');

/**
 * A few fixtures disagree with the spec (an address with `zip`, a missing required member): drop
 * members the schema does not declare, and make a sub-object that lacks a required member null
 * where the schema allows it, so every clone validates.
 */
function conform(spec: StripeSpec, value: unknown, schema: Schema): unknown {
  if (value === null || value === undefined) return value;
  const s = spec.resolve(schema);
  if (s.anyOf) {
    if (typeof value !== 'object') return value;
    for (const alt of s.anyOf) {
      const r = spec.resolve(alt);
      const kind = r.properties?.object?.enum;
      if (Array.isArray(value) ? r.type !== 'array' : !(r.properties || r.type === 'object') || (kind && !kind.includes((value as JsonObject).object))) continue;
      const out = conform(spec, value, alt);
      if (out !== FAIL) return out;
    }
    return FAIL;
  }
  if (Array.isArray(value)) {
    if (!s.items) return value;
    const out = value.map((v) => conform(spec, v, s.items!));
    return out.includes(FAIL) ? FAIL : out;
  }
  if (typeof value !== 'object' || !s.properties) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) {
    const prop = s.properties[k];
    if (!prop) continue;
    const fitted = conform(spec, v, prop);
    if (fitted !== FAIL) out[k] = fitted;
    else if (prop.nullable || spec.resolve(prop).nullable) out[k] = null;
    else return FAIL;
  }
  for (const k of s.required ?? []) {
    if (k in out) continue;
    const prop = s.properties[k]!;
    if (prop.nullable || spec.resolve(prop).nullable) out[k] = null;
    else if (spec.resolve(prop).type === 'array') out[k] = [];
    else return FAIL;
  }
  return out;
}

function hasTimestamp(spec: StripeSpec, value: unknown, schema: Schema, skip: boolean): boolean {
  if (skip || value === null || value === undefined) return false;
  const s = spec.resolve(schema);
  if (s.format === 'unix-time') return typeof value === 'number';
  if (s.anyOf) return s.anyOf.some((alt) => hasTimestamp(spec, value, alt, false));
  if (Array.isArray(value)) return s.items ? value.some((v) => hasTimestamp(spec, v, s.items!, false)) : false;
  if (typeof value === 'object') {
    const extra = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
    return Object.entries(value).some(([k, v]) => {
      const p = s.properties?.[k] ?? extra;
      return p ? hasTimestamp(spec, v, p, false) : false;
    });
  }
  return false;
}

function findRefs(spec: StripeSpec, value: unknown, schema: Schema, path: string[], out: RefSlot[]): void {
  if (value === null || value === undefined) return;
  const s = spec.resolve(schema);
  const expansion = s['x-expansionResources'];
  if (expansion && typeof value === 'string') {
    const objects = expansion.oneOf.map((o) => spec.schemas[o.$ref!.slice(o.$ref!.lastIndexOf('/') + 1)]?.properties?.object?.enum?.[0]).filter((o): o is string => typeof o === 'string');
    out.push({ path, objects: [...new Set(objects)], nullable: !!schema.nullable || !!s.nullable });
    return;
  }
  if (s.anyOf) {
    // Follow the alternative that describes this value (an object with the same `object`).
    const alt = s.anyOf.find((a) => {
      const r = spec.resolve(a);
      if (typeof value !== 'object' || !(r.type === 'object' || r.properties)) return false;
      const kind = r.properties?.object?.enum;
      return !kind || kind.includes((value as JsonObject).object);
    });
    if (alt) findRefs(spec, value, alt, path, out);
    return;
  }
  if (Array.isArray(value)) {
    if (s.items) value.forEach((v, i) => findRefs(spec, v, s.items!, [...path, String(i)], out));
    return;
  }
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const p = s.properties?.[k] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
      if (p) findRefs(spec, v, p, [...path, k], out);
    }
  }
}

/** Deep copy with every number under a unix-time field moved by `delta`. */
function shifted(spec: StripeSpec, value: unknown, schema: Schema, delta: number): unknown {
  if (value === null || value === undefined) return value;
  const s = spec.resolve(schema);
  if (s.format === 'unix-time' && typeof value === 'number') return value + delta;
  if (s.anyOf) {
    for (const alt of s.anyOf) {
      const r = spec.resolve(alt);
      if (r.format === 'unix-time' && typeof value === 'number') return value + delta;
      if (typeof value === 'object' && (r.type === 'object' || r.properties || r.type === 'array')) return shifted(spec, value, alt, delta);
    }
    return value;
  }
  if (Array.isArray(value)) return s.items ? value.map((v) => shifted(spec, v, s.items!, delta)) : value;
  if (typeof value === 'object') {
    const out: JsonObject = {};
    const extra = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
    for (const [k, v] of Object.entries(value)) {
      const p = s.properties?.[k] ?? extra;
      out[k] = p ? shifted(spec, v, p, delta) : v;
    }
    return out;
  }
  return value;
}

/** A copy of `obj` with `value` at `path`, cloning only the objects and arrays along the path. */
export function setPath(obj: unknown, path: readonly string[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(obj)) {
    const copy = obj.slice();
    copy[Number(head)] = setPath(copy[Number(head)], rest, value);
    return copy;
  }
  const base = (obj ?? {}) as JsonObject;
  return { ...base, [head]: setPath(base[head], rest, value) };
}

export interface InstantiateOptions {
  id: string;
  /** Unix seconds; every other timestamp of the fixture moves by the same amount. */
  created: number;
  /** Top-level fields to set; anything named here is not touched by the reference fixer. */
  set?: JsonObject;
  /** Picks a live object for reference slots not covered by `set` (null when nullable and none). */
  refs?: { store: Store; rng: Rng; prefer: 'null' | 'random' };
}

export function instantiate(spec: StripeSpec, object: string, options: InstantiateOptions): JsonObject {
  const t = template(spec, object);
  const info = spec.resources.get(object)!;
  const delta = options.created - t.origin;
  const set = options.set ?? {};
  // `null` for a member the schema neither allows null nor requires means "absent" (a
  // subscription line has no `invoice_item`).
  const absent = new Set<string>(t.dropped.filter((key) => !(key in set)));
  for (const [key, value] of Object.entries(set)) {
    if (value !== null) continue;
    const prop = info.schema.properties?.[key];
    if (prop && !prop.nullable && !spec.resolve(prop).nullable && !info.schema.required?.includes(key)) absent.add(key);
  }
  // A spread of a base without the absent members, never `delete`d from, so the clones of a type
  // share one hidden class: `delete` would turn a million objects into hash tables (about twice
  // the memory, several times slower to serialize).
  let obj: JsonObject = { ...baseWithout(t, absent) };
  for (const key of t.timed) if (key in obj) obj[key] = shifted(spec, t.fixture[key], info.schema.properties![key]!, delta);
  obj.id = options.id;
  if (info.hasCreated) obj.created = options.created;
  if ('livemode' in obj) obj.livemode = false;
  if (options.refs) {
    for (const slot of t.refs) {
      // Objects the API never returns on their own (an `application`) keep the fixture's id.
      if (slot.path[0]! in set || absent.has(slot.path[0]!) || !slot.objects.some((o) => spec.fixtures[o])) continue;
      obj = setPath(obj, slot.path, pickRef(options.refs.store, options.refs.rng, slot, options.refs.prefer)) as JsonObject;
    }
  }
  for (const [key, value] of Object.entries(set)) if (!absent.has(key)) obj[key] = value;
  return obj;
}

const bases = new WeakMap<Template, Map<string, JsonObject>>();

/** The fixture without some members, built once per set of members (JSON.parse makes it a fast object). */
function baseWithout(t: Template, absent: ReadonlySet<string>): JsonObject {
  let byKey = bases.get(t);
  if (!byKey) bases.set(t, (byKey = new Map()));
  const key = [...absent].sort().join(',');
  let base = byKey.get(key);
  if (!base) {
    const members = Object.entries(t.fixture).filter(([k]) => !absent.has(k));
    base = JSON.parse(JSON.stringify(Object.fromEntries(members))) as JsonObject;
    // Sub-objects stay shared with the fixture; only the top level is new.
    for (const [k, v] of members) base[k] = v;
    byKey.set(key, base);
  }
  return base;
}

function pickRef(store: Store, rng: Rng, slot: RefSlot, prefer: 'null' | 'random'): string | null {
  if (prefer === 'null' && slot.nullable) return null;
  for (const object of slot.objects) {
    const entry = store.sample(object, rng.next);
    if (entry) return entry.id;
  }
  if (slot.nullable) return null;
  throw new MissingReference(`no ${slot.objects.join('|')} to reference from ${slot.path.join('.')}`);
}

export class MissingReference extends Error {
  override name = 'MissingReference';
}
