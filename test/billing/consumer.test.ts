// Records from other parts: payments.outcomes (through the bus, idempotent per tracking id) and
// the Stripe mirror's invoices (a minimal stripe-like table in a schema of its own, imported
// incrementally by watermark). Every change goes through the writer, so it has an outbox event.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startPaymentsConsumer } from '../../src/billing/payments-consumer.ts';
import { importStripeInvoices } from '../../src/billing/stripe-import.ts';
import type { PaymentOutcome } from '../../src/payments/client.ts';
import { createBus, type Bus } from '../../src/platform/bus/index.ts';
import type { Sql } from '../../src/platform/db.ts';
import { testSql } from '../support/database.ts';
import { redisUrl, waitFor } from '../support/wait-for.ts';
import { logger, unique } from './support/billing.ts';

let sql: Sql;
before(() => {
  sql = testSql();
});
after(async () => {
  await sql.end();
});

const eventsOf = async (gid: string) =>
  (await sql<{ type: string }[]>`select value ->> 'type' as type from billing.outbox where value -> 'record' ->> 'gid' = ${gid} order by id`).map((r) => r.type);

describe('payments.outcomes consumer', () => {
  let bus: Bus;
  after(async () => bus?.close());

  test('one payment record per tracking id; redeliveries change nothing; invalid messages are skipped', async () => {
    bus = createBus({ redisUrl: redisUrl(), prefix: `${unique('billingtest')}:`, logger, clientId: 'billing-consumer-test', redis: { leaseMs: 2000, blockMs: 200 } });
    const changes: string[] = [];
    const subscription = await startPaymentsConsumer({ sql, bus, group: 'billing', logger, onChange: (c) => changes.push(c) });
    try {
      const tracking = unique('');
      const payer = unique('payer_');
      const recipient = unique('product_');
      const outcome: PaymentOutcome = {
        tracking_id: tracking,
        status: 'succeeded',
        payer_id: payer,
        recipient_id: recipient,
        amount: 1999,
        currency: 'USD',
        txn_id: 'txn_1',
        attempts: 1,
        created_at: '2030-03-01T10:00:00.000Z',
        processed_at: '2030-03-01T10:00:05.000Z',
      };
      await bus.publish('payments.outcomes', payer, outcome, { id: tracking });
      await bus.publish('payments.outcomes', payer, outcome, { id: tracking });
      await bus.publish('payments.outcomes', payer, { tracking_id: 'x', status: 'maybe' }, { id: unique('bad') });
      await waitFor('three messages handled', async () => changes.length >= 3);
      assert.deepEqual(changes, ['created', 'unchanged', 'invalid']);
      const rows = await sql`select * from billing.records where source = 'payments' and source_id = ${tracking}`;
      assert.equal(rows.length, 1);
      const r = rows[0]!;
      assert.deepEqual(
        { product_gid: r.product_gid, client_gid: r.client_gid, kind: r.kind, status: r.status, amount: Number(r.amount), currency: r.currency, paid_at: r.paid_at.toISOString(), created_at: r.created_at.toISOString() },
        { product_gid: recipient, client_gid: payer, kind: 'payment', status: 'paid', amount: 1999, currency: 'usd', paid_at: '2030-03-01T10:00:05.000Z', created_at: '2030-03-01T10:00:00.000Z' },
      );
      assert.deepEqual(await eventsOf(r.gid), ['billing_record.created']);
    } finally {
      await subscription.close();
    }
  });
});

describe('Stripe mirror import', () => {
  const schema = unique('billing_test_stripe_');
  before(async () => {
    // The columns billing reads, as stripe-sync creates them (src/stripe-sync/migrations/001).
    await sql.unsafe(`
      create schema ${schema};
      create table ${schema}.invoice (
        id text not null, customer text, status text, amount_due bigint, amount_paid bigint, currency text,
        due_date timestamptz, created timestamptz, status_transitions jsonb, hosted_invoice_url text, metadata jsonb,
        _account_id text not null default 'acct_1', _raw jsonb not null default '{}', _synced_at timestamptz not null default now(),
        _deleted_at timestamptz, primary key (_account_id, id))`);
  });
  after(async () => {
    await sql.unsafe(`drop schema ${schema} cascade`);
  });

  test('no mirror table: nothing to do', async () => {
    assert.equal((await importStripeInvoices(sql, { schema: unique('no_such_schema_') })).available, false);
  });

  test('invoices become records keyed by stripe_id, incrementally, with metadata or customer gids', async () => {
    const product = unique('gid://test/Product/s');
    const [a, b] = [unique('in_a'), unique('in_b')];
    await sql.unsafe(
      `insert into ${schema}.invoice (id, customer, status, amount_due, currency, due_date, created, metadata) values
        ($1, 'cus_1', 'open', 5000, 'usd', '2030-01-31T00:00:00Z', '2030-01-01T00:00:00Z', $3::text::jsonb),
        ($2, 'cus_2', 'draft', 700, 'eur', null, '2030-01-02T00:00:00Z', '{}'::jsonb)`,
      [a, b, JSON.stringify({ product_gid: product, client_gid: 'gid://test/Client/s' })],
    );
    const first = await importStripeInvoices(sql, { schema, batchSize: 1 });
    assert.deepEqual(first.changes, { created: 2, updated: 0, unchanged: 0 });
    const [ra] = await sql`select * from billing.records where stripe_id = ${a}`;
    assert.deepEqual([ra!.product_gid, ra!.client_gid, ra!.kind, ra!.status, Number(ra!.amount), ra!.due_at.toISOString()], [product, 'gid://test/Client/s', 'invoice', 'open', 5000, '2030-01-31T00:00:00.000Z']);
    const [rb] = await sql`select * from billing.records where stripe_id = ${b}`;
    assert.deepEqual([rb!.product_gid, rb!.client_gid, rb!.status, rb!.currency], ['stripe://customer/cus_2', 'stripe://customer/cus_2', 'pending', 'eur']);

    // Nothing new: re-reading the overlap writes nothing.
    assert.deepEqual((await importStripeInvoices(sql, { schema })).changes.created + (await importStripeInvoices(sql, { schema })).changes.updated, 0);

    // Paid and deleted, synced again.
    await sql.unsafe(`update ${schema}.invoice set status = 'paid', amount_paid = 5000, status_transitions = '{"paid_at": 1896134400}', _synced_at = now() where id = $1`, [a]);
    await sql.unsafe(`update ${schema}.invoice set _deleted_at = now(), _synced_at = now() where id = $1`, [b]);
    const second = await importStripeInvoices(sql, { schema });
    assert.equal(second.changes.updated, 2);
    const [pa] = await sql`select status, paid_at from billing.records where stripe_id = ${a}`;
    assert.deepEqual([pa!.status, pa!.paid_at.toISOString()], ['paid', '2030-02-01T00:00:00.000Z']);
    const [pb] = await sql`select status from billing.records where stripe_id = ${b}`;
    assert.equal(pb!.status, 'void');
    assert.deepEqual(await eventsOf(ra!.gid), ['billing_record.created', 'billing_record.updated']);
  });
});
