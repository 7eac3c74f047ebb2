// API keys for every Ledgerline HTTP API: `Authorization: Bearer <key>`, `X-Api-Key: <key>`, or
// (where a browser must open a page) HTTP Basic with the key as password. Keys are compared in
// constant time: both sides are hashed to equal-length digests and compared with timingSafeEqual,
// against every configured key with no early exit, so neither a key's length nor which key
// matched leaks. A matching key is known by its scope, a non-secret hash that is safe in logs,
// Redis keys and idempotency records.
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** The setting that lists a part's keys: comma-separated, each 16-256 printable characters. */
export const apiKeyListSchema = (what = 'API keys') =>
  z
    .string({ error: `is required: a comma-separated list of ${what}` })
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(
      z
        .array(z.string().regex(/^[\x21-\x7e]{16,256}$/, { error: 'each key must be 16-256 printable characters without spaces' }))
        .min(1, { error: 'expected at least one key' }),
    );

const digest = (key: string) => createHash('sha256').update(key, 'utf8').digest();

export interface ApiKeyCheck {
  /** A stable, non-secret scope for the key that matched, or undefined. */
  (presented: string | undefined): string | undefined;
}

export function apiKeyChecker(keys: string[]): ApiKeyCheck {
  const known = keys.map((key) => ({ digest: digest(key), scope: digest(`scope:${key}`).toString('hex').slice(0, 16) }));
  return (presented) => {
    const candidate = digest(presented ?? '');
    let scope: string | undefined;
    for (const k of known) {
      const match = timingSafeEqual(candidate, k.digest);
      if (match && presented !== undefined && scope === undefined) scope = k.scope;
    }
    return scope;
  };
}

/** The key a request presents, from whichever header carries it (Basic only when `basic`). */
export function presentedKey(headers: Record<string, string | string[] | undefined>, options: { basic?: boolean } = {}): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const [scheme, value] = auth.split(/\s+/, 2);
    if (scheme?.toLowerCase() === 'bearer' && value) return value;
    if (scheme?.toLowerCase() === 'basic' && value && options.basic !== false) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon >= 0 ? decoded.slice(colon + 1) : decoded;
    }
  }
  const header = headers['x-api-key'];
  return typeof header === 'string' && header ? header : undefined;
}
