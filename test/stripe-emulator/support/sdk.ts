// The official stripe SDK pointed at an emulator, unmodified. Endpoints the SDK version here
// no longer names get a list method built the way the SDK builds its own (`methodType: 'list'`),
// so auto-pagination is the SDK's own code.
import Stripe from 'stripe';
import type { StripeEmulator } from '../../../src/stripe-emulator/index.ts';

export function sdkFor(emulator: Pick<StripeEmulator, 'host' | 'port' | 'apiKey'>, options: { key?: string; maxNetworkRetries?: number } = {}): Stripe {
  return new Stripe(options.key ?? emulator.apiKey, {
    host: emulator.host,
    port: emulator.port,
    protocol: 'http',
    maxNetworkRetries: options.maxNetworkRetries ?? 0,
    telemetry: false,
  });
}

type ListPromise = Promise<{ data: Array<{ id?: string; object: string }>; has_more: boolean; url: string }> & {
  autoPagingToArray(options: { limit: number }): Promise<Array<{ id: string; object: string } & Record<string, unknown>>>;
  [Symbol.asyncIterator](): AsyncIterator<{ id: string; object: string } & Record<string, unknown>>;
};

class AnyList extends Stripe.StripeResource {
  list(path: string, params: Record<string, unknown> = {}, options?: Stripe.RequestOptions): ListPromise {
    return this._makeRequest('GET', path, params, options, { methodType: 'list' }) as ListPromise;
  }
  search(path: string, params: Record<string, unknown>, options?: Stripe.RequestOptions): ListPromise {
    return this._makeRequest('GET', path, params, options, { methodType: 'search' }) as ListPromise;
  }
  /** A plain GET (the upcoming invoice, which this SDK version no longer names). */
  retrieve<T = Record<string, unknown>>(path: string, params: Record<string, unknown> = {}, options?: Stripe.RequestOptions): Promise<T & { lastResponse: { headers: Record<string, string> } }> {
    return this._makeRequest('GET', path, params, options) as Promise<T & { lastResponse: { headers: Record<string, string> } }>;
  }
}

export function anyList(stripe: Stripe): AnyList {
  return new AnyList(stripe);
}
