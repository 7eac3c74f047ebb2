// A customer's balance (negative = credit they have, positive = what they owe), moved only with a
// customer balance transaction, as on Stripe: credit notes credit it, finalized invoices use it.
import type { Emulator } from '../context.ts';
import type { EventRequest } from '../events.ts';
import type { Entry } from '../store.ts';
import { createObject, updateObject } from '../writes.ts';

/** Moves the balance by `amount` (a customer_balance_transaction and customer.updated). */
export function adjustBalance(emu: Emulator, request: EventRequest, customer: Entry, amount: number, type: string, refs: { credit_note?: string; invoice?: string }): Entry {
  const ending = ((customer.obj.balance as number | undefined) ?? 0) + amount;
  const txn = createObject(emu, request, 'customer_balance_transaction', {
    amount,
    credit_note: refs.credit_note ?? null,
    currency: customer.obj.currency ?? 'usd',
    customer: customer.id,
    description: null,
    ending_balance: ending,
    invoice: refs.invoice ?? null,
    metadata: {},
    type,
  }, { event: null });
  updateObject(emu, request, customer, { balance: ending });
  return txn;
}

/** What a balance does to an invoice total: the amount due and the balance left afterwards. */
export function applyBalance(total: number, balance: number): { amountDue: number; endingBalance: number } {
  const owed = total + balance;
  return owed >= 0 ? { amountDue: owed, endingBalance: 0 } : { amountDue: 0, endingBalance: owed };
}
