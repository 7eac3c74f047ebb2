// A deterministic, realistic test-mode account (same flags → same objects and ids): a catalogue
// of products and prices, customers (some deleted) with cards, subscriptions billed every period
// for at least 13 months (invoices with lines, some with more than 10; payment intents, charges
// and balance transactions; refunds, disputes, credit notes), one-off checkout payments,
// weekly payouts, and at least one object of every other listable resource cloned from its
// fixture with references to real objects. Objects of the last 30 days get their `*.created` event.
import type { Emulator } from './context.ts';
import { embeddedList } from './embedded.ts';
import { createIdFactory, type IdFactory } from './ids.ts';
import { collectionFor } from './list-endpoints.ts';
import { instantiate, MissingReference } from './objects.ts';
import { createRng, type Rng } from './rng.ts';
import { knownEventTypes, recordEvent } from './events.ts';
import type { JsonObject } from './spec.ts';
import type { Entry } from './store.ts';

export interface SeedOptions {
  /** RNG seed. */
  seed: number;
  customers: number;
  /** Multiplies the catalogue and the long tail of other resources. */
  scale: number;
  /** How far back the account goes (at least 13). */
  months: number;
}

const DAY = 86400;
const MONTH = 30 * DAY;
const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Dennis', 'Radia', 'Linus', 'Katherine', 'John', 'Sophie'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Hamilton', 'Ritchie', 'Perlman', 'Torvalds', 'Johnson', 'Backus', 'Wilson'];
const PRODUCTS = ['Starter', 'Team', 'Business', 'Enterprise', 'Analytics add-on', 'Storage pack', 'Priority support', 'API calls', 'Seats', 'Onboarding'];

/** Plain-string fields that list endpoints filter on and must name a real parent. */
const FILTER_PARENTS: Record<string, Record<string, string>> = {
  'radar.value_list_item': { value_list: 'radar.value_list' },
  setup_attempt: { setup_intent: 'setup_intent' },
  subscription_item: { subscription: 'subscription' },
};

const SPECIAL_CREATED_EVENTS: Record<string, string> = {
  subscription: 'customer.subscription.created',
  dispute: 'charge.dispute.created',
  tax_id: 'customer.tax_id.created',
  charge: 'charge.succeeded',
  payment_method: 'payment_method.attached',
  'checkout.session': 'checkout.session.completed',
  source_transaction: 'source.transaction.created',
};

export function seedAccount(emu: Emulator, options: SeedOptions): void {
  new Seeder(emu, options).run();
}

interface Price {
  id: string;
  obj: JsonObject;
  interval: 'month' | 'year' | null;
}

class Seeder {
  private readonly emu: Emulator;
  private readonly opts: SeedOptions;
  private readonly rng: Rng;
  private readonly ids: IdFactory;
  private readonly now: number;
  private readonly start: number;
  private readonly prices: Price[] = [];
  private readonly recurring: Price[] = [];
  private readonly oneTime: Price[] = [];
  private readonly deletions: Entry[] = [];
  private invoiceNumber = 0;
  /** Invoices numbered so far per customer (`PREFIX-0001`…), so new ones continue the sequence. */
  private readonly sequences = new Map<string, number>();
  /** Every account has at least one invoice with more lines than its embedded list shows. */
  private bigInvoiceMade = false;

  constructor(emu: Emulator, opts: SeedOptions) {
    this.emu = emu;
    this.opts = { ...opts, months: Math.max(13, opts.months) };
    this.rng = createRng(opts.seed);
    this.ids = createIdFactory(createRng(opts.seed ^ 0x5eed), emu.spec.fixtures);
    this.now = emu.clock.now();
    this.start = this.now - this.opts.months * MONTH - 5 * DAY;
  }

  private make(object: string, created: number, set: JsonObject, opts: { collection?: string; owner?: string; key?: string; id?: string; refs?: 'null' | 'random' } = {}): Entry {
    const { spec, store } = this.emu;
    // Nothing is created after the clock's "now" (a payment an hour after a just-opened invoice).
    created = Math.min(created, this.now);
    const obj = instantiate(spec, object, { id: opts.id ?? this.ids.next(object), created, set, refs: { store, rng: this.rng, prefer: opts.refs ?? 'null' } });
    return store.insert(opts.collection ?? object, obj, { t: created, owner: opts.owner, key: opts.key, bulk: true });
  }

