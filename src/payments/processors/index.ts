// Builds the configured processor. The Stripe SDK is loaded only when it is used, so a simulated
// worker starts fast (which matters when the chaos test restarts workers every second).
import { ConfigError } from '../../platform/config.ts';
import type { Redis } from '../../platform/redis.ts';
import type { WorkerConfig } from '../settings.ts';
import { createSimulatedProcessor } from './simulated.ts';
import type { Processor } from './types.ts';

export type { PaymentRequest, Processor, ProcessorOutcome, ProcessorResult } from './types.ts';

export async function createProcessor(config: WorkerConfig, redis: Redis): Promise<Processor> {
  if (config.processor === 'simulated') {
    return createSimulatedProcessor({ redis, prefix: config.keyPrefix, mix: config.simulatedMix, latency: config.simulatedLatency, seed: config.simulatedSeed });
  }
  if (!config.stripeApiKey) throw new ConfigError('Invalid configuration:\n  - STRIPE_API_KEY (--stripe-api-key) is required with --processor stripe');
  const { createStripeProcessor } = await import('./stripe.ts');
  return createStripeProcessor({
    apiKey: config.stripeApiKey,
    apiBase: config.stripeApiBase,
    paymentMethod: config.stripePaymentMethod,
    timeoutMs: config.stripeTimeout,
  });
}
