// The state one emulator instance works on, passed to every module that reads or writes it.
import type { Clock } from './clock.ts';
import type { IdFactory } from './ids.ts';
import type { ListRoute } from './list-endpoints.ts';
import type { Rng } from './rng.ts';
import type { StripeSpec } from './spec.ts';
import type { Store } from './store.ts';

export interface Emulator {
  spec: StripeSpec;
  store: Store;
  clock: Clock;
  /** Ids for objects created through the API (seeding has its own, seeded, factory). */
  ids: IdFactory;
  rng: Rng;
  /** List endpoints by spec path (`/v1/invoices/{invoice}/lines`). */
  lists: Map<string, ListRoute>;
  /** The account every key of this emulator belongs to (GET /v1/account). */
  account: { id: string; created: number };
}
