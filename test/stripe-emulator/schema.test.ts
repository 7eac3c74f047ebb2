// Every resource's objects validate against the spec (ajv), references point at real objects,
// and seeding is deterministic.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createEmulatorState } from '../../src/stripe-emulator/index.ts';
import { collectStats } from '../../src/stripe-emulator/stats.ts';
import type { JsonObject } from '../../src/stripe-emulator/spec.ts';
import { createSpecValidator } from './support/spec-validator.ts';

const NOW = 1_700_000_000;

describe('seeded objects', () => {
  const emu = createEmulatorState({ seed: 7, customers: 40, now: NOW });
  const validator = createSpecValidator(emu.spec);

  test('a sample of every resource validates against its spec schema', () => {
    const failures: string[] = [];
    let checked = 0;
    const types = new Set<string>();
    for (const name of emu.store.names()) {
      const all = emu.store.collection(name).all();
      const sample = new Set([all[0], all[all.length - 1], all[Math.floor(all.length / 2)], ...all.slice(0, 3)]);
      for (const entry of sample) {
        if (!entry) continue;
        const object = String(entry.obj.object);
        types.add(object);
        const info = emu.spec.resources.get(object);
        assert.ok(info, `no schema for ${object}`);
        // Round-trip through JSON: what the API serves.
        const errors = validator.errors(info.schemaName, JSON.parse(JSON.stringify(entry.obj)));
        checked++;
        if (errors.length) failures.push(`${object} ${entry.id}: ${errors.slice(0, 3).join('; ')}`);
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(types.size >= 80, `only ${types.size} types seeded`);
    assert.ok(checked > 200);
  });

  test('every reference to another object names a live (or deleted) object', () => {
    const dangling: string[] = [];
    for (const name of emu.store.names()) {
      for (const entry of emu.store.collection(name).all()) {
        const info = emu.spec.resources.get(String(entry.obj.object))!;
        for (const [field, how] of info.expandable) {
          if (how.kind !== 'ref') continue;
          const values = how.array ? ((entry.obj[field] as unknown[]) ?? []) : [entry.obj[field]];
          for (const value of values) {
            if (typeof value !== 'string') continue;
            // Types the API never serves on their own (applications) cannot be seeded.
            if (!how.objects.some((o) => emu.spec.fixtures[o])) continue;
            if (!emu.store.find(how.objects, value) && !emu.store.deletedStub(how.objects, value)) dangling.push(`${entry.id}.${field} → ${value}`);
          }
        }
      }
    }
    assert.deepEqual(dangling.slice(0, 10), []);
  });

  test('the account spans at least 13 months, and only the last 30 days have events', () => {
    const invoices = emu.store.collection('invoice').all();
    assert.ok(invoices[0]!.t <= NOW - 13 * 30 * 86400, 'oldest invoice is older than 13 months');
    const events = emu.store.collection('event').all();
    assert.ok(events.length > 0);
    assert.ok(events.every((e) => e.t >= NOW - 30 * 86400 && e.t <= NOW));
    const types = new Set(events.map((e) => e.obj.type));
    for (const t of ['customer.created', 'invoice.created', 'customer.subscription.created', 'payment_intent.created']) assert.ok(types.has(t), `no ${t} event`);
    // Some invoice has more lines than its embedded list shows.
    const big = invoices.find((e) => (e.obj.lines as JsonObject).has_more === true);
    assert.ok(big, 'an invoice with more than 10 lines');
    assert.equal(((big.obj.lines as JsonObject).data as unknown[]).length, 10);
    assert.equal((big.obj.lines as JsonObject).url, `/v1/invoices/${big.id}/lines`);
  });

  test('the same flags give the same account, id for id; another seed differs', () => {
    const again = createEmulatorState({ seed: 7, customers: 40, now: NOW });
    assert.deepEqual(collectStats(again), collectStats(emu));
    for (const name of ['customer', 'invoice', 'event', 'line_item', 'charge']) {
      const a = emu.store.collection(name).all();
      const b = again.store.collection(name).all();
      assert.deepEqual(b.map((e) => e.id), a.map((e) => e.id));
      assert.equal(JSON.stringify(b.map((e) => e.obj)), JSON.stringify(a.map((e) => e.obj)));
    }
    const other = createEmulatorState({ seed: 8, customers: 40, now: NOW });
    assert.notDeepEqual(other.store.collection('customer').all().map((e) => e.id), emu.store.collection('customer').all().map((e) => e.id));
  });
});
