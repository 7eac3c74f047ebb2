// Stripe's test cards: the `pm_card_*` payment methods, `tok_*` tokens and card numbers of the
// testing docs, and what paying with each does. A card's behaviour follows it through the
// payment method created from it (looked up by brand and last4), so a `pm_…` saved from
// `pm_card_chargeDeclinedInsufficientFunds` keeps declining.
import type { JsonObject } from '../spec.ts';

export interface Decline {
  /** The error `code`: `card_declined`, `expired_card`, `incorrect_cvc`, `processing_error`. */
  code: string;
  decline_code: string;
  message: string;
}

export interface TestCard {
  brand: string;
  last4: string;
  funding: 'credit' | 'debit' | 'prepaid';
  country: string;
  /** What a payment with this card does (none: it succeeds). */
  decline?: Decline;
  /** Saving the card (attach, setup intent) fails too: Stripe checks the card when it is saved. */
  declinesOnSave?: boolean;
}

const declined = (decline_code: string, message = 'Your card was declined.', code = 'card_declined'): Decline => ({ code, decline_code, message });

/** By the name after `pm_card_` / `tok_`. */
const CARDS: Record<string, TestCard & { number: string }> = {
  visa: { number: '4242424242424242', brand: 'visa', last4: '4242', funding: 'credit', country: 'US' },
  visa_debit: { number: '4000056655665556', brand: 'visa', last4: '5556', funding: 'debit', country: 'US' },
  mastercard: { number: '5555555555554444', brand: 'mastercard', last4: '4444', funding: 'credit', country: 'US' },
  mastercard_debit: { number: '5200828282828210', brand: 'mastercard', last4: '8210', funding: 'debit', country: 'US' },
  amex: { number: '378282246310005', brand: 'amex', last4: '0005', funding: 'credit', country: 'US' },
  discover: { number: '6011111111111117', brand: 'discover', last4: '1117', funding: 'credit', country: 'US' },
  // Saved without trouble, declined when charged: what a failing renewal needs.
  chargeCustomerFail: { number: '4000000000000341', brand: 'visa', last4: '0341', funding: 'credit', country: 'US', decline: declined('generic_decline') },
  chargeDeclined: { number: '4000000000000002', brand: 'visa', last4: '0002', funding: 'credit', country: 'US', decline: declined('generic_decline'), declinesOnSave: true },
  chargeDeclinedInsufficientFunds: { number: '4000000000009995', brand: 'visa', last4: '9995', funding: 'credit', country: 'US', decline: declined('insufficient_funds', 'Your card has insufficient funds.'), declinesOnSave: true },
  chargeDeclinedLostCard: { number: '4000000000009987', brand: 'visa', last4: '9987', funding: 'credit', country: 'US', decline: declined('lost_card'), declinesOnSave: true },
  chargeDeclinedStolenCard: { number: '4000000000009979', brand: 'visa', last4: '9979', funding: 'credit', country: 'US', decline: declined('stolen_card'), declinesOnSave: true },
  chargeDeclinedExpiredCard: { number: '4000000000000069', brand: 'visa', last4: '0069', funding: 'credit', country: 'US', decline: declined('expired_card', 'Your card has expired.', 'expired_card'), declinesOnSave: true },
  chargeDeclinedIncorrectCvc: { number: '4000000000000127', brand: 'visa', last4: '0127', funding: 'credit', country: 'US', decline: declined('incorrect_cvc', "Your card's security code is incorrect.", 'incorrect_cvc'), declinesOnSave: true },
  chargeDeclinedProcessingError: { number: '4000000000000119', brand: 'visa', last4: '0119', funding: 'credit', country: 'US', decline: declined('processing_error', 'An error occurred while processing your card. Try again in a little bit.', 'processing_error'), declinesOnSave: true },
};
// Spellings seen in the wild for the same cards.
CARDS.visa_chargeDeclined = CARDS.chargeDeclined!;
CARDS.visa_chargeDeclinedInsufficientFunds = CARDS.chargeDeclinedInsufficientFunds!;
CARDS.visa_chargeDeclinedProcessingError = CARDS.chargeDeclinedProcessingError!;

const byNumber = new Map(Object.values(CARDS).map((c) => [c.number, c]));
const byLast4 = new Map(Object.values(CARDS).map((c) => [`${c.brand}/${c.last4}`, c]));

/** The test card a `pm_card_…` id, a `tok_…` token or a card number names. */
export function testCard(ref: string): TestCard | undefined {
  const name = /^(?:pm_card_|tok_)(.+)$/.exec(ref)?.[1];
  if (name) return CARDS[name];
  return byNumber.get(ref.replaceAll(' ', ''));
}

/** Whether `id` is one of Stripe's test payment method ids (`pm_card_visa`…), not a stored one. */
export const isTestPaymentMethodId = (id: string): boolean => id.startsWith('pm_card_') && testCard(id) !== undefined;

/** How a stored card payment method behaves (cards not in the table succeed). */
export function cardBehaviour(pm: JsonObject): TestCard | undefined {
  const card = pm.card as JsonObject | null | undefined;
  if (!card) return undefined;
  return byLast4.get(`${String(card.brand)}/${String(card.last4)}`);
}

/** A stable fingerprint per card number, as Stripe gives the same card the same one. */
export function fingerprintOf(card: TestCard): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let h = 2166136261;
  let out = '';
  for (let i = 0; i < 16; i++) {
    h = Math.imul(h ^ (card.last4.charCodeAt(i % 4) + card.brand.charCodeAt(i % card.brand.length) + i), 16777619) >>> 0;
    out += alphabet[h % 62];
  }
  return out;
}