  private nextNumber(customer: string): number {
    const n = (this.sequences.get(customer) ?? 0) + 1;
    this.sequences.set(customer, n);
    return n;
  }

  private between(a: number, b: number): number {
    return Math.floor(a + this.rng.next() * Math.max(0, b - a));
  }

  run(): void {
    this.catalogue();
    const customers = this.opts.customers;
    for (let i = 0; i < customers; i++) this.customer(i);
    this.payouts();
    this.longTail();
    this.finish();
  }

  private catalogue(): void {
    const count = Math.max(3, Math.round(Math.min(200, 3 + Math.sqrt(this.opts.customers)) * this.opts.scale));
    for (let i = 0; i < count; i++) {
      const created = this.between(this.start - 30 * DAY, this.start);
      const name = `${PRODUCTS[i % PRODUCTS.length]}${i >= PRODUCTS.length ? ` ${Math.floor(i / PRODUCTS.length) + 1}` : ''}`;
      const product = this.make('product', created, { name, description: `${name} plan`, default_price: null, updated: created, active: true });
      const base = (1 + this.rng.int(1, 20)) * 500;
      const monthly = this.price(product.id, created, base, 'month');
      this.price(product.id, created, base * 10, 'year');
      if (this.rng.chance(0.5)) this.price(product.id, created, this.rng.int(5, 200) * 100, null);
      product.obj = { ...product.obj, default_price: monthly.id };
    }
  }

  private price(product: string, created: number, amount: number, interval: 'month' | 'year' | null): Price {
    const set: JsonObject = {
      product, currency: 'usd', unit_amount: amount, unit_amount_decimal: String(amount), active: true, lookup_key: null, nickname: null,
      recurring: interval ? { aggregate_usage: null, interval, interval_count: 1, usage_type: 'licensed' } : null,
      type: interval ? 'recurring' : 'one_time', billing_scheme: 'per_unit', tiers_mode: null, transform_quantity: null, custom_unit_amount: null, tax_behavior: 'unspecified',
    };
    const entry = this.make('price', created, set);
    if (interval) {
      this.make('plan', created, {
        active: true, aggregate_usage: null, amount, amount_decimal: String(amount), billing_scheme: 'per_unit', currency: 'usd', interval, interval_count: 1,
        nickname: null, product, tiers_mode: null, transform_usage: null, trial_period_days: null, usage_type: 'licensed',
      }, { id: entry.id });
    }
    const price = { id: entry.id, obj: entry.obj, interval };
    this.prices.push(price);
    (interval ? this.recurring : this.oneTime).push(price);
    return price;
  }

