// Credit notes against finalized invoices: on an open invoice (pre-payment) they lower what is
// due; on a paid one (post-payment) their total goes to a refund of the invoice's charge, the
// customer's credit balance, or out of band. Void reverses the effect. Also the virtual previews
// (`/v1/credit_notes/preview` and `/preview/lines`), computed by the same code without storing.
//
// Events: credit_note.created, .updated, .voided; invoice.updated for the invoice's new credit
// totals; refund.created + charge.refunded for a refund; customer.updated for a balance credit.
import type { Router } from '../api.ts';
import type { Emulator } from '../context.ts';
import { invalid, StripeError } from '../errors.ts';
import type { EventRequest } from '../events.ts';
import { expandObject, renderObject } from '../expand.ts';
import { instantiate } from '../objects.ts';
import type { Params } from '../params.ts';
import type { JsonObject } from '../spec.ts';
import type { Entry } from '../store.ts';
import { createObject, findLive, mergeMetadata, rejectUnsupported, replaceSilently, updateObject } from '../writes.ts';
import { adjustBalance } from './balance.ts';
import { taxRates } from './coupons.ts';
import { renderVirtualList } from './paging.ts';
import { cancelPaymentIntent, createRefund } from './payments.ts';

const CREATE = ['amount', 'credit_amount', 'invoice', 'lines', 'memo', 'metadata', 'out_of_band_amount', 'reason', 'refund_amount'] as const;

interface Plan {
  invoice: Entry;
  kind: 'pre_payment' | 'post_payment';
  lines: JsonObject[];
  subtotal: number;
  discount: number;
  exclusiveTax: number;
  inclusiveTax: number;
  total: number;
  taxAmounts: JsonObject[];
  discountAmounts: JsonObject[];
  refund: number;
  credit: number;
  outOfBand: number;
}

const liveNotes = (emu: Emulator, invoice: string) => emu.store.collection('credit_note').indexed('invoice', invoice).filter((e) => e.obj.status !== 'void');

/** How much of each invoice line earlier credit notes already credited. */
function creditedByLine(emu: Emulator, invoice: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const note of liveNotes(emu, invoice)) {
    for (const line of emu.store.collection('credit_note_line_item').indexed('$owner', note.id)) {
      const ref = line.obj.invoice_line_item;
      if (typeof ref === 'string') out.set(ref, (out.get(ref) ?? 0) + (line.obj.amount as number));
    }
  }
  return out;
}

