// Reading an emulator's events through the SDK: what happened since a point (oldest first), and
// a check that every event and its `data.object` validate against the spec.
import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import type { StripeSpec } from '../../../src/stripe-emulator/spec.ts';
import type { SpecValidator } from './spec-validator.ts';

export interface EventLog {
  /** A point in the log: events recorded after it are "since" it. */
  mark(): Promise<string | undefined>;
  /** Events after `mark`, oldest first. */
  since(mark: string | undefined): Promise<Stripe.Event[]>;
  types(mark: string | undefined): Promise<string[]>;
  /** Every event so far validates, with its object, and `previous_attributes` only on `*.updated`. */
  validateAll(): Promise<number>;
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
  };
}
