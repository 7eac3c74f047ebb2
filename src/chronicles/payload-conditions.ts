// Payload conditions: {operation: EQ|NEQ|IN|EXISTS|CONTAINS, path: [String!]!, value: JSON}.
//
// Searches compile them to SQL; tag rules evaluate the same conditions in JavaScript with the same
// meaning (matchesCondition). A path is a list of object keys, validated (^[A-Za-z0-9_]{1,64}$,
// at most 8) and never pasted into SQL: it travels as a parameter — a jsonb document, a text[]
// or a jsonpath string built from the validated keys.
//
//   EQ        payload @> {"a":{"b":v}}             GIN jsonb_path_ops; a non-scalar v is also
//                                                  checked for equality (payload #> path = v)
//   IN        payload @> any(array[{…v1}, {…v2}])  GIN (one bitmap scan per value, OR-ed)
//   CONTAINS  payload @> {"a":{"b":v}}             GIN; v contained at the path (subset of an
//                                                  object, elements of an array, equal scalar)
//   EXISTS    jsonb_path_exists(payload,            filter only: jsonb_path_ops indexes values,
//               'strict $."a"."b"')                not keys, so an index cannot serve it
//   NEQ       EXISTS and payload #> path <> v      filter only (a negation matches most rows)
//
// Paths address object keys only: an array on the way never matches (strict jsonpath, and
// containment of a nested object does not look inside arrays).
import { z } from 'zod';

export const OPERATIONS = ['EQ', 'NEQ', 'IN', 'EXISTS', 'CONTAINS'] as const;
export type Operation = (typeof OPERATIONS)[number];

export const PATH_SEGMENT = /^[A-Za-z0-9_]{1,64}$/;
export const MAX_PATH_DEPTH = 8;
export const MAX_VALUE_BYTES = 4096;
export const MAX_IN_VALUES = 100;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface PayloadCondition {
  operation: Operation;
  path: string[];
  value?: Json;
}

const jsonBytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');

export const pathSchema = z
  .array(z.string().regex(PATH_SEGMENT, { error: 'a path segment must be 1-64 letters, digits or _' }))
  .min(1, { error: 'a path needs at least one segment' })
  .max(MAX_PATH_DEPTH, { error: `a path has at most ${MAX_PATH_DEPTH} segments` });

export const payloadConditionSchema = z
  .object({
    operation: z.enum(OPERATIONS),
    path: pathSchema,
    value: z.unknown().optional(),
  })
  .superRefine((c, ctx) => {
    const has = c.value !== undefined && c.value !== null;
    if (c.operation === 'EXISTS') {
      if (has) ctx.addIssue({ code: 'custom', path: ['value'], message: 'EXISTS takes no value' });
      return;
    }
    if (c.operation === 'IN') {
      if (!Array.isArray(c.value) || c.value.length < 1 || c.value.length > MAX_IN_VALUES) {
        ctx.addIssue({ code: 'custom', path: ['value'], message: `IN needs an array of 1-${MAX_IN_VALUES} values` });
      }
    } else if (c.value === undefined || (c.operation === 'CONTAINS' && c.value === null)) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `${c.operation} needs a value` });
    }
    if (jsonBytes(c.value) > MAX_VALUE_BYTES) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `the value is over ${MAX_VALUE_BYTES} bytes of JSON` });
    }
  })
  .transform((c) => c as PayloadCondition);

/** EQ, IN and CONTAINS narrow a search through the GIN index; EXISTS and NEQ only filter. */
export const isIndexable = (c: PayloadCondition) => c.operation === 'EQ' || c.operation === 'IN' || c.operation === 'CONTAINS';

/** {"a":{"b":value}} for path [a, b]. */
export function nest(path: string[], value: Json): Json {
  return path.reduceRight<Json>((inner, key) => ({ [key]: inner }), value);
}

/** `strict $."a"."b"`: every segment matched PATH_SEGMENT, so quoting is enough. */
export function jsonPathOf(path: string[]): string {
  for (const segment of path) if (!PATH_SEGMENT.test(segment)) throw new Error('invalid path segment');
  return `strict $${path.map((s) => `."${s}"`).join('')}`;
}

const isScalar = (v: unknown) => v === null || typeof v !== 'object';

/** A SQL condition as text with numbered placeholders ($n) and the values to bind. */
export interface SqlCondition {
  text: string;
  params: unknown[];
}

/**
 * Compiles a validated condition on the column `column` (an identifier from our own code).
 * `next()` hands out placeholder numbers so conditions compose into one statement.
 */
export function compileCondition(c: PayloadCondition, column: string, next: (value: unknown) => string): string {
  const doc = (v: Json) => `${column} @> ${next(JSON.stringify(nest(c.path, v)))}::text::jsonb`;
  switch (c.operation) {
    case 'EQ': {
      const value = c.value as Json;
      if (isScalar(value)) return doc(value);
      return `(${doc(value)} and ${column} #> ${next(c.path)}::text[] = ${next(JSON.stringify(value))}::text::jsonb)`;
    }
    case 'CONTAINS':
      return doc(c.value as Json);
    case 'IN': {
      const values = c.value as Json[];
      const docs = values.map((v) => JSON.stringify(nest(c.path, v)));
      const contained = `${column} @> any(${next(docs)}::text[]::jsonb[])`;
      if (values.every(isScalar)) return contained;
      return `(${contained} and ${column} #> ${next(c.path)}::text[] = any(${next(values.map((v) => JSON.stringify(v)))}::text[]::jsonb[]))`;
    }
    // A function, not the @? operator: jsonb_path_ops could only answer a key-existence question
    // with a scan of the whole index, and the planner should not be offered one.
    case 'EXISTS':
      return `jsonb_path_exists(${column}, ${next(jsonPathOf(c.path))}::jsonpath, '{}', true)`;
    case 'NEQ':
      return `(jsonb_path_exists(${column}, ${next(jsonPathOf(c.path))}::jsonpath, '{}', true) and ${column} #> ${next(c.path)}::text[] <> ${next(JSON.stringify(c.value))}::text::jsonb)`;
  }
}

// ---------------------------------------------------------------------------------------------
// The same conditions in JavaScript (tag rules), with jsonb's semantics.

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value at an object-key path, undefined when a step is missing or not an object. */
export function valueAt(payload: unknown, path: string[]): unknown {
  let current: unknown = payload;
  for (const key of path) {
    if (!isObject(current) || !Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** jsonb `a @> b` below the top level: objects by subset, arrays by elements, scalars by equality. */
export function jsonContains(a: unknown, b: unknown): boolean {
  if (isObject(b)) return isObject(a) && Object.keys(b).every((k) => Object.hasOwn(a, k) && jsonContains(a[k], b[k]));
  if (Array.isArray(b)) return Array.isArray(a) && b.every((be) => a.some((ae) => jsonContains(ae, be)));
  return jsonEqual(a, b);
}

export function matchesCondition(payload: unknown, c: PayloadCondition): boolean {
  const at = valueAt(payload, c.path);
  switch (c.operation) {
    case 'EXISTS':
      return at !== undefined;
    case 'EQ':
      return at !== undefined && jsonEqual(at, c.value);
    case 'NEQ':
      return at !== undefined && !jsonEqual(at, c.value);
    case 'IN':
      return at !== undefined && (c.value as Json[]).some((v) => jsonEqual(at, v));
    case 'CONTAINS':
      return at !== undefined && jsonContains(at, c.value);
  }
}