  private customer(i: number): void {
    const rng = this.rng;
    // The first customer opened the account and has been subscribed ever since.
    const founder = i === 0;
    const created = founder ? this.start + 3600 : this.between(this.start, this.now - 3600);
    const name = `${rng.pick(FIRST)} ${rng.pick(LAST)}`;
    const email = `customer${i}@example.com`;
    const id = this.ids.next('customer');
    const pm = this.make('payment_method', created + 30, {
      customer: id, billing_details: { address: { city: null, country: 'US', line1: null, line2: null, postal_code: '94107', state: null }, email, name, phone: null },
    });
    const customer = this.make('customer', created, {
      email, name, description: null, currency: 'usd', invoice_prefix: this.ids.chars(8).toUpperCase().replace(/[^A-Z0-9]/g, '7'),
      invoice_settings: { custom_fields: null, default_payment_method: pm.id, footer: null, rendering_options: null }, metadata: { seq: String(i) },
    }, { id });
    const seti = this.make('setup_intent', created + 30, { customer: id, payment_method: pm.id, status: 'succeeded', usage: 'off_session' });
    this.make('setup_attempt', created + 30, { setup_intent: seti.id, customer: id, payment_method: pm.id, status: 'succeeded' });
    if (rng.chance(0.1)) this.make('tax_id', created + 60, { customer: id, type: 'eu_vat', value: `DE${rng.int(100000000, 999999999)}`, country: 'DE' });
    if (rng.chance(0.08)) this.make('customer_balance_transaction', created + 120, { customer: id, amount: -rng.int(1, 50) * 100, ending_balance: 0, type: 'adjustment', invoice: null, credit_note: null });
    if (rng.chance(0.02)) this.make('customer_cash_balance_transaction', created + 120, { customer: id });
    if (rng.chance(0.03)) this.make('card', created + 90, { customer: id, account: null }, { collection: collectionFor('card', 'customer') });

    const deleted = !founder && rng.chance(0.05);
    if (!deleted) {
      const subs = founder ? 1 : rng.chance(0.2) ? 0 : rng.chance(0.8) ? 1 : 2;
      for (let s = 0; s < subs; s++) this.subscription(id, customer.obj, pm.id, created, founder);
      if (rng.chance(0.05)) {
        const price = rng.pick(this.oneTime.length ? this.oneTime : this.prices);
        this.make('invoiceitem', this.between(created, this.now), {
          customer: id, invoice: null, subscription: null, subscription_item: null, price: price.obj, amount: price.obj.unit_amount, quantity: 1,
          unit_amount: price.obj.unit_amount, unit_amount_decimal: String(price.obj.unit_amount), description: 'Pending charge', proration: false,
        });
      }
    }
    const oneOff = rng.chance(0.6) ? rng.int(1, 2) : 0;
    for (let k = 0; k < oneOff; k++) this.checkout(id, pm.id, this.between(created, this.now));
    customer.obj = { ...customer.obj, next_invoice_sequence: (this.sequences.get(id) ?? 0) + 1 };
    if (deleted) this.deletions.push(customer);
  }

  private subscription(customer: string, cust: JsonObject, pm: string, customerCreated: number, founder = false): void {
    const rng = this.rng;
    const startedAt = founder ? customerCreated : this.between(customerCreated, customerCreated + (this.now - customerCreated) * 0.7);
    const first = rng.pick(this.recurring);
    const interval = first.interval!;
    // A second item never repeats the first's price: Stripe refuses two items with one price.
    const pool = this.recurring.filter((p) => p.interval === interval && p !== first);
    const items = rng.chance(0.2) && pool.length ? [first, rng.pick(pool)] : [first];
    const canceled = !founder && rng.chance(0.15);
    const endedAt = canceled ? this.between(startedAt, this.now) : null;
    const id = this.ids.next('subscription');
    const siEntries = items.map((price) =>
      this.make('subscription_item', startedAt, { subscription: id, price: price.obj, quantity: rng.int(1, 3), metadata: {}, tax_rates: [], billing_thresholds: null }),
    );
    const step = interval === 'month' ? MONTH : 365 * DAY;
    let periodStart = startedAt;
    let latest: string | null = null;
    const stop = Math.min(this.now, endedAt ?? this.now);
    while (periodStart <= stop) {
      latest = this.invoice(customer, cust, pm, id, siEntries, periodStart, periodStart + step);
      if (periodStart + step > stop) break;
      periodStart += step;
    }
    const status = canceled ? 'canceled' : 'active';
    this.make('subscription', startedAt, {
      customer, status, currency: 'usd', default_payment_method: pm, collection_method: 'charge_automatically', latest_invoice: latest,
      billing_cycle_anchor: startedAt, start_date: startedAt, current_period_start: periodStart, current_period_end: periodStart + step,
      canceled_at: endedAt, ended_at: endedAt, cancel_at: null, cancel_at_period_end: false, trial_start: null, trial_end: null,
      next_pending_invoice_item_invoice: null, description: null,
      cancellation_details: { comment: null, feedback: null, reason: canceled ? 'cancellation_requested' : null },
      items: embedded([...siEntries].reverse(), `/v1/subscription_items?subscription=${id}`),
    }, { id });
  }

