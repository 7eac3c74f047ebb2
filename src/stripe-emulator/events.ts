// Every change records an event as Stripe does: `type`, `data.object` (the whole object at that
// moment, shared with the store since stored objects are immutable), `data.previous_attributes`
// on *.updated, `request` {id, idempotency_key}, `api_version`. Events sort like everything else,
// so events of one second list in the order they happened.
import type { Emulator } from './context.ts';
import type { IdFactory } from './ids.ts';
import { instantiate } from './objects.ts';
import { API_VERSION, type JsonObject } from './spec.ts';
import type { Entry } from './store.ts';

export interface EventRequest {
  id: string | null;
  idempotency_key: string | null;
}

export const NO_REQUEST: EventRequest = { id: null, idempotency_key: null };

export interface EventOptions {
  previous?: JsonObject;
  request?: EventRequest;
  created?: number;
  ids?: IdFactory;
  bulk?: boolean;
}

const eventTypes = new WeakMap<object, Set<string>>();

/** Event types of this API version (the webhook endpoint's `enabled_events` list). */
export function knownEventTypes(emu: Pick<Emulator, 'spec'>): Set<string> {
  let types = eventTypes.get(emu.spec);
  if (!types) {
    const items = emu.spec.bodySchema('POST', '/v1/webhook_endpoints')?.properties?.enabled_events?.items;
    types = new Set((items?.enum ?? []).map(String).filter((t) => t !== '*'));
    eventTypes.set(emu.spec, types);
  }
  return types;
}

export function recordEvent(emu: Emulator, type: string, object: JsonObject, options: EventOptions = {}): Entry {
  // An event type this API version does not have is a bug in the emulator, not a client error.
  if (!knownEventTypes(emu).has(type)) throw new Error(`no event type ${type} in API ${API_VERSION}`);
  const created = options.created ?? emu.clock.now();
  const data: JsonObject = options.previous ? { object, previous_attributes: options.previous } : { object };
  const event = instantiate(emu.spec, 'event', {
    id: (options.ids ?? emu.ids).next('event'),
    created,
    set: { api_version: API_VERSION, data, livemode: false, pending_webhooks: 0, request: options.request ?? NO_REQUEST, type },
  });
  return emu.store.insert('event', event, { bulk: options.bulk });
}

const same = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);

/** The top-level fields that changed, with their old values (undefined when nothing did). */
export function previousAttributes(before: JsonObject, after: JsonObject): JsonObject | undefined {
  const out: JsonObject = {};
  let changed = false;
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (same(before[key], after[key])) continue;
    out[key] = key in before ? before[key] : null;
    changed = true;
  }
  return changed ? out : undefined;
}
