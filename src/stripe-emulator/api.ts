// The HTTP side of /v1: Stripe's protocol around every route. In order: a `Request-Id`, injected
// latency and faults, the API key (Bearer or Basic), rate limits, form parsing, parameter
// validation against the spec, Idempotency-Key replay, then the handler. Errors use Stripe's
// `{error:{type,code,message,param}}` body; routes Stripe has but the emulator does not emulate
// yet answer 501 (never retried), and unknown URLs 404 as Stripe words it.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Emulator } from './context.ts';
import { StripeError } from './errors.ts';
import type { EventRequest } from './events.ts';
import { expandTree, type ExpandTree } from './expand.ts';
import { parseFault, randomFault, sampleLatency, type Fault, type FaultQueue, type Latency } from './faults.ts';
import { parseForm, rawQuery, type FormObject } from './form-parser.ts';
import { fingerprint, IdempotencyCache } from './idempotency.ts';
import { coerceBody, coerceQuery, type Params } from './params.ts';
import { RateLimiter } from './rate-limit.ts';
import { API_VERSION, type Schema } from './spec.ts';

export interface ApiOptions {
  apiKeys: string[];
  rateLimit: number;
  concurrencyLimit: number;
  latency: Latency;
  faultRate: number;
  /** Faults queued for the next matching requests (`POST /_emulator/faults`). */
  faults: FaultQueue;
}

export interface Call {
  emu: Emulator;
  params: Params;
  pathParams: Record<string, string>;
  request: EventRequest;
  expand: ExpandTree | undefined;
}

/** A handler answers with a JSON string (already rendered) and optionally a status. */
export type Handler = (call: Call) => string | { status: number; body: string };

export interface RouteOptions {
  /** The form schema of a route the spec does not have (`/v1/invoices/create_preview`). */
  bodySchema?: Schema;
}

export interface Router {
  /** `path` as in the spec (`/v1/customers/{customer}`). */
  define(method: 'GET' | 'POST' | 'DELETE', path: string, handler: Handler, options?: RouteOptions): void;
}

declare module 'fastify' {
  interface FastifyRequest {
    stripe?: { apiKey: string; requestId: string; admitted: boolean; idempotencyKey?: string; form?: FormObject };
  }
}

const REQUEST_ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function newRequestId(): string {
  let out = 'req_';
  for (let i = 0; i < 14; i++) out += REQUEST_ID_CHARS[Math.floor(Math.random() * 62)];
  return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function sendError(reply: FastifyReply, err: StripeError): FastifyReply {
  if (err.headers) reply.headers(err.headers);
  return reply.code(err.status).type('application/json').send(JSON.stringify(err.body()));
}

function apiKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const [scheme, value = ''] = header.split(' ', 2);
  if (scheme?.toLowerCase() === 'bearer') return value.trim();
  if (scheme?.toLowerCase() === 'basic') return Buffer.from(value, 'base64').toString('utf8').split(':')[0];
  return '';
}

const maskKey = (key: string) => (key.length > 8 ? `${key.slice(0, key.indexOf('_', 3) + 1 || 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}` : '****');

