// The engine's Stripe client: fetch (keep-alive by default in Node) with the key, a pinned
// Stripe-Version and, for Connect accounts, Stripe-Account. Every attempt takes a slot of the
// account's request budget. 429, 409, 5xx and network failures are retried with exponential
// backoff and full jitter (`exponential-backoff`), honouring Stripe-Should-Retry and Retry-After;
// 401 is fatal and says which account's key was refused, never the key.
import { backOff } from 'exponential-backoff';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from '../platform/log.ts';
import { Counter, type Registry } from '../platform/metrics.ts';
import { redactSecrets } from '../platform/redact.ts';
import type { Priority, RequestBudget } from './request-budget.ts';

export type Params = Record<string, unknown>;

export class StripeApiError extends Error {
  override name = 'StripeApiError';
  readonly status: number;
  readonly type: string | undefined;
  readonly code: string | undefined;
  readonly param: string | undefined;
  readonly requestId: string | undefined;
  /** Stripe-Should-Retry, when Stripe said. */
  readonly shouldRetry: boolean | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, init: { status: number; type?: string; code?: string; param?: string; requestId?: string; shouldRetry?: boolean; retryAfterMs?: number }) {
    super(redactSecrets(message));
    this.status = init.status;
    this.type = init.type;
    this.code = init.code;
    this.param = init.param;
    this.requestId = init.requestId;
    this.shouldRetry = init.shouldRetry;
    this.retryAfterMs = init.retryAfterMs;
  }
}

/** The key was refused: nothing will work until it is replaced, so the engine stops. */
export class StripeAuthError extends StripeApiError {
  override name = 'StripeAuthError';
}

export class StripeNetworkError extends Error {
  override name = 'StripeNetworkError';
}

export interface StripeResponse<T> {
  body: T;
  /** When the request was sent (ms since the epoch): the state it returns is at least this recent. */
  startedAt: number;
  requestId: string | undefined;
}

export interface StripeClientOptions {
  apiKey: string;
  /** Who the key belongs to, for messages (an account id or label; never the key). */
  accountLabel: string;
  apiBase: string;
  apiVersion: string;
  /** Connect: act as this connected account. */
  stripeAccount?: string;
  budget: RequestBudget;
  /** Requests in flight (shared by the clients of one process). */
  inFlight?: LimitFunction;
  logger?: Logger;
  registry?: Registry;
  maxAttempts?: number;
  startingDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
}

export interface RequestOptions {
  priority?: Priority;
  /** Give up (and throw) after this many attempts instead of the client's default. */
  maxAttempts?: number;
}

/** Stripe's form encoding: `a[b]=1`, `expand[]=x`. */
export function encodeParams(params: Params, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    const name = prefix ? `${prefix}[${k}]` : k;
    if (Array.isArray(v)) {
      for (const item of v) {
        if (item !== null && typeof item === 'object') out.push(...encodeParams(item as Params, `${name}[]`));
        else out.push(`${encodeURIComponent(`${name}[]`)}=${encodeURIComponent(String(item))}`);
      }
    } else if (v !== null && typeof v === 'object') {
      out.push(...encodeParams(v as Params, name));
    } else {
      out.push(`${encodeURIComponent(name)}=${encodeURIComponent(v === null ? '' : String(v))}`);
    }
  }
  return out;
}

const counters = new WeakMap<Registry, Counter<'status' | 'priority'>>();
function requestCounter(registry: Registry): Counter<'status' | 'priority'> {
  let c = counters.get(registry);
  if (!c) {
    c = new Counter({ name: 'stripe_sync_stripe_requests_total', help: 'Requests to Stripe by HTTP status (0 = network failure)', labelNames: ['status', 'priority'], registers: [registry] });
    counters.set(registry, c);
  }
  return c;
}

export class StripeClient {
  readonly options: StripeClientOptions;
  private readonly inFlight: LimitFunction;
  private readonly counter: Counter<'status' | 'priority'> | undefined;
  private readonly headers: Record<string, string>;
  requests = 0;

  constructor(options: StripeClientOptions) {
    this.options = options;
    this.inFlight = options.inFlight ?? pLimit(50);
    this.counter = options.registry ? requestCounter(options.registry) : undefined;
    this.headers = {
      authorization: `Bearer ${options.apiKey}`,
      'stripe-version': options.apiVersion,
      'user-agent': 'ledgerline-stripe-sync/0.1',
      ...(options.stripeAccount ? { 'stripe-account': options.stripeAccount } : {}),
    };
  }

  get(path: string, params: Params = {}, options: RequestOptions = {}): Promise<StripeResponse<unknown>> {
    const query = encodeParams(params).join('&');
    return this.request('GET', query ? `${path}?${query}` : path, undefined, options);
  }