/** What a credit note would be, checked against the invoice; nothing is stored. */
function planCreditNote(emu: Emulator, params: Params, lineId: (i: number) => string): Plan {
  const invoice = findLive(emu, 'invoice', String(params.invoice), 'invoice');
  const inv = invoice.obj;
  const status = inv.status as string;
  if (status !== 'open' && status !== 'paid') throw invalid(`You can only create credit notes for open or paid invoices; ${invoice.id} is ${status}.`, 'invoice', 'invoice_not_editable');
  const kind = status === 'paid' ? 'post_payment' : 'pre_payment';
  const invoiceLines = new Map(emu.store.collection('line_item').indexed('$owner', invoice.id).map((e) => [e.id, e.obj]));
  const credited = creditedByLine(emu, invoice.id);
  const lines: JsonObject[] = [];
  const byRate = new Map<string, JsonObject>();
  let subtotal = 0;
  let discount = 0;
  let exclusiveTax = 0;
  let inclusiveTax = 0;
  const addTax = (rate: JsonObject, amount: number, taxable: number) => {
    const agg = byRate.get(rate.id as string) ?? { amount: 0, inclusive: rate.inclusive === true, tax_rate: rate.id, taxability_reason: null, taxable_amount: 0 };
    agg.amount = (agg.amount as number) + amount;
    agg.taxable_amount = (agg.taxable_amount as number) + taxable;
    byRate.set(rate.id as string, agg);
    if (rate.inclusive === true) inclusiveTax += amount;
    else exclusiveTax += amount;
  };
  const given = params.lines as Params[] | undefined;
  if (given && params.amount !== undefined) throw invalid('Pass either lines or amount, not both.', 'amount');
  (given ?? []).forEach((p, i) => {
    const at = (name: string) => `lines[${i}][${name}]`;
    if (p.type === 'invoice_line_item') {
      const line = invoiceLines.get(String(p.invoice_line_item));
      if (!line) throw new StripeError(400, `No such invoice line item on ${invoice.id}: '${String(p.invoice_line_item)}'`, { code: 'resource_missing', param: at('invoice_line_item') });
      const lineAmount = line.amount as number;
      const quantity = (p.quantity as number | undefined) ?? (p.amount === undefined ? ((line.quantity as number | null) ?? 1) : null);
      const amount = (p.amount as number | undefined) ?? Math.round((lineAmount / ((line.quantity as number | null) || 1)) * quantity!);
      const left = lineAmount - (credited.get(line.id as string) ?? 0);
      if (amount < 1) throw invalid('The credited amount must be positive.', at('amount'));
      if (amount > left) throw invalid(`The amount to credit (${amount}) is more than what is left to credit on this line (${left}).`, at('amount'));
      credited.set(line.id as string, (credited.get(line.id as string) ?? 0) + amount);
      const share = amount / lineAmount;
      const lineDiscounts = ((line.discount_amounts as JsonObject[] | null) ?? []).map((d) => ({ amount: Math.round((d.amount as number) * share), discount: d.discount }));
      const lineDiscount = lineDiscounts.reduce((a, d) => a + d.amount, 0);
      const taxes = ((line.tax_amounts as JsonObject[] | null) ?? []).map((t) => ({ amount: Math.round((t.amount as number) * share), inclusive: t.inclusive === true, tax_rate: t.tax_rate as string, taxability_reason: null, taxable_amount: Math.round(((t.taxable_amount as number | null) ?? 0) * share) }));
      const rates = (line.tax_rates as JsonObject[]) ?? [];
      for (const t of taxes) addTax(rates.find((r) => r.id === t.tax_rate) ?? { id: t.tax_rate, inclusive: t.inclusive }, t.amount, t.taxable_amount);
      subtotal += amount;
      discount += lineDiscount;
      const inclusive = taxes.filter((t) => t.inclusive).reduce((a, t) => a + t.amount, 0);
      lines.push(instantiate(emu.spec, 'credit_note_line_item', {
        id: lineId(i),
        created: emu.clock.now(),
        set: {
          amount, amount_excluding_tax: amount - inclusive, description: (p.description as string | undefined) ?? line.description, discount_amount: lineDiscount, discount_amounts: lineDiscounts,
          invoice_line_item: line.id, quantity, tax_amounts: taxes, tax_rates: rates, type: 'invoice_line_item', unit_amount: null, unit_amount_decimal: null,
          unit_amount_excluding_tax: quantity ? String((amount - inclusive) / quantity) : null,
        },
      }));
    } else if (p.type === 'custom_line_item') {
      if (p.unit_amount === undefined) throw invalid(`Missing required param: ${at('unit_amount')}.`, at('unit_amount'), 'parameter_missing');
      const quantity = (p.quantity as number | undefined) ?? 1;
      const amount = (p.unit_amount as number) * quantity;
      if (amount < 1) throw invalid('The credited amount must be positive.', at('unit_amount'));
      const rates = taxRates(emu, p.tax_rates, at('tax_rates'));
      const inclusivePct = rates.filter((r) => r.inclusive === true).reduce((a, r) => a + (r.percentage as number), 0);
      const base = inclusivePct ? Math.round(amount / (1 + inclusivePct / 100)) : amount;
      const taxes = rates.map((r) => ({ amount: Math.round((base * (r.percentage as number)) / 100), inclusive: r.inclusive === true, tax_rate: r.id, taxability_reason: null, taxable_amount: base }));
      for (const [k, t] of taxes.entries()) addTax(rates[k]!, t.amount, t.taxable_amount);
      subtotal += amount;
      const inclusive = taxes.filter((t) => t.inclusive).reduce((a, t) => a + t.amount, 0);
      lines.push(instantiate(emu.spec, 'credit_note_line_item', {
        id: lineId(i),
        created: emu.clock.now(),
        set: {
          amount, amount_excluding_tax: amount - inclusive, description: (p.description as string | undefined) ?? null, discount_amount: 0, discount_amounts: [], invoice_line_item: null,
          quantity, tax_amounts: taxes, tax_rates: rates, type: 'custom_line_item', unit_amount: p.unit_amount, unit_amount_decimal: String(p.unit_amount), unit_amount_excluding_tax: String((amount - inclusive) / quantity),
        },
      }));
    } else {
      throw invalid(`Invalid type: must be one of custom_line_item, invoice_line_item`, at('type'));
    }
  });
  if (!given) {
    if (params.amount === undefined) throw invalid('You must pass either lines or amount.', 'amount', 'parameter_missing');
    subtotal = params.amount as number;
    if (subtotal < 1) throw invalid('The credit note amount must be positive.', 'amount');
  }
  const total = subtotal - discount + exclusiveTax;
  const already = liveNotes(emu, invoice.id).reduce((a, e) => a + (e.obj.total as number), 0);
  // Before payment, what is still due; after, the invoice's total (paid by card or by balance).
  const creditable = kind === 'pre_payment' ? (inv.amount_remaining as number) : (inv.total as number) - (inv.pre_payment_credit_notes_amount as number) - (inv.post_payment_credit_notes_amount as number);
  if (total > creditable) {
    throw invalid(`The credit note total (${total}) is more than what can still be credited on this invoice (${creditable}; ${already} already credited).`, given ? 'lines' : 'amount');
  }
  let refund = (params.refund_amount as number | undefined) ?? 0;
  let credit = (params.credit_amount as number | undefined) ?? 0;
  const outOfBand = (params.out_of_band_amount as number | undefined) ?? 0;
  if (kind === 'pre_payment' && (refund || credit || outOfBand)) throw invalid('refund_amount, credit_amount and out_of_band_amount are only for credit notes on paid invoices.', refund ? 'refund_amount' : credit ? 'credit_amount' : 'out_of_band_amount');
  if (kind === 'post_payment') {
    // Nothing said: the customer's balance is credited.
    if (!refund && !credit && !outOfBand) credit = total;
    if (refund + credit + outOfBand !== total) {
      throw invalid(`The sum of credit amount, refund amount and out of band amount (${refund + credit + outOfBand}) must equal the credit note amount (${total}).`, 'refund_amount');
    }
    if (refund) {
      const charge = typeof inv.charge === 'string' ? emu.store.collection('charge').get(inv.charge) : undefined;
      const refundable = charge ? (charge.obj.amount_captured as number) - (charge.obj.amount_refunded as number) : 0;
      if (!charge) throw invalid('This invoice was not paid by a charge, so nothing can be refunded: use credit_amount or out_of_band_amount.', 'refund_amount');
      if (refund > refundable) throw invalid(`The refund amount (${refund}) is more than what is left to refund on ${charge.id} (${refundable}).`, 'refund_amount');
    }
  } else {
    refund = 0;
    credit = 0;
  }
  return {
    invoice, kind, lines, subtotal, discount, exclusiveTax, inclusiveTax, total,
    taxAmounts: [...byRate.values()],
    discountAmounts: discount ? [{ amount: discount, discount: (inv.discount as JsonObject | null)?.id ?? (inv.discounts as string[])[0] }] : [],
    refund, credit, outOfBand,
  };
}

