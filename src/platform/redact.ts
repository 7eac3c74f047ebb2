// Secrets must never reach logs or error messages: URL passwords and Stripe keys are masked
// wherever a string leaves the process.

const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]+)(@)/gi;
const STRIPE_KEY = /\b((?:sk|rk|pk|whsec)_(?:test|live)?_?)[A-Za-z0-9]{4,}/g;

export function redactSecrets(text: string): string {
  return text.replace(URL_PASSWORD, '$1***$3').replace(STRIPE_KEY, '$1***');
}

/** Redacts every string inside a JSON-like value (for structured logs). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  }
  return value;
}