  private invoice(customer: string, cust: JsonObject, pm: string, subscription: string | null, items: Entry[], periodStart: number, periodEnd: number): string {
    const rng = this.rng;
    const id = this.ids.next('invoice');
    const created = periodStart;
    const lines: Entry[] = [];
    for (const item of items) {
      const price = item.obj.price as JsonObject;
      const quantity = item.obj.quantity as number;
      const amount = (price.unit_amount as number) * quantity;
      lines.push(this.make('line_item', created, {
        amount, amount_excluding_tax: amount, currency: 'usd', description: `${quantity} × ${String(price.product)}`, invoice_item: null, price,
        period: { start: periodStart, end: periodEnd }, proration: false, quantity, subscription, subscription_item: item.id, type: 'subscription',
        unit_amount_excluding_tax: String(price.unit_amount), discount_amounts: [], discounts: [], tax_amounts: [], tax_rates: [], metadata: {},
      }, { owner: id }));
    }
    if (rng.chance(0.03) || !this.bigInvoiceMade) {
      this.bigInvoiceMade = true;
      // Usage-heavy invoices with more lines than the embedded list shows.
      const extra = rng.int(11, 15);
      for (let k = 0; k < extra; k++) {
        const price = rng.pick(this.oneTime.length ? this.oneTime : this.prices).obj;
        const amount = price.unit_amount as number;
        const ii = this.make('invoiceitem', created, {
          customer, invoice: id, subscription, subscription_item: null, price, amount, quantity: 1, unit_amount: amount, unit_amount_decimal: String(amount),
          description: `Usage ${k + 1}`, proration: false, period: { start: periodStart, end: periodEnd }, date: created,
        });
        lines.push(this.make('line_item', created, {
          amount, amount_excluding_tax: amount, currency: 'usd', description: `Usage ${k + 1}`, invoice_item: ii.id, price, period: { start: periodStart, end: periodEnd },
          proration: false, quantity: 1, subscription, subscription_item: null, type: 'invoiceitem', unit_amount_excluding_tax: String(amount),
          discount_amounts: [], discounts: [], tax_amounts: [], tax_rates: [], metadata: {},
        }, { owner: id }));
      }
    }
    const total = lines.reduce((sum, l) => sum + (l.obj.amount as number), 0);
    const settled = periodStart + 3 * DAY < this.now;
    const roll = rng.next();
    const status = !settled ? 'open' : roll < 0.97 ? 'paid' : roll < 0.99 ? 'uncollectible' : 'void';
    const paidAt = created + 3600;
    let pi: string | null = null;
    let charge: string | null = null;
    if (status === 'paid') ({ pi, charge } = this.payment(customer, pm, total, paidAt, id));
    if (status === 'paid' && rng.chance(0.015)) {
      const cnId = this.ids.next('credit_note');
      const amount = Math.max(1, Math.floor(total / 4));
      this.make('credit_note_line_item', paidAt + DAY, { amount, amount_excluding_tax: amount, description: 'Goodwill credit', invoice_line_item: null, quantity: 1, type: 'custom_line_item', unit_amount: amount, unit_amount_decimal: String(amount), unit_amount_excluding_tax: String(amount), discount_amount: 0, discount_amounts: [], tax_amounts: [], tax_rates: [] }, { owner: cnId });
      this.make('credit_note', paidAt + DAY, {
        invoice: id, customer, amount, subtotal: amount, subtotal_excluding_tax: amount, total: amount, total_excluding_tax: amount, currency: 'usd', status: 'issued', refund: null,
        customer_balance_transaction: null, discount_amount: 0, discount_amounts: [], tax_amounts: [], number: `${String(cust.invoice_prefix)}-CN-${++this.invoiceNumber}`,
        reason: 'order_change', memo: null, out_of_band_amount: null, shipping_cost: null, voided_at: null, effective_at: paidAt + DAY,
        lines: embedded([], `/v1/credit_notes/${cnId}/lines`),
      }, { id: cnId });
    }
    this.make('invoice', created, {
      customer, subscription, status, currency: 'usd', amount_due: total, amount_paid: status === 'paid' ? total : 0, amount_remaining: status === 'paid' ? 0 : total,
      subtotal: total, subtotal_excluding_tax: total, total, total_excluding_tax: total, attempted: status !== 'open', attempt_count: status === 'open' ? 0 : 1,
      paid: status === 'paid', payment_intent: pi, charge, billing_reason: subscription ? (lines.length && periodStart === items[0]?.obj.created ? 'subscription_create' : 'subscription_cycle') : 'manual',
      collection_method: 'charge_automatically', customer_email: cust.email, customer_name: cust.name, number: `${String(cust.invoice_prefix)}-${String(this.nextNumber(customer)).padStart(4, '0')}`,
      period_start: periodStart, period_end: periodEnd, due_date: null, effective_at: created + 3600, next_payment_attempt: status === 'open' ? created + DAY : null,
      default_payment_method: null, webhooks_delivered_at: created + 60, auto_advance: status === 'open', ending_balance: status === 'open' ? null : 0, starting_balance: 0,
      status_transitions: { finalized_at: created + 3600, marked_uncollectible_at: status === 'uncollectible' ? created + 10 * DAY : null, paid_at: status === 'paid' ? paidAt : null, voided_at: status === 'void' ? created + 10 * DAY : null },
      lines: embedded(lines, `/v1/invoices/${id}/lines`),
    }, { id });
    return id;
  }