function noteFields(emu: Emulator, plan: Plan, params: Params, id: string): JsonObject {
  const inv = plan.invoice.obj;
  const count = emu.store.collection('credit_note').indexed('invoice', plan.invoice.id).length;
  return {
    amount: plan.total,
    amount_shipping: 0,
    currency: inv.currency,
    customer: inv.customer,
    customer_balance_transaction: null,
    discount_amount: plan.discount,
    discount_amounts: plan.discountAmounts,
    effective_at: emu.clock.now(),
    invoice: plan.invoice.id,
    memo: (params.memo as string | undefined) ?? null,
    metadata: mergeMetadata({}, params.metadata ?? {}),
    number: `${String(inv.number)}-CN-${String(count + 1).padStart(2, '0')}`,
    out_of_band_amount: plan.outOfBand || null,
    pdf: `https://pay.stripe.com/credit_notes/${emu.account.id}/${id}/pdf`,
    reason: (params.reason as string | undefined) ?? null,
    refund: null,
    shipping_cost: null,
    status: 'issued',
    subtotal: plan.subtotal,
    subtotal_excluding_tax: plan.subtotal - plan.inclusiveTax,
    tax_amounts: plan.taxAmounts,
    total: plan.total,
    total_excluding_tax: plan.total - plan.exclusiveTax - plan.inclusiveTax,
    type: plan.kind,
    voided_at: null,
  };
}

function createCreditNote(emu: Emulator, request: EventRequest, params: Params): Entry {
  const plan = planCreditNote(emu, params, () => emu.ids.next('credit_note_line_item'));
  const id = emu.ids.next('credit_note');
  for (const line of plan.lines) createObject(emu, request, 'credit_note_line_item', line, { id: line.id as string, owner: id, event: null });
  const fields = noteFields(emu, plan, params, id);
  const inv = plan.invoice.obj;
  if (plan.refund) {
    const charge = emu.store.collection('charge').get(String(inv.charge))!;
    fields.refund = createRefund(emu, request, charge, plan.refund, { reason: null, metadata: {} }).id;
  }
  if (plan.credit) {
    const customer = emu.store.collection('customer').get(String(inv.customer))!;
    fields.customer_balance_transaction = adjustBalance(emu, request, customer, -plan.credit, 'credit_note', { credit_note: id, invoice: plan.invoice.id }).id;
  }
  const note = createObject(emu, request, 'credit_note', fields, { id });
  applyToInvoice(emu, request, plan.invoice, plan.kind, plan.total);
  return note;
}