  post(path: string, params: Params = {}, options: RequestOptions = {}): Promise<StripeResponse<unknown>> {
    return this.request('POST', path, encodeParams(params).join('&'), options);
  }

  private async request(method: string, pathAndQuery: string, body: string | undefined, options: RequestOptions): Promise<StripeResponse<unknown>> {
    const priority = options.priority ?? 'bulk';
    const { logger } = this.options;
    return backOff(() => this.attempt(method, pathAndQuery, body, priority), {
      jitter: 'full',
      numOfAttempts: options.maxAttempts ?? this.options.maxAttempts ?? 8,
      startingDelay: this.options.startingDelayMs ?? 500,
      maxDelay: this.options.maxDelayMs ?? 30_000,
      timeMultiple: 2,
      retry: async (err: unknown, attempt: number) => {
        if (!retryable(err)) return false;
        logger?.debug({ path: pathAndQuery.split('?')[0], attempt, err: { message: (err as Error).message } }, 'stripe request failed; retrying');
        // Retry-After is a floor; the jittered backoff still follows it.
        const after = err instanceof StripeApiError ? err.retryAfterMs : undefined;
        if (after) await new Promise((resolve) => setTimeout(resolve, Math.min(after, 60_000)));
        return true;
      },
    });
  }

  private async attempt(method: string, pathAndQuery: string, body: string | undefined, priority: Priority): Promise<StripeResponse<unknown>> {
    const run = async () => {
      const startedAt = Date.now();
      this.requests++;
      let response: Response;
      try {
        response = await fetch(`${this.options.apiBase}${pathAndQuery}`, {
          method,
          headers: body === undefined ? this.headers : { ...this.headers, 'content-type': 'application/x-www-form-urlencoded' },
          body,
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 80_000),
        });
      } catch (err) {
        this.counter?.inc({ status: '0', priority });
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new StripeNetworkError(`${method} ${pathAndQuery.split('?')[0]}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
      }
      let text: string;
      try {
        text = await response.text();
      } catch (err) {
        this.counter?.inc({ status: '0', priority });
        throw new StripeNetworkError(`${method} ${pathAndQuery.split('?')[0]}: response cut short (${(err as Error).message})`);
      }
      this.counter?.inc({ status: String(response.status), priority });
      const requestId = response.headers.get('request-id') ?? undefined;
      if (response.ok) {
        try {
          return { body: JSON.parse(text) as unknown, startedAt, requestId };
        } catch {
          throw new StripeNetworkError(`${method} ${pathAndQuery.split('?')[0]}: the response is not JSON`);
        }
      }
      throw this.error(response, text, method, pathAndQuery, requestId);
    };
    // The budget orders requests by priority, so it comes first: a request holding an in-flight
    // slot while it waits for the budget would make a more urgent one queue behind it. Live
    // requests (polls, /wait) are few and must not queue behind a backfill's in-flight pages.
    await this.options.budget.acquire(priority);
    return priority === 'live' ? run() : this.inFlight(run);
  }

  private error(response: Response, text: string, method: string, pathAndQuery: string, requestId: string | undefined): StripeApiError {
    let parsed: { error?: { message?: string; type?: string; code?: string; param?: string } } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // not JSON (a proxy's error page)
    }
    const e = parsed.error ?? {};
    const should = response.headers.get('stripe-should-retry');
    const retryAfter = Number(response.headers.get('retry-after'));
    const init = {
      status: response.status,
      type: e.type,
      code: e.code,
      param: e.param,
      requestId,
      shouldRetry: should === 'true' ? true : should === 'false' ? false : undefined,
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
    };
    const where = `${method} ${pathAndQuery.split('?')[0]}`;
    if (response.status === 401) {
      return new StripeAuthError(
        `Stripe refused the API key of account ${this.options.accountLabel} (401${e.type ? ` ${e.type}` : ''}): check --stripe-key / STRIPE_KEY. Stripe said: ${e.message ?? 'unauthorized'}`,
        init,
      );
    }
    return new StripeApiError(`${where} → ${response.status}${e.code ? ` ${e.code}` : ''}: ${e.message ?? text.slice(0, 200)}`, init);
  }
}

/** Whether a failed request may succeed if sent again. */
export function retryable(err: unknown): boolean {
  if (err instanceof StripeAuthError) return false;
  if (err instanceof StripeNetworkError) return true;
  if (err instanceof StripeApiError) {
    if (err.shouldRetry !== undefined) return err.shouldRetry;
    return err.status === 429 || err.status === 409 || err.status >= 500;
  }
  return false;
}

export interface ListPage<T = Record<string, unknown>> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url?: string;
}

export function asList(body: unknown): ListPage {
  const b = body as ListPage;
  if (!b || !Array.isArray(b.data)) throw new StripeNetworkError('expected a list response');
  return b;
}