/** Registers the /v1 routes with Stripe's protocol on `app` (inside its own encapsulated scope). */
export async function registerApi(app: FastifyInstance, emu: Emulator, options: ApiOptions, defineRoutes: (router: Router) => void): Promise<void> {
  const keys = new Set(options.apiKeys);
  const limiter = new RateLimiter({ rate: options.rateLimit, concurrency: options.concurrencyLimit });
  const idempotency = new IdempotencyCache();

  await app.register(async (api) => {
    api.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, parseForm(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    });

    api.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
      if (error instanceof StripeError) return sendError(reply, error);
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
      if (status === 500) request.log.error({ err: error }, 'stripe emulator request failed');
      const message = status === 500 ? 'An unknown error occurred in the Stripe emulator.' : error.message;
      return sendError(reply, new StripeError(status, message));
    });

    api.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0];
      return sendError(
        reply.header('Request-Id', request.stripe?.requestId ?? newRequestId()),
        new StripeError(404, `Unrecognized request URL (${request.method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`),
      );
    });

    api.addHook('onRequest', async (request, reply) => {
      const requestId = newRequestId();
      reply.header('Request-Id', requestId).header('Stripe-Version', API_VERSION);
      const apiKey = apiKeyOf(request);
      request.stripe = { apiKey: apiKey ?? '', requestId, admitted: false };
      if (apiKey === undefined || apiKey === '') {
        throw new StripeError(401, "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.");
      }
      if (!keys.has(apiKey)) throw new StripeError(401, `Invalid API Key provided: ${maskKey(apiKey)}`);
      const forced = parseFault(request.headers['emulator-fault'] as string | undefined) ?? options.faults.take(request.method, request.url.split('?')[0]!);
      if (forced?.kind === 'rate_limit') options.faults.count(forced);
      const write = request.method !== 'GET' && request.method !== 'HEAD';
      const reason = forced?.kind === 'rate_limit' ? 'global-rate' : limiter.admit(apiKey, write);
      if (reason) {
        throw new StripeError(429, 'Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.', {
          type: 'rate_limit_error',
          code: 'rate_limit',
          headers: { 'Stripe-Rate-Limited-Reason': reason, 'Stripe-Should-Retry': 'true' },
        });
      }
      request.stripe.admitted = forced?.kind !== 'rate_limit';
      // Latency counts as time in flight, so it meets the concurrency limit as slow requests do.
      if (options.latency.baseMs > 0) await sleep(sampleLatency(options.latency));
      await injectFault(request, reply, forced ?? randomFault(options.faultRate), options.faults);
    });

    api.addHook('onResponse', async (request) => {
      if (request.stripe?.admitted) limiter.release(request.stripe.apiKey);
    });

    const define: Router['define'] = (method, path, handler, routeOptions = {}) => {
      // Routes live under the plugin's /v1 prefix, which gives them their own 404 handler.
      const url = path.slice('/v1'.length).replace(/\{([^}]+)\}/g, ':$1');
      const operation = emu.spec.operation(method, path);
      const bodySchema = routeOptions.bodySchema ?? emu.spec.bodySchema(method, path);
      api.route({
        method,
        url,
        handler: async (request, reply) => {
          const stripe = request.stripe!;
          let params: Params;
          if (method === 'POST') {
            const form = (request.body ?? {}) as FormObject;
            await injectFault(request, reply, parseFault(typeof form.metadata === 'object' && !Array.isArray(form.metadata) ? (form.metadata.emulator_fault as string | undefined) : undefined), options.faults);
            if (reply.sent) return reply;
            params = coerceBody(emu.spec, bodySchema, form);
          } else if (method === 'DELETE') {
            // The SDKs send a DELETE's parameters (invoice_now, prorate…) in the query string.
            params = coerceBody(emu.spec, bodySchema, { ...parseForm(rawQuery(request.url)), ...((request.body ?? {}) as FormObject) });
          } else {
            params = coerceQuery(emu.spec, operation?.parameters ?? [], parseForm(rawQuery(request.url)));
          }
          const idempotencyKey = method === 'POST' ? (request.headers['idempotency-key'] as string | undefined) : undefined;
          const pathParams = request.params as Record<string, string>;
          if (idempotencyKey) {
            const print = fingerprint(method, request.url.split('?')[0]!, params);
            const outcome = idempotency.begin(stripe.apiKey, idempotencyKey, print, emu.clock.now());
            if (outcome.kind === 'replay') {
              return reply.code(outcome.response.status).headers({ ...outcome.response.headers, 'Idempotent-Replayed': 'true' }).type('application/json').send(outcome.response.body);
            }
            if (outcome.kind === 'mismatch') {
              throw new StripeError(400, `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`, { type: 'idempotency_error' });
            }
            if (outcome.kind === 'in_flight') {
              throw new StripeError(409, 'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ' + idempotencyKey + '. Please try again later.', { code: 'idempotency_key_in_use', type: 'invalid_request_error' });
            }
          }
          const call: Call = {
            emu,
            params,
            pathParams,
            request: { id: stripe.requestId, idempotency_key: idempotencyKey ?? null },
            expand: expandTree(params.expand as string[] | undefined),
          };
          let status = 200;
          let body: string;
          try {
            const result = handler(call);
            if (typeof result === 'string') body = result;
            else ({ status, body } = result);
          } catch (err) {
            if (idempotencyKey) {
              // A request that ran and failed replays its failure, as on Stripe; a crash frees the key.
              if (err instanceof StripeError) {
                idempotency.complete(stripe.apiKey, idempotencyKey, { status: err.status, body: JSON.stringify(err.body()), headers: { 'Request-Id': stripe.requestId, ...err.headers } });
              } else {
                idempotency.abandon(stripe.apiKey, idempotencyKey);
              }
            }
            throw err;
          }
          if (idempotencyKey) idempotency.complete(stripe.apiKey, idempotencyKey, { status, body, headers: { 'Request-Id': stripe.requestId } });
          return reply.code(status).type('application/json').send(body);
        },
      });
    };
    defineRoutes({ define });
  }, { prefix: '/v1' });
}

async function injectFault(request: FastifyRequest, reply: FastifyReply, fault: Fault | undefined, faults: FaultQueue): Promise<void> {
  if (!fault) return;
  if (fault.kind !== 'rate_limit') faults.count(fault);
  switch (fault.kind) {
    case 'slow':
      await sleep(fault.ms);
      return;
    case 'drop':
      // The connection closes with no response, as when a proxy or the network fails.
      reply.hijack();
      request.raw.socket.destroy();
      return;
    case 'api_error':
      throw new StripeError(500, 'An unknown error occurred (injected by the Stripe emulator).', { type: 'api_error' });
    case 'rate_limit':
      return;
  }
}
