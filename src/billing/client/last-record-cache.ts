// A local cache of "when was each product's newest billing record created", kept current from the
// billing.records bus topic instead of asking billing every time (the article's event-fed cache).
// A miss is one batched lookup (calls in the same tick share a request); afterwards each event
// for a cached product moves its date forward. Events only update products already cached: an
// event about a product never looked up says nothing about that product's older records.
import type { Bus, Subscription } from '../../platform/bus/index.ts';
import type { Logger } from '../../platform/log.ts';
import type { BillingClient } from './client-api.ts';
import { BILLING_RECORDS_TOPIC, billingRecordEventSchema } from './events.ts';

export interface LastRecordCache {
  /** The product's newest record date (null: it has none), from the cache or one batched lookup. */
  get(productGid: string): Promise<Date | null>;
  /** What the cache holds, without asking billing; undefined when not cached. */
  peek(productGid: string): Date | null | undefined;
  close(): Promise<void>;
}

export interface LastRecordCacheOptions {
  client: Pick<BillingClient, 'loadLastCreatedAt'>;
  bus: Bus;
  /**
   * Consumer group: every process keeping a cache needs every event, so one group per process
   * (e.g. `monolith-billing-cache-<host>-<pid>`); processes sharing a group would split them.
   */
  group: string;
  logger?: Logger;
  /** Entries kept; the least recently used go first (default 100,000). */
  maxEntries?: number;
}

const later = (a: Date | null, b: Date | null) => (!a ? b : !b || a > b ? a : b);

export async function createLastRecordCache(options: LastRecordCacheOptions): Promise<LastRecordCache> {
  const max = options.maxEntries ?? 100_000;
  const cache = new Map<string, Date | null>();
  // Products being looked up: an event arriving meanwhile may be newer than the answer.
  const inFlight = new Map<string, Date | null>();
  const remember = (gid: string, at: Date | null) => {
    cache.delete(gid);
    cache.set(gid, at);
    if (cache.size > max) cache.delete(cache.keys().next().value!);
  };

  const subscription: Subscription = await options.bus.subscribe({
    group: options.group,
    topics: [BILLING_RECORDS_TOPIC],
    handler: async (message) => {
      const parsed = billingRecordEventSchema.safeParse(message.value);
      if (!parsed.success) {
        // A message this version cannot read must not block the partition behind it.
        options.logger?.warn({ messageId: message.id, issues: parsed.error.issues.slice(0, 3) }, 'billing.records message skipped: unexpected shape');
        return;
      }
      const { product_gid: gid, created_at } = parsed.data.record;
      const at = new Date(created_at);
      if (inFlight.has(gid)) inFlight.set(gid, later(inFlight.get(gid)!, at));
      if (cache.has(gid)) remember(gid, later(cache.get(gid)!, at));
    },
  });

  return {
    async get(gid) {
      const known = cache.get(gid);
      if (known !== undefined) return known;
      if (!inFlight.has(gid)) inFlight.set(gid, null);
      try {
        const at = await options.client.loadLastCreatedAt(gid);
        remember(gid, later(inFlight.get(gid) ?? null, later(cache.get(gid) ?? null, at)));
      } finally {
        inFlight.delete(gid);
      }
      return cache.get(gid)!;
    },
    peek: (gid) => cache.get(gid),
    close: () => subscription.close(),
  };
}
