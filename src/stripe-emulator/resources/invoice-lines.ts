// What an invoice bills, as a pure computation shared by real invoices, the upcoming invoice and
// credit notes: line items from subscription items (one period) and invoice items, the discount
// spread over the discountable lines, exclusive and inclusive tax rates per line, and the
// invoice's totals (subtotal, discount and tax amounts, total, amount_due).
import type { Emulator } from '../context.ts';
import { instantiate } from '../objects.ts';
import type { JsonObject } from '../spec.ts';
import { discountApplies } from './coupons.ts';

export interface Period {
  start: number;
  end: number;
}

/** One line to bill, before discounts and taxes. */
export interface LineSource {
  type: 'subscription' | 'invoiceitem';
  amount: number;
  quantity: number | null;
  price: JsonObject | null;
  description: string | null;
  period: Period;
  proration: boolean;
  discountable: boolean;
  /** The line's own rates; the invoice's default rates apply when empty. */
  taxRates: JsonObject[];
  metadata: JsonObject;
  invoiceItem?: string;
  subscription: string | null;
  subscriptionItem?: string | null;
}

export interface Totals {
  subtotal: number;
  subtotal_excluding_tax: number;
  total: number;
  total_excluding_tax: number;
  tax: number | null;
  amount_due: number;
  total_discount_amounts: JsonObject[];
  total_tax_amounts: JsonObject[];
}

export interface Priced {
  /** Line item objects, ids included. */
  lines: JsonObject[];
  totals: Totals;
}

const SYMBOLS: Record<string, string> = { usd: '$', eur: '€', gbp: '£', cad: 'CA$', aud: 'A$', jpy: '¥' };
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);

export function money(amount: number, currency: string): string {
  const value = ZERO_DECIMAL.has(currency) ? String(amount) : (amount / 100).toFixed(2);
  const symbol = SYMBOLS[currency];
  return symbol ? `${symbol}${value}` : `${value} ${currency.toUpperCase()}`;
}

export function productName(emu: Emulator, product: unknown): string {
  if (product && typeof product === 'object') return String((product as JsonObject).name);
  const entry = typeof product === 'string' ? emu.store.existing('product')?.get(product) : undefined;
  return entry ? String(entry.obj.name) : String(product);
}

/** The line a subscription item bills for one period: `2 × Pro (at $20.00 / month)`. */
export function subscriptionLine(emu: Emulator, item: JsonObject, subscription: JsonObject, period: Period): LineSource {
  const price = item.price as JsonObject;
  const quantity = (item.quantity as number | undefined) ?? 1;
  const recurring = price.recurring as JsonObject | null;
  const every = recurring ? ` / ${(recurring.interval_count as number) > 1 ? `${String(recurring.interval_count)} ` : ''}${String(recurring.interval)}${(recurring.interval_count as number) > 1 ? 's' : ''}` : '';
  return {
    type: 'subscription',
    amount: (price.unit_amount as number) * quantity,
    quantity,
    price,
    description: `${quantity} × ${productName(emu, price.product)} (at ${money(price.unit_amount as number, price.currency as string)}${every})`,
    period,
    proration: false,
    discountable: true,
    taxRates: (item.tax_rates as JsonObject[] | null) ?? [],
    metadata: (subscription.metadata as JsonObject) ?? {},
    subscription: subscription.id as string,
    subscriptionItem: item.id as string,
  };
}

/** The line a pending (or draft) invoice item becomes. */
export function invoiceItemLine(item: JsonObject): LineSource {
  return {
    type: 'invoiceitem',
    amount: item.amount as number,
    quantity: item.quantity as number,
    price: (item.price as JsonObject | null) ?? null,
    description: (item.description as string | null) ?? null,
    period: item.period as Period,
    proration: item.proration === true,
    discountable: item.discountable === true,
    taxRates: (item.tax_rates as JsonObject[] | null) ?? [],
    metadata: (item.metadata as JsonObject) ?? {},
    invoiceItem: item.id as string,
    subscription: (item.subscription as string | null) ?? null,
    subscriptionItem: (item.subscription_item as string | null | undefined) ?? null,
  };
}

/** A stored line read back as a source (to re-price a draft). */
export function lineAsSource(line: JsonObject): LineSource {
  return {
    type: line.type as 'subscription' | 'invoiceitem',
    amount: line.amount as number,
    quantity: (line.quantity as number | null) ?? null,
    price: (line.price as JsonObject | null) ?? null,
    description: (line.description as string | null) ?? null,
    period: line.period as Period,
    proration: line.proration === true,
    discountable: line.discountable === true,
    taxRates: (line.tax_rates as JsonObject[] | null) ?? [],
    metadata: (line.metadata as JsonObject) ?? {},
    invoiceItem: (line.invoice_item as string | undefined) ?? undefined,
    subscription: (line.subscription as string | null) ?? null,
    subscriptionItem: (line.subscription_item as string | null | undefined) ?? null,
  };
}

export interface PriceContext {
  currency: string;
  /** The invoice's discount (customer's, subscription's or its own), if any. */
  discount: JsonObject | null;
  defaultTaxRates: JsonObject[];
  /** When the money is billed (a repeating discount may have ended by then). */
  at: number;
  /** Makes each line's id (`il_…`, or `il_tmp_…` for the upcoming invoice). */
  lineId: (source: LineSource, index: number) => string;
}

