// Billing periods in calendar time, as Stripe bills: a monthly subscription started on Jan 31
// renews on Feb 28 (29), then Mar 31 — the anchor day is kept, clamped to each month's length.

export type Interval = 'day' | 'week' | 'month' | 'year';

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month + 1, 0)).getUTCDate();

/** `t` (unix seconds) moved `count` intervals on, keeping the anchor's day of month. */
export function addInterval(t: number, interval: Interval, count: number, anchor = t): number {
  if (interval === 'day') return t + count * 86400;
  if (interval === 'week') return t + count * 7 * 86400;
  const d = new Date(t * 1000);
  const months = interval === 'month' ? count : 12 * count;
  const total = d.getUTCFullYear() * 12 + d.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total % 12;
  const day = Math.min(new Date(anchor * 1000).getUTCDate(), daysIn(year, month));
  return Math.floor(Date.UTC(year, month, day, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()) / 1000);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `14 Nov 2023`, as Stripe writes dates in proration descriptions. */
export function day(t: number): string {
  const d = new Date(t * 1000);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}
