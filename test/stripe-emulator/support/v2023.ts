// The emulator speaks API version 2023-08-16; the SDK's types describe a newer one, which moved
// or dropped some fields (a subscription's period, an invoice's charge and payment intent…).
// These are the 2023-08-16 shapes the tests read, for casting SDK results.
import type Stripe from 'stripe';

export type LineItem = Stripe.InvoiceLineItem & { type: 'subscription' | 'invoiceitem'; proration: boolean; invoice_item?: string; quantity: number | null };
export type Invoice = Omit<Stripe.Invoice, 'lines'> & {
  id?: string;
  paid: boolean;
  subscription: string | null;
  charge: string | null;
  payment_intent: string | Stripe.PaymentIntent | null;
  lines: Stripe.ApiList<LineItem>;
};
export type Subscription = Stripe.Subscription & { current_period_start: number; current_period_end: number };
export type Charge = Stripe.Charge & { invoice: string | null };
export type PaymentIntent = Stripe.PaymentIntent & { invoice: string | null };
export type CreditNote = Stripe.CreditNote & { refund: string | null };
export type InvoiceItem = Stripe.InvoiceItem & { unit_amount: number | null; proration: boolean };
export type Customer = Stripe.Customer & { discount: (Stripe.Discount & { coupon: Stripe.Coupon }) | null };