/** Spreads `total` over `weights` in proportion, the rounding remainder on the largest weight. */
function allocate(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0 || total <= 0) return weights.map(() => 0);
  const out = weights.map((w) => Math.floor((total * w) / sum));
  const rest = total - out.reduce((a, b) => a + b, 0);
  const largest = weights.indexOf(Math.max(...weights));
  out[largest]! += rest;
  return out;
}

export function priceLines(emu: Emulator, sources: readonly LineSource[], context: PriceContext): Priced {
  const { currency } = context;
  const discount = discountApplies(context.discount, context.at, currency) ? context.discount : null;
  const coupon = discount?.coupon as JsonObject | undefined;
  // Discounts apply to the positive amounts of discountable lines.
  const weights = sources.map((s) => (s.discountable && s.amount > 0 ? s.amount : 0));
  let discounts: number[];
  if (!coupon) discounts = sources.map(() => 0);
  else if (coupon.percent_off !== null && coupon.percent_off !== undefined) discounts = weights.map((w) => Math.round((w * (coupon.percent_off as number)) / 100));
  else discounts = allocate(Math.min(coupon.amount_off as number, weights.reduce((a, b) => a + b, 0)), weights);

  const byRate = new Map<string, { rate: JsonObject; amount: number; taxable: number }>();
  let exclusiveTax = 0;
  let inclusiveTax = 0;
  let anyRate = false;
  let subtotalExcludingTax = 0;
  const lines = sources.map((source, i) => {
    const rates = source.taxRates.length ? source.taxRates : context.defaultTaxRates;
    if (rates.length) anyRate = true;
    const net = source.amount - discounts[i]!;
    const inclusivePct = rates.filter((r) => r.inclusive === true).reduce((a, r) => a + (r.percentage as number), 0);
    // Inclusive taxes are inside the amount: the taxable base is what is left without them.
    const base = inclusivePct ? Math.round(net / (1 + inclusivePct / 100)) : net;
    const inclusiveOnAmount = inclusivePct ? source.amount - Math.round(source.amount / (1 + inclusivePct / 100)) : 0;
    const taxAmounts: JsonObject[] = [];
    let inclusiveLeft = net - base;
    const inclusiveRates = rates.filter((r) => r.inclusive === true);
    for (const rate of rates) {
      let amount: number;
      if (rate.inclusive === true) {
        const last = rate === inclusiveRates[inclusiveRates.length - 1];
        amount = last ? inclusiveLeft : Math.round((base * (rate.percentage as number)) / 100);
        inclusiveLeft -= amount;
        inclusiveTax += amount;
      } else {
        amount = Math.round((base * (rate.percentage as number)) / 100);
        exclusiveTax += amount;
      }
      taxAmounts.push({ amount, inclusive: rate.inclusive === true, tax_rate: rate.id, taxability_reason: null, taxable_amount: base });
      const agg = byRate.get(rate.id as string) ?? { rate, amount: 0, taxable: 0 };
      agg.amount += amount;
      agg.taxable += base;
      byRate.set(rate.id as string, agg);
    }
    const excludingTax = source.amount - inclusiveOnAmount;
    subtotalExcludingTax += excludingTax;
    return instantiate(emu.spec, 'line_item', {
      id: context.lineId(source, i),
      created: context.at,
      set: {
        amount: source.amount,
        amount_excluding_tax: excludingTax,
        currency,
        description: source.description,
        discount_amounts: discount ? [{ amount: discounts[i]!, discount: discount.id }] : [],
        discountable: source.discountable,
        discounts: discount && source.discountable ? [discount.id] : [],
        invoice_item: source.type === 'invoiceitem' ? (source.invoiceItem ?? null) : null,
        metadata: source.metadata,
        period: source.period,
        price: source.price,
        proration: source.proration,
        proration_details: { credited_items: null },
        quantity: source.quantity,
        subscription: source.subscription,
        subscription_item: source.subscriptionItem ?? null,
        tax_amounts: taxAmounts,
        tax_rates: rates,
        type: source.type,
        unit_amount_excluding_tax: source.quantity ? decimal(excludingTax / source.quantity) : null,
      },
    });
  });
  const subtotal = sources.reduce((a, s) => a + s.amount, 0);
  const totalDiscount = discounts.reduce((a, b) => a + b, 0);
  const total = subtotal - totalDiscount + exclusiveTax;
  return {
    lines,
    totals: {
      subtotal,
      subtotal_excluding_tax: subtotalExcludingTax,
      total,
      total_excluding_tax: total - exclusiveTax - inclusiveTax,
      tax: anyRate ? exclusiveTax + inclusiveTax : null,
      amount_due: Math.max(0, total),
      total_discount_amounts: discount ? [{ amount: totalDiscount, discount: discount.id }] : [],
      total_tax_amounts: [...byRate.values()].map(({ rate, amount, taxable }) => ({ amount, inclusive: rate.inclusive === true, tax_rate: rate.id, taxability_reason: null, taxable_amount: taxable })),
    },
  };
}

/** A decimal string with at most 12 places, as Stripe writes `unit_amount_excluding_tax`. */
function decimal(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(12)));
}
