// What every Ledgerline GraphQL API shares: argument validation with zod (errors naming each
// field), the JSON, DateTime and Long scalars and the query-cost rule (mercurius' queryDepth
// bounds nesting; this bounds breadth and rows).
import {
  GraphQLError,
  GraphQLScalarType,
  Kind,
  type ASTNode,
  type FieldNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValueNode,
} from 'graphql';
import mercurius from 'mercurius';
import type { z } from 'zod';
import { fieldErrors } from './http-errors.ts';

const { ErrorWithProps } = mercurius;

/** A 400 BAD_USER_INPUT error, with the bad fields when known. */
export function userError(message: string, fields?: Array<{ field: string; message: string }>): Error {
  return new ErrorWithProps(message, { code: 'BAD_USER_INPUT', ...(fields ? { fields } : {}) }, 400);
}

/** Validates a resolver argument; a bad one is a userError naming each field and what it expects. */
export function parseArg<S extends z.ZodType>(schema: S, value: unknown, name: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = fieldErrors(result.error, name);
  throw userError(`Invalid ${name}: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`, fields);
}

/** GraphQL gives explicit nulls for omitted nullable inputs; zod's optional() wants undefined. */
export function withoutNulls(value: unknown): Record<string, unknown> {
  if (!value || typeof value !== 'object') return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined));
}

function literalToJson(node: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((v) => literalToJson(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literalToJson(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[node.name.value];
    case Kind.ENUM:
      return node.value;
  }
}

export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: (node, variables) => literalToJson(node, variables),
});

function toDate(value: unknown): Date {
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value)) {
    const date = new Date(value);
    if (Number.isFinite(date.getTime())) return date;
  }
  throw new GraphQLError('DateTime must be an ISO 8601 instant with an offset, e.g. 2024-05-01T12:00:00Z');
}

export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (v) => (v instanceof Date ? v.toISOString() : toDate(v).toISOString()),
  parseValue: toDate,
  parseLiteral: (node) => {
    if (node.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string');
    return toDate(node.value);
  },
});

function toLong(value: unknown): number {
  const n = typeof value === 'bigint' ? Number(value) : typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n === 'number' && Number.isSafeInteger(n)) return n;
  throw new GraphQLError('Long must be an integer between -(2^53-1) and 2^53-1');
}

/** An integer as a JSON number, in the safe-integer range (Postgres bigint arrives as a string). */
export const LongScalar = new GraphQLScalarType({
  name: 'Long',
  serialize: toLong,
  parseValue: (v) => {
    if (typeof v !== 'number') throw new GraphQLError('Long must be a JSON number');
    return toLong(v);
  },
  parseLiteral: (node) => {
    if (node.kind !== Kind.INT) throw new GraphQLError('Long must be an integer');
    return toLong(node.value);
  },
});

export interface CostLimits {
  /** Field selections in the whole document, aliases included. */
  maxFields: number;
  /** Fields that each run a query (batched per page): at most `max` of them in one document. */
  queries?: { fields: string[]; max: number; what: string };
  /**
   * Rows a document may ask for: each listed field costs the product of the `first` arguments on
   * its path (its own default when absent, its maximum when given by a variable, which validation
   * cannot see), and the sum must stay within `max`.
   */
  rows?: { fields: Record<string, { default: number; max: number }>; max: number };
}

/** A validation rule enforcing `limits` with an error that says which one was passed. */
export function costLimitRule(limits: CostLimits) {
  return (context: ValidationContext) => {
    let queries = 0;
    let fields = 0;
    const rows = limits.rows;
    const firstOf = (node: FieldNode, spec: { default: number; max: number }) => {
      const arg = node.arguments?.find((a) => a.name.value === 'first')?.value;
      if (!arg) return spec.default;
      if (arg.kind === Kind.INT) return Math.min(Number(arg.value), spec.max);
      return spec.max;
    };
    const rowsOf = (set: SelectionSetNode | undefined, factor: number, seen: Set<string>): number => {
      let total = 0;
      for (const s of set?.selections ?? []) {
        if (s.kind === Kind.FIELD) {
          const spec = rows!.fields[s.name.value];
          const here = spec ? factor * firstOf(s, spec) : factor;
          total += (spec ? here : 0) + rowsOf(s.selectionSet, here, seen);
        } else if (s.kind === Kind.INLINE_FRAGMENT) {
          total += rowsOf(s.selectionSet, factor, seen);
        } else if (!seen.has(s.name.value)) {
          const fragment = context.getFragment(s.name.value);
          total += rowsOf(fragment?.selectionSet, factor, new Set([...seen, s.name.value]));
        }
      }
      return total;
    };
    return {
      Field(node: ASTNode & { name: { value: string } }) {
        fields++;
        if (limits.queries?.fields.includes(node.name.value)) queries++;
        if (fields === limits.maxFields + 1) context.reportError(new GraphQLError(`Query too large: more than ${limits.maxFields} fields`));
        if (limits.queries && queries === limits.queries.max + 1) {
          context.reportError(new GraphQLError(`Query too costly: more than ${limits.queries.max} ${limits.queries.what} in one request`));
        }
      },
      OperationDefinition(node: ASTNode & { selectionSet: SelectionSetNode }) {
        if (!rows) return;
        const total = rowsOf(node.selectionSet, 1, new Set());
        if (total > rows.max) context.reportError(new GraphQLError(`Query too costly: it may read ${total} rows, more than ${rows.max} (lower the first arguments)`));
      },
    };
  };
}
