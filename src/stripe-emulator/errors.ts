// Stripe's error body, `{ error: { type, code, message, param } }`, for the emulator's routes
// (the platform's own error shape stays on /ping, /healthz and /metrics).

export type StripeErrorType =
  | 'api_error'
  | 'card_error'
  | 'idempotency_error'
  | 'invalid_request_error'
  | 'rate_limit_error';

export interface StripeErrorInit {
  type?: StripeErrorType;
  code?: string;
  param?: string;
  headers?: Record<string, string>;
  /** Extra fields of the error object (decline_code, payment_intent…). */
  extra?: Record<string, unknown>;
}

export class StripeError extends Error {
  override name = 'StripeError';
  readonly status: number;
  readonly type: StripeErrorType;
  readonly code: string | undefined;
  readonly param: string | undefined;
  readonly headers: Record<string, string> | undefined;
  readonly extra: Record<string, unknown> | undefined;

  constructor(status: number, message: string, init: StripeErrorInit = {}) {
    super(message);
    this.status = status;
    this.type = init.type ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
    this.code = init.code;
    this.param = init.param;
    this.headers = init.headers;
    this.extra = init.extra;
  }

  body(): { error: Record<string, unknown> } {
    const error: Record<string, unknown> = {};
    if (this.code) error.code = this.code;
    if (this.code) error.doc_url = `https://stripe.com/docs/error-codes/${this.code.replaceAll('_', '-')}`;
    Object.assign(error, this.extra);
    error.message = this.message;
    if (this.param) error.param = this.param;
    error.type = this.type;
    return { error };
  }
}

/** `resource_missing` for an id that names nothing, as Stripe words it. */
export function noSuch(object: string, id: string, param = 'id'): StripeError {
  return new StripeError(404, `No such ${object.replace(/^.*\./, '').replaceAll('_', ' ')}: '${id}'`, { code: 'resource_missing', param });
}

export function invalid(message: string, param?: string, code?: string): StripeError {
  return new StripeError(400, message, { code, param });
}
