// Stripe-looking ids (`cus_` + 14 characters, `in_1Nnm…` + 24…), with the prefix and length
// each object has in the fixtures.
import type { Rng } from './rng.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Prefixes the fixtures do not show plainly (`il_tmp_…`, natural ids such as `US`). */
const PREFIX_OVERRIDES: Record<string, string> = {
  line_item: 'il_',
  capability: 'cap_',
  country_spec: 'cs_',
  exchange_rate: 'rate_',
  'reporting.report_type': 'rt_',
  tax_code: 'txcd_',
  'terminal.configuration': 'tmc_',
  'terminal.location': 'tml_',
  'terminal.reader': 'tmr_',
  'apps.secret': 'appsecret_',
  plan: 'price_',
};

export interface IdFactory {
  /** A new id for an object of this type. */
  next(object: string): string;
  /** A random string of `length` id characters (secrets, numbers). */
  chars(length: number): string;
}

export function createIdFactory(rng: Rng, fixtures: Record<string, { id?: unknown }>): IdFactory {
  const shapes = new Map<string, { prefix: string; length: number }>();
  const chars = (length: number) => {
    let out = '';
    for (let i = 0; i < length; i++) out += ALPHABET[Math.floor(rng.next() * 62)];
    return out;
  };
  const shape = (object: string) => {
    let s = shapes.get(object);
    if (!s) {
      const sample = fixtures[object]?.id;
      const id = typeof sample === 'string' ? sample : '';
      const cut = id.lastIndexOf('_');
      const prefix = PREFIX_OVERRIDES[object] ?? (cut > 0 ? id.slice(0, cut + 1) : `${object.replace(/^.*\./, '').slice(0, 6)}_`);
      const length = Math.min(Math.max(id.length - cut - 1, 14), 58);
      shapes.set(object, (s = { prefix, length }));
    }
    return s;
  };
  return {
    next: (object) => {
      const s = shape(object);
      return s.prefix + chars(s.length);
    },
    chars,
  };
}
