// Form values are strings; the spec says what each parameter is. This coerces a parsed form
// against an operation's schema the way Stripe validates it: unknown parameters, missing
// required ones, integers, booleans, enums and `''` (which unsets a field on update) each fail
// with Stripe's code and the bracketed parameter name.
import { invalid, StripeError } from './errors.ts';
import type { FormValue } from './form-parser.ts';
import type { Parameter, Schema, StripeSpec } from './spec.ts';

export type Params = Record<string, unknown>;

const paramName = (path: string[]) => path.map((p, i) => (i === 0 ? p : `[${p}]`)).join('');

class Mismatch extends Error {
  readonly error: StripeError;
  constructor(error: StripeError) {
    super(error.message);
    this.error = error;
  }
}

export function coerce(spec: StripeSpec, value: FormValue, schema: Schema, path: string[]): unknown {
  const s = spec.resolve(schema);
  if (s.anyOf) {
    let first: Mismatch | undefined;
    // An object alternative should report its own (deeper) error, not "Invalid string".
    for (const alt of s.anyOf) {
      try {
        return coerce(spec, value, alt, path);
      } catch (err) {
        if (!(err instanceof Mismatch)) throw err;
        const altType = spec.resolve(alt).type;
        const fits = (altType === 'object' && typeof value === 'object' && !Array.isArray(value)) || (altType === 'array' && Array.isArray(value));
        if (!first || fits) first = err;
      }
    }
    throw first ?? fail(`Invalid ${paramName(path)}`, path);
  }
  const name = paramName(path);
  switch (s.type) {
    case 'string': {
      if (typeof value !== 'string') throw fail(`Invalid string: ${name} must be a string`, path);
      if (s.enum && !s.enum.includes(value)) {
        const options = s.enum.filter((v) => v !== '').map(String);
        throw fail(`Invalid ${path[path.length - 1]}: must be one of ${options.join(', ')}`, path);
      }
      if (s.maxLength !== undefined && value.length > s.maxLength) throw fail(`Invalid ${name}: must be at most ${s.maxLength} characters`, path);
      return value;
    }
    case 'integer': {
      if (typeof value !== 'string' || !/^-?\d{1,16}$/.test(value)) throw fail(`Invalid integer: ${display(value)}`, path, 'parameter_invalid_integer');
      return Number(value);
    }
    case 'number': {
      if (typeof value !== 'string' || !/^-?(\d+\.?\d*|\.\d+)$/.test(value)) throw fail(`Invalid decimal: ${display(value)}`, path, 'parameter_invalid_decimal');
      return Number(value);
    }
    case 'boolean': {
      if (value !== 'true' && value !== 'false') throw fail(`Invalid boolean: ${display(value)}`, path);
      return value === 'true';
    }
    case 'array': {
      if (!Array.isArray(value)) {
        // `expand=customer` without brackets is a common mistake Stripe rejects the same way.
        throw fail(`Invalid array`, path, 'parameter_invalid_array');
      }
      return value.map((v, i) => coerce(spec, v, s.items ?? {}, [...path, String(i)]));
    }
    case 'object':
    case undefined: {
      if (s.type === undefined && !s.properties && !s.additionalProperties) return value;
      if (typeof value !== 'object' || Array.isArray(value)) throw fail(`Invalid object`, path, 'parameter_invalid_object');
      return coerceObject(spec, value, s, path);
    }
    default:
      return value;
  }
}

function coerceObject(spec: StripeSpec, value: Record<string, FormValue>, s: Schema, path: string[]): Params {
  const out: Params = {};
  const props = s.properties ?? {};
  for (const [key, v] of Object.entries(value)) {
    const prop = props[key];
    if (prop) out[key] = coerce(spec, v, prop, [...path, key]);
    else if (s.additionalProperties && typeof s.additionalProperties === 'object') out[key] = coerce(spec, v, s.additionalProperties, [...path, key]);
    else if (s.additionalProperties === true || (!s.properties && s.additionalProperties === undefined)) out[key] = v;
    else throw new Mismatch(new StripeError(400, `Received unknown parameter: ${paramName([...path, key])}`, { code: 'parameter_unknown', param: paramName([...path, key]) }));
  }
  for (const key of s.required ?? []) {
    if (!(key in value)) {
      const name = paramName([...path, key]);
      throw new Mismatch(new StripeError(400, `Missing required param: ${name}.`, { code: 'parameter_missing', param: name }));
    }
  }
  return out;
}

const display = (v: FormValue) => (typeof v === 'string' ? v : JSON.stringify(v));

function fail(message: string, path: string[], code?: string): Mismatch {
  return new Mismatch(invalid(message, paramName(path), code));
}

function unwrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Mismatch) throw err.error;
    throw err;
  }
}

/** Validates a request body against the operation's form schema. */
export function coerceBody(spec: StripeSpec, schema: Schema | undefined, form: Record<string, FormValue>): Params {
  if (!schema) {
    const [first] = Object.keys(form);
    if (first) throw new StripeError(400, `Received unknown parameter: ${first}`, { code: 'parameter_unknown', param: first });
    return {};
  }
  return unwrap(() => coerceObject(spec, form, spec.resolve(schema), []));
}

/** Validates a query string against the operation's query parameters. */
export function coerceQuery(spec: StripeSpec, parameters: Iterable<Parameter>, form: Record<string, FormValue>): Params {
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const p of parameters) {
    if (p.in !== 'query') continue;
    properties[p.name] = p.schema;
    if (p.required) required.push(p.name);
  }
  return unwrap(() => coerceObject(spec, form, { type: 'object', properties, required, additionalProperties: false }, []));
}
