// Stripe through the official SDK: a PaymentIntent created once per payment (idempotency key from
// the tracking id), then confirmed. Why two steps and not `create({confirm: true})`: Stripe saves
// the response of the first request with a key, 500s included, and replays it for 24 hours, so a
// one-step create that hit a 500 could never be retried. The PaymentIntent itself is what makes a
// second charge impossible: it succeeds at most once, so a confirm may carry a key per attempt.
//
// Outcomes: succeeded → success; card error insufficient_funds → insufficient_funds; other card
// errors, 3-D Secure required, canceled → declined; connection errors, 5xx, 429, 409 (same key
// in flight) and refused keys → api_error (retried); other invalid requests → invalid (failed).
import Stripe from 'stripe';
import { redactSecrets } from '../../platform/redact.ts';
import type { PaymentRequest, Processor, ProcessorResult } from './types.ts';

export interface StripeProcessorOptions {
  apiKey: string;
  /** https://api.stripe.com, or the emulator's URL. */
  apiBase: string;
  paymentMethod: string;
  timeoutMs: number;
}

type StripeErrorLike = { type?: string; statusCode?: number; code?: string; decline_code?: string; message?: string };

/** Maps an SDK error to an outcome. */
export function classifyStripeError(err: unknown): ProcessorResult {
  const e = (err ?? {}) as StripeErrorLike;
  const message = redactSecrets(e.message ?? String(err));
  const status = e.statusCode ?? 0;
  switch (e.type) {
    case 'StripeCardError': {
      const code = e.decline_code || e.code || 'card_declined';
      return { outcome: code === 'insufficient_funds' ? 'insufficient_funds' : 'declined', code, message };
    }
    case 'StripeInvalidRequestError':
      return { outcome: status >= 500 ? 'api_error' : 'invalid', code: e.code ?? 'invalid_request', message };
    case 'StripeIdempotencyError':
      // 409: a request with this key is still running (e.g. a worker thought dead): try again later.
      return { outcome: status === 409 ? 'api_error' : 'invalid', code: 'idempotency_error', message };
    case 'StripeConnectionError':
    case 'StripeAPIError':
    case 'StripeRateLimitError':
    case 'StripeAuthenticationError':
    case 'StripePermissionError':
      return { outcome: 'api_error', code: e.code ?? e.type, message };
    default:
      // Anything else (a 5xx with an unusual type, a bug): retry, then dead-letter.
      return { outcome: 'api_error', code: e.code ?? e.type ?? 'error', message };
  }
}

/** Maps a PaymentIntent's state to an outcome; undefined = it still needs confirming. */
function fromIntent(pi: Stripe.PaymentIntent): ProcessorResult | undefined {
  switch (pi.status) {
    case 'succeeded':
    case 'requires_capture':
      return { outcome: 'success', txnId: pi.id };
    case 'requires_confirmation':
      return undefined;
    case 'requires_payment_method': {
      const last = pi.last_payment_error;
      if (!last) return undefined;
      const code = last.decline_code || last.code || 'card_declined';
      return { outcome: code === 'insufficient_funds' ? 'insufficient_funds' : 'declined', txnId: pi.id, code, message: last.message };
    }
    case 'requires_action':
      return { outcome: 'declined', txnId: pi.id, code: 'authentication_required', message: 'the card requires authentication (3-D Secure)' };
    case 'canceled':
      return { outcome: 'declined', txnId: pi.id, code: 'canceled' };
    case 'processing':
      return { outcome: 'api_error', txnId: pi.id, code: 'processing', message: 'the payment is still processing' };
    default:
      return { outcome: 'api_error', txnId: pi.id, code: String(pi.status) };
  }
}

export function createStripeProcessor(options: StripeProcessorOptions): Processor {
  const base = new URL(options.apiBase);
  const stripe = new Stripe(options.apiKey, {
    host: base.hostname,
    port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
    protocol: base.protocol === 'http:' ? 'http' : 'https',
    // The queue retries with backoff and shows every attempt; the SDK does not retry on its own.
    maxNetworkRetries: 0,
    timeout: options.timeoutMs,
    telemetry: false,
  });
  // Tests choose the payer's card (pm_card_visa_chargeDeclinedInsufficientFunds…) through metadata; never with a live key.
  const testMode = /^(sk|rk)_test_/.test(options.apiKey);

  async function process(request: PaymentRequest): Promise<ProcessorResult> {
    const paymentMethod = (testMode && request.metadata.payment_method) || options.paymentMethod;
    try {
      let pi = await stripe.paymentIntents.create(
        {
          amount: request.amount,
          currency: request.currency.toLowerCase(),
          payment_method: paymentMethod,
          // Cards only, never a redirect: the payer is not there to follow one.
          automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
          ...(request.description ? { description: request.description } : {}),
          metadata: { ...request.metadata, tracking_id: request.trackingId, payer_id: request.payerId, recipient_id: request.recipientId },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      // A replayed create shows the intent as it was then: look at it as it is now.
      if (request.attempt > 1 || pi.lastResponse?.headers?.['idempotent-replayed'] === 'true') pi = await stripe.paymentIntents.retrieve(pi.id);
      const known = fromIntent(pi);
      if (known) return known;
      try {
        pi = await stripe.paymentIntents.confirm(pi.id, { payment_method: paymentMethod, off_session: true }, { idempotencyKey: `${request.idempotencyKey}-confirm-${request.attempt}` });
      } catch (err) {
        const e = err as StripeErrorLike;
        // Someone else's confirm got there first (a worker thought dead): the intent says how it went.
        if (e.code === 'payment_intent_unexpected_state') return fromIntent(await stripe.paymentIntents.retrieve(pi.id)) ?? { outcome: 'api_error', txnId: pi.id, code: e.code };
        return { ...classifyStripeError(err), txnId: pi.id };
      }
      return fromIntent(pi) ?? { outcome: 'api_error', txnId: pi.id, code: 'requires_confirmation', message: 'confirm left the intent unconfirmed' };
    } catch (err) {
      return classifyStripeError(err);
    }
  }

  return { name: 'stripe', process };
}