/** An invoice's credit totals after a credit note is issued (`sign` 1) or voided (-1). */
function applyToInvoice(emu: Emulator, request: EventRequest, invoice: Entry, kind: string, total: number, sign = 1): void {
  const inv = invoice.obj;
  if (kind === 'post_payment') {
    updateObject(emu, request, invoice, { post_payment_credit_notes_amount: (inv.post_payment_credit_notes_amount as number) + sign * total });
    return;
  }
  const due = (inv.amount_due as number) - sign * total;
  const changes: JsonObject = { pre_payment_credit_notes_amount: (inv.pre_payment_credit_notes_amount as number) + sign * total, amount_due: due, amount_remaining: due - (inv.amount_paid as number) };
  const pi = typeof inv.payment_intent === 'string' ? emu.store.collection('payment_intent').get(inv.payment_intent) : undefined;
  if (inv.status === 'open' && due === 0) {
    // Credited in full: nothing is left to pay.
    if (pi && pi.obj.status !== 'canceled' && pi.obj.status !== 'succeeded') cancelPaymentIntent(emu, request, pi, null);
    updateObject(emu, request, invoice, { ...changes, status: 'paid', paid: true, next_payment_attempt: null, status_transitions: { ...(inv.status_transitions as JsonObject), paid_at: emu.clock.now() } });
    return;
  }
  if (pi && ['requires_payment_method', 'requires_confirmation'].includes(pi.obj.status as string)) replaceSilently(emu, pi, { amount: due });
  updateObject(emu, request, invoice, changes);
}

export function defineCreditNoteRoutes(router: Router): void {
  router.define('POST', '/v1/credit_notes', (call) => {
    rejectUnsupported(call, CREATE, 'POST /v1/credit_notes');
    return renderObject(call.emu, createCreditNote(call.emu, call.request, call.params), call.expand);
  });

  router.define('POST', '/v1/credit_notes/{id}', (call) => {
    rejectUnsupported(call, ['memo', 'metadata'], 'POST /v1/credit_notes/{id}');
    const note = findLive(call.emu, 'credit_note', call.pathParams.id!);
    const changes: JsonObject = {};
    if (call.params.memo !== undefined) changes.memo = call.params.memo || null;
    if (call.params.metadata !== undefined) changes.metadata = mergeMetadata(note.obj.metadata, call.params.metadata);
    updateObject(call.emu, call.request, note, changes);
    return renderObject(call.emu, note, call.expand);
  });

  router.define('POST', '/v1/credit_notes/{id}/void', (call) => {
    rejectUnsupported(call, [], 'POST /v1/credit_notes/{id}/void');
    const { emu, request } = call;
    const note = findLive(emu, 'credit_note', call.pathParams.id!);
    const n = note.obj;
    if (n.status === 'void') throw invalid('This credit note is already void.', undefined, 'credit_note_already_voided');
    if (n.refund) throw invalid('A credit note that refunded a charge cannot be voided.');
    const invoice = emu.store.collection('invoice').get(String(n.invoice))!;
    if (n.type === 'pre_payment' && invoice.obj.status !== 'open') throw invalid(`The invoice of this credit note is ${String(invoice.obj.status)}: only credit notes of open invoices can be voided.`);
    if (typeof n.customer_balance_transaction === 'string') {
      const txn = emu.store.collection('customer_balance_transaction').get(n.customer_balance_transaction);
      const customer = emu.store.existing('customer')?.get(String(n.customer));
      if (txn && customer) adjustBalance(emu, request, customer, -(txn.obj.amount as number), 'credit_note', { credit_note: note.id });
    }
    updateObject(emu, request, note, { status: 'void', voided_at: emu.clock.now() }, 'credit_note.voided');
    applyToInvoice(emu, request, invoice, n.type as string, n.total as number, -1);
    return renderObject(emu, note, call.expand);
  });

  const preview = (params: Params, emu: Emulator) => {
    const tmp = String(params.invoice).replace(/^in_/, '');
    const plan = planCreditNote(emu, params, (i) => `cnli_tmp_${tmp}${i}`);
    const id = `cn_tmp_${tmp}`;
    return { plan, note: { ...instantiate(emu.spec, 'credit_note', { id, created: emu.clock.now(), set: noteFields(emu, plan, params, id) }) } };
  };

  router.define('GET', '/v1/credit_notes/preview', (call) => {
    const { plan, note } = preview(call.params, call.emu);
    const url = `/v1/credit_notes/preview/lines?invoice=${plan.invoice.id}`;
    const body = { ...note, lines: { object: 'list', data: plan.lines.slice(0, 10), has_more: plan.lines.length > 10, url } };
    return JSON.stringify(call.expand ? expandObject(call.emu, body, call.expand) : body);
  });

  router.define('GET', '/v1/credit_notes/preview/lines', (call) => {
    const { limit: _l, starting_after: _s, ending_before: _e, ...rest } = call.params;
    const { plan } = preview(rest, call.emu);
    return renderVirtualList(call.emu, plan.lines, call.params, '/v1/credit_notes/preview/lines', call.expand);
  });
}
