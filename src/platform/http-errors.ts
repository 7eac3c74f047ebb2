// One error shape for every HTTP API in Ledgerline:
//   { "error": { "type": "...", "code": "...", "message": "...", "fields": [{ "field", "message" }] } }
// `fields` appears on validation errors and names every bad input, not just the first.
import type { z } from 'zod';

export interface FieldError {
  field: string;
  message: string;
}

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'rate_limit_error'
  | 'unavailable_error'
  | 'api_error';

const TYPE_BY_STATUS: Record<number, ErrorType> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'authentication_error',
  404: 'not_found_error',
  409: 'conflict_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  503: 'unavailable_error',
};

export class HttpError extends Error {
  override name = 'HttpError';
  readonly statusCode: number;
  readonly code: string;
  readonly fields: FieldError[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(statusCode: number, code: string, message: string, extra: { fields?: FieldError[]; headers?: Record<string, string> } = {}) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
    this.fields = extra.fields;
    this.headers = extra.headers;
  }
}

export function errorBody(statusCode: number, code: string, message: string, fields?: FieldError[]) {
  const type = TYPE_BY_STATUS[statusCode] ?? (statusCode >= 500 ? 'api_error' : 'invalid_request_error');
  return { error: { type, code, message, ...(fields ? { fields } : {}) } };
}

/** One entry per bad field; an object's unknown keys are named one by one ("unknown field"). */
export function fieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  const name = (path: PropertyKey[]) => [prefix, ...path.map(String)].filter(Boolean).join('.') || '(root)';
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' ? issue.keys.map((key) => ({ field: name([...issue.path, key]), message: 'unknown field' })) : [{ field: name(issue.path), message: issue.message }],
  );
}

/** Validates untrusted input; a failure is a 400 naming every bad field and what it expects. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'params' | 'headers'): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = fieldErrors(result.error);
  throw new HttpError(400, 'validation_failed', `Invalid ${where}: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`, { fields });
}
