// The simulated processor: a configurable outcome mix and latency, deterministic for a seed, that
// honours idempotency keys like a real processor and keeps a charge ledger in Redis (charges and
// calls per tracking id) so tests can prove nothing was charged twice. See lua/simulate.lua.
import type { Redis } from '../../platform/redis.ts';
import { paymentKeys } from '../keys.ts';
import { runScript } from '../queue.ts';
import type { Latency, OutcomeMix } from '../settings.ts';
import type { PaymentRequest, Processor, ProcessorResult } from './types.ts';

export interface SimulatedProcessorOptions {
  redis: Redis;
  prefix: string;
  mix: OutcomeMix;
  latency: Latency;
  seed: number;
}

export function createSimulatedProcessor(options: SimulatedProcessorOptions): Processor {
  const { redis, prefix, mix, latency, seed } = options;
  const thresholds = [mix.success, mix.success + mix.insufficient_funds, mix.success + mix.insufficient_funds + mix.declined];
  return {
    name: 'simulated',
    async process(request: PaymentRequest): Promise<ProcessorResult> {
      const called = performance.now();
      const [json, draw] = (await runScript(redis, 'simulate', prefix, request.idempotencyKey, request.trackingId, seed, ...thresholds)) as [string, string];
      // The charge happened (or not) before the answer travels back: a worker killed during this
      // wait has charged without knowing it, which is what the idempotency key is for. The latency
      // is the whole call's, the ledger's round trip included, as a real processor's would be.
      const ms = latency.baseMs + latency.jitterMs * (2 * Number(draw) - 1) - (performance.now() - called);
      if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      const r = JSON.parse(json) as { outcome: ProcessorResult['outcome']; txn_id?: string; code?: string; message?: string };
      return { outcome: r.outcome, txnId: r.txn_id, code: r.code, message: r.message };
    },
  };
}

/** The ledger: per tracking id, charges executed and calls received. */
export async function simulatedLedger(redis: Redis, prefix: string): Promise<{ charges: Map<string, number>; calls: Map<string, number> }> {
  const keys = paymentKeys(prefix).simulated;
  const [charges, calls] = await Promise.all([redis.hgetall(keys.charges), redis.hgetall(keys.calls)]);
  const toMap = (h: Record<string, string>) => new Map(Object.entries(h).map(([k, v]) => [k, Number(v)]));
  return { charges: toMap(charges), calls: toMap(calls) };
}
