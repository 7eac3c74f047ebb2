// Validates emulator output against the spec's schemas with ajv. OpenAPI 3.0 is not JSON Schema:
// `nullable` becomes a `null` alternative, `x-*` keys go, and object schemas that list their
// properties get `additionalProperties: false`, so an emulator field the spec does not declare fails.
// Expandable fields are `anyOf: [id string, object…]` in the spec, so id-or-object comes for free.
import { Ajv, type ValidateFunction } from 'ajv';
import type { Schema, StripeSpec } from '../../../src/stripe-emulator/spec.ts';

type JsonSchema = Record<string, unknown>;

export function toJsonSchema(schema: Schema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-') || key === 'description' || key === 'nullable' || key === 'title') continue;
    if (key === 'properties') out.properties = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, toJsonSchema(v)]));
    else if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) out[key] = toJsonSchema(value as Schema);
    else if (key === 'anyOf') out.anyOf = (value as Schema[]).map(toJsonSchema);
    else out[key] = value;
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  if (!schema.nullable) return out;
  if (out.$ref) return { anyOf: [{ $ref: out.$ref }, { type: 'null' }] };
  if (out.anyOf) return { ...out, anyOf: [...(out.anyOf as JsonSchema[]), { type: 'null' }] };
  if (typeof out.type === 'string') {
    const nullable: JsonSchema = { ...out, type: [out.type, 'null'] };
    if (Array.isArray(out.enum)) nullable.enum = [...out.enum, null];
    return nullable;
  }
  return { anyOf: [out, { type: 'null' }] };
}

export interface SpecValidator {
  /** Errors (empty when valid) of `value` against the schema of its `object` type. */
  errors(schemaName: string, value: unknown): string[];
}

export function createSpecValidator(spec: StripeSpec): SpecValidator {
  const ajv = new Ajv({ strict: false, allErrors: false });
  ajv.addFormat('unix-time', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('decimal', /^-?\d+(\.\d+)?$/);
  const schemas = Object.fromEntries(Object.entries(spec.schemas).map(([k, v]) => [k, toJsonSchema(v)]));
  ajv.addSchema({ $id: 'stripe', components: { schemas } });
  const compiled = new Map<string, ValidateFunction>();
  return {
    errors(schemaName, value) {
      let validate = compiled.get(schemaName);
      if (!validate) {
        validate = ajv.getSchema(`stripe#/components/schemas/${schemaName}`);
        if (!validate) throw new Error(`no schema ${schemaName}`);
        compiled.set(schemaName, validate);
      }
      if (validate(value)) return [];
      return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
    },
  };
}