  /** A succeeded payment: payment intent, charge, balance transaction; sometimes refunded or disputed. */
  private payment(customer: string, pm: string, amount: number, at: number, invoice: string | null): { pi: string; charge: string } {
    const rng = this.rng;
    const piId = this.ids.next('payment_intent');
    const chId = this.ids.next('charge');
    const txnId = this.ids.next('balance_transaction');
    const fee = Math.round(amount * 0.029) + 30;
    this.make('balance_transaction', at, { amount, fee, net: amount - fee, currency: 'usd', type: 'charge', reporting_category: 'charge', source: chId, status: at + 2 * DAY < this.now ? 'available' : 'pending', available_on: at + 2 * DAY, description: null, fee_details: [{ amount: fee, application: null, currency: 'usd', description: 'Stripe processing fees', type: 'stripe_fee' }] }, { id: txnId });
    let refunded = 0;
    if (rng.chance(0.03)) {
      refunded = rng.chance(0.5) ? amount : Math.floor(amount / 2);
      const when = this.between(at, Math.min(this.now, at + 20 * DAY));
      const reTxn = this.ids.next('balance_transaction');
      const reId = this.ids.next('refund');
      this.make('balance_transaction', when, { amount: -refunded, fee: 0, net: -refunded, currency: 'usd', type: 'refund', reporting_category: 'refund', source: reId, status: 'available', available_on: when, description: 'REFUND FOR CHARGE', fee_details: [] }, { id: reTxn });
      this.make('refund', when, { amount: refunded, charge: chId, payment_intent: piId, balance_transaction: reTxn, currency: 'usd', status: 'succeeded', reason: 'requested_by_customer', metadata: {} }, { id: reId });
    }
    const disputed = rng.chance(0.005);
    if (disputed) {
      const when = this.between(at, Math.min(this.now, at + 30 * DAY));
      this.make('dispute', when, { amount, charge: chId, payment_intent: piId, currency: 'usd', status: rng.pick(['needs_response', 'won', 'lost']), reason: 'fraudulent', balance_transactions: [], is_charge_refundable: false });
    }
    this.make('charge', at, {
      amount, amount_captured: amount, amount_refunded: refunded, refunded: refunded === amount, captured: true, paid: true, status: 'succeeded', disputed,
      balance_transaction: txnId, customer, invoice, payment_intent: piId, payment_method: pm, currency: 'usd', description: invoice ? 'Subscription payment' : 'Checkout payment',
      receipt_url: null, outcome: { network_status: 'approved_by_network', reason: null, risk_level: 'normal', risk_score: rng.int(0, 60), seller_message: 'Payment complete.', type: 'authorized' },
      calculated_statement_descriptor: 'LEDGERLINE',
    }, { id: chId });
    this.make('payment_intent', at, {
      amount, amount_received: amount, amount_capturable: 0, currency: 'usd', customer, invoice, latest_charge: chId, payment_method: pm, status: 'succeeded',
      canceled_at: null, cancellation_reason: null, client_secret: `${piId}_secret_${this.ids.chars(25)}`, confirmation_method: 'automatic', capture_method: 'automatic',
    }, { id: piId });
    return { pi: piId, charge: chId };
  }

