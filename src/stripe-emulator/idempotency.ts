// Idempotency-Key on POST: the same key with the same parameters replays the first response
// (with `Idempotent-Replayed: true`); different parameters are a 400 idempotency_error; a key
// whose first request is still running is a 409. Keys expire after 24 hours of emulator time.

export interface SavedResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

type Slot = { fingerprint: string; at: number; response: SavedResponse | undefined };

export type IdempotencyOutcome =
  | { kind: 'new' }
  | { kind: 'replay'; response: SavedResponse }
  | { kind: 'mismatch' }
  | { kind: 'in_flight' };

const DAY = 86400;

export class IdempotencyCache {
  private readonly slots = new Map<string, Slot>();
  private readonly max: number;

  constructor(max = 100_000) {
    this.max = max;
  }

  begin(scope: string, key: string, fingerprint: string, now: number): IdempotencyOutcome {
    const id = `${scope}\u0000${key}`;
    const slot = this.slots.get(id);
    if (slot && now - slot.at < DAY) {
      if (slot.fingerprint !== fingerprint) return { kind: 'mismatch' };
      return slot.response ? { kind: 'replay', response: slot.response } : { kind: 'in_flight' };
    }
    this.slots.delete(id);
    this.slots.set(id, { fingerprint, at: now, response: undefined });
    // Oldest first: Map keeps insertion order.
    while (this.slots.size > this.max) this.slots.delete(this.slots.keys().next().value!);
    return { kind: 'new' };
  }

  complete(scope: string, key: string, response: SavedResponse): void {
    const slot = this.slots.get(`${scope}\u0000${key}`);
    if (slot) slot.response = response;
  }

  /** The request never ran (rejected before executing): the key may be used again. */
  abandon(scope: string, key: string): void {
    const id = `${scope}\u0000${key}`;
    if (this.slots.get(id)?.response === undefined) this.slots.delete(id);
  }
}

/** Parameters in a canonical form, so key order does not make two requests differ. */
export function fingerprint(method: string, path: string, params: unknown): string {
  return `${method} ${path} ${canonical(params)}`;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
