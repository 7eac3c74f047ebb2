// Reading an emulator's events through the SDK: what happened since a point (oldest first), and
// a check that every event and its `data.object` validate against the spec.
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type Stripe from 'stripe';
import type { StripeSpec } from '../../../src/stripe-emulator/spec.ts';
import { anyList } from './sdk.ts';
import type { SpecValidator } from './spec-validator.ts';

export interface EventLog {
  /** A point in the log: events recorded after it are "since" it. */
  mark(): Promise<string | undefined>;
  /** Events after `mark`, oldest first. */
  since(mark: string | undefined): Promise<Stripe.Event[]>;
  types(mark: string | undefined): Promise<string[]>;
  /** Every event so far validates, with its object, and `previous_attributes` only on `*.updated`. */
  validateAll(): Promise<number>;
  /**
   * Every object an event names, unless its newest event deleted it, retrieves now exactly as
   * its newest event carries it: no change without an event, except the fields in `silent`
   * (object type → fields Stripe changes without one, `*` for all). Returns how many objects were compared.
   */
  stateMatches(silent?: Record<string, string[]>): Promise<number>;
}

export function eventLog(stripe: Stripe, spec: StripeSpec, validator: SpecValidator): EventLog {
  const all = async (stop?: string) => {
    const out: Stripe.Event[] = [];
    for await (const event of stripe.events.list({ limit: 100 })) {
      if (event.id === stop) break;
      out.push(event);
    }
    return out.reverse();
  };
  return {
    mark: async () => (await stripe.events.list({ limit: 1 })).data[0]?.id,
    since: (mark) => all(mark),
    types: async (mark) => (await all(mark)).map((e) => e.type),
    async validateAll() {
      const failures: string[] = [];
      const events = await all();
      for (const event of events) {
        const plain = JSON.parse(JSON.stringify({ ...event, lastResponse: undefined })) as Stripe.Event & { data: { object: { object: string } } };
        const object = plain.data.object;
        const schema = spec.resources.get(object.object)?.schemaName ?? object.object;
        const errors = [...validator.errors('event', plain), ...validator.errors(schema, object)];
        if (errors.length) failures.push(`${event.type} ${event.id}: ${errors.slice(0, 3).join('; ')}`);
        if ('previous_attributes' in plain.data !== event.type.endsWith('.updated')) failures.push(`${event.type} ${event.id}: previous_attributes ${'previous_attributes' in plain.data ? 'present' : 'missing'}`);
        if (event.type.endsWith('.updated') && Object.keys(plain.data.previous_attributes ?? {}).length === 0) failures.push(`${event.type} ${event.id}: nothing changed`);
      }
      assert.deepEqual(failures, []);
      return events.length;
    },
    async stateMatches(silent = {}) {
      const newest = new Map<string, Stripe.Event>();
      for (const event of await all()) {
        const object = event.data.object as { id?: string; object: string };
        if (object.id) newest.set(`${object.object} ${object.id}`, event);
      }
      const differences: string[] = [];
      let compared = 0;
      for (const event of newest.values()) {
        if (event.type.endsWith('.deleted')) continue;
        const object = JSON.parse(JSON.stringify(event.data.object)) as Record<string, unknown> & { id: string; object: string };
        const retrieve = spec.retrieves.find((r) => r.objects.includes(object.object) && r.pathParams.length === 1);
        if (!retrieve) continue;
        const current = JSON.parse(JSON.stringify({ ...(await anyList(stripe).retrieve(retrieve.path.replace(/\{[^}]+\}/, object.id))), lastResponse: undefined })) as Record<string, unknown>;
        compared++;
        for (const key of new Set([...Object.keys(object), ...Object.keys(current)])) {
          const quiet = silent[object.object] ?? [];
          if (quiet.includes(key) || quiet.includes('*')) continue;
          if (!isDeepStrictEqual(object[key], current[key])) {
            differences.push(`${object.object} ${object.id} after ${event.type}: ${key} ${JSON.stringify(object[key])?.slice(0, 120)} ≠ now ${JSON.stringify(current[key])?.slice(0, 120)}`);
          }
        }
      }
      assert.deepEqual(differences, []);
      return compared;
    },
  };
}