  private checkout(customer: string, pm: string, at: number): void {
    const price = this.rng.pick(this.oneTime.length ? this.oneTime : this.prices);
    const quantity = this.rng.int(1, 3);
    const amount = (price.obj.unit_amount as number) * quantity;
    const { pi } = this.payment(customer, pm, amount, at, null);
    const id = this.ids.next('checkout.session');
    this.make('item', at, { price: price.obj, quantity, amount_subtotal: amount, amount_total: amount, amount_discount: 0, amount_tax: 0, currency: 'usd', description: String(price.obj.product) }, { collection: 'checkout.session/line_items', owner: id });
    this.make('checkout.session', at, {
      customer, payment_intent: pi, mode: 'payment', status: 'complete', payment_status: 'paid', amount_subtotal: amount, amount_total: amount, currency: 'usd',
      subscription: null, invoice: null, setup_intent: null, payment_link: null, url: null, expires_at: at + DAY, created: at,
    }, { id });
  }

  private payouts(): void {
    for (let at = this.start + 7 * DAY; at < this.now; at += 7 * DAY) {
      const amount = this.rng.int(1000, 50000) * 100;
      const id = this.ids.next('payout');
      this.make('balance_transaction', at, { amount: -amount, fee: 0, net: -amount, currency: 'usd', type: 'payout', reporting_category: 'payout', source: id, status: 'available', available_on: at, description: 'STRIPE PAYOUT', fee_details: [] });
      this.make('payout', at, { amount, arrival_date: at + 2 * DAY, currency: 'usd', status: at + 2 * DAY < this.now ? 'paid' : 'in_transit', balance_transaction: null, failure_balance_transaction: null, destination: null, original_payout: null, reversed_by: null }, { id });
    }
  }

  /** At least one object of every other listable resource, cloned from its fixture with real references. */
  private longTail(): void {
    const { store } = this.emu;
    const count = Math.max(1, Math.round(2 * this.opts.scale));
    type Job = { route: string; collection: string; object: string; link?: { field: string; parents: string[] } };
    const jobs: Job[] = [];
    const seen = new Set<string>();
    for (const route of this.emu.lists.values()) {
      // Events are recorded for what was seeded, not cloned.
      if (route.virtual || route.collection === 'event' || seen.has(`${route.collection}|${route.objects?.join() ?? ''}`)) continue;
      seen.add(`${route.collection}|${route.objects?.join() ?? ''}`);
      const objects = route.objects ?? route.spec.objects;
      for (const object of objects) {
        if (store.existing(route.collection)?.all().some((e) => e.type === object)) continue;
        jobs.push({ route: route.path, collection: route.collection, object, link: route.link });
      }
    }
    // Objects whose required references are not seeded yet wait for a later round.
    let pending = jobs;
    for (let round = 0; round < 6 && pending.length; round++) {
      const next: Job[] = [];
      for (const job of pending) {
        try {
          for (let k = 0; k < count; k++) this.generic(job.object, job.collection, job.link);
        } catch (err) {
          if (!(err instanceof MissingReference)) throw err;
          next.push(job);
        }
      }
      pending = next;
    }
    if (pending.length) throw new Error(`could not seed ${pending.map((j) => j.route).join(', ')}`);
  }

  private generic(object: string, collection: string, link?: { field: string; parents: string[] }): void {
    const created = this.between(this.start, this.now);
    const set: JsonObject = {};
    let owner: string | undefined;
    if (link) {
      const parentType = link.parents[0]!;
      let parent = this.emu.store.sample(parentType, this.rng.next);
      if (!parent) {
        this.generic(parentType, collectionFor(parentType));
        parent = this.emu.store.sample(parentType, this.rng.next)!;
      }
      if (link.field === '$owner') owner = parent.id;
      else set[link.field] = parent.id;
    }
    let key: string | undefined;
    let id: string | undefined;
    if (object === 'capability') {
      // Capability ids are names, unique per account only.
      id = this.rng.pick(['card_payments', 'transfers', 'us_bank_account_ach_payments']);
      key = `${String(set.account)}/${id}`;
      if (this.emu.store.collection(collection).get(key)) return;
    }
    for (const [field, parentType] of Object.entries(FILTER_PARENTS[object] ?? (object.startsWith('treasury.') ? { financial_account: 'treasury.financial_account' } : {}))) {
      if (field in set || object === parentType) continue;
      const parent = this.emu.store.sample(parentType, this.rng.next);
      if (!parent) throw new MissingReference(`no ${parentType} yet`);
      set[field] = parent.id;
    }
    if (object === 'financial_connections.account_owner' && owner) {
      // Owners are listed by their account's ownership id.
      const account = this.emu.store.find(['financial_connections.account'], owner)!;
      if (typeof account.obj.ownership !== 'string') account.obj = { ...account.obj, ownership: `fcaowns_${this.ids.chars(24)}` };
      set.ownership = account.obj.ownership;
    }
    if (object === 'card' || object === 'bank_account') {
      set.customer ??= null;
      set.account ??= null;
    }
    const entry = this.make(object, created, set, { collection, owner, key, id, refs: 'random' });
    if (object === 'account') {
      // A connected account's external_accounts list is built from its own collection.
      entry.obj = { ...entry.obj, external_accounts: embedded([], `/v1/accounts/${entry.id}/external_accounts`) };
    }
  }

  /** Sorts, rebuilds the required sub-lists of long-tail parents, deletes, and records recent events. */
  private finish(): void {
    const { store } = this.emu;
    for (const name of store.names()) store.collection(name).all();
    this.refreshTailParents();
    for (const customer of this.deletions) store.collection('customer').remove(customer);
    const since = this.now - 30 * DAY;
    const types = knownEventTypes(this.emu);
    const recent: Entry[] = [];
    for (const name of store.names()) {
      if (name === 'event') continue;
      for (const entry of store.collection(name).all()) if (entry.t >= since) recent.push(entry);
    }
    recent.sort((a, b) => a.t - b.t || a.seq - b.seq);
    for (const entry of recent) {
      const object = String(entry.obj.object);
      const type = createdEventType(object, entry.collection.name, types);
      if (type) recordEvent(this.emu, type, entry.obj, { created: entry.t, ids: this.ids, bulk: true });
    }
    for (const customer of this.deletions) {
      if (customer.t >= since) recordEvent(this.emu, 'customer.deleted', customer.obj, { created: this.between(customer.t, this.now), ids: this.ids, bulk: true });
    }
    store.collection('event').all();
  }

  /** Sub-lists the schema requires, for parents seeded generically (the billing objects built their own). */
  private refreshTailParents(): void {
    const { store, spec } = this.emu;
    const done = new Set(['invoice', 'subscription']);
    for (const name of store.names()) {
      for (const entry of store.collection(name).all()) {
        const object = String(entry.obj.object);
        if (done.has(object)) continue;
        const info = spec.resources.get(object);
        if (!info) continue;
        let obj = entry.obj;
        for (const field of info.listFields.keys()) {
          if (!info.schema.required?.includes(field) && !(object === 'account' && field === 'external_accounts')) continue;
          const list = embeddedList(this.emu, obj, field);
          if (list) obj = { ...obj, [field]: list };
        }
        if (obj !== entry.obj) entry.obj = obj;
      }
    }
  }
}

function embedded(entries: Entry[], url: string): JsonObject {
  return { object: 'list', data: entries.slice(0, 10).map((e) => e.obj), has_more: entries.length > 10, url };
}


function createdEventType(object: string, collection: string, types: Set<string>): string | undefined {
  const candidates = [
    SPECIAL_CREATED_EVENTS[object],
    collection === 'customer_source' ? 'customer.source.created' : undefined,
    collection === 'external_account' ? 'account.external_account.created' : undefined,
    `${object}.created`,
    `${object.replaceAll('.', '_')}.created`,
  ];
  return candidates.find((t): t is string => !!t && types.has(t));
}
