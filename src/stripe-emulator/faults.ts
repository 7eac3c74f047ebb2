// Realism knobs: injected latency (`250ms±50ms`), a random fault rate (half 500 api_errors, half
// dropped connections) and per-request faults forced with the `Emulator-Fault` header
// (`api_error`, `drop`, `rate_limit`, `slow=2000ms`), on writes with `metadata[emulator_fault]`,
// or queued for the next N matching requests (`POST /_emulator/faults`): a client that repeats
// its headers on each retry (the SDKs do) can so see one failure and then a success.

export interface Latency {
  baseMs: number;
  jitterMs: number;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s)?$/;

export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** `0`, `250ms`, `1s`, `250ms±50ms` (or `250ms+-50ms`, `250ms~50ms`). */
export function parseLatency(text: string): Latency | undefined {
  const [base, jitter, ...rest] = text.split(/±|\+-|~/);
  if (rest.length || base === undefined) return undefined;
  const baseMs = parseDuration(base);
  const jitterMs = jitter === undefined ? 0 : parseDuration(jitter);
  if (baseMs === undefined || jitterMs === undefined || jitterMs > baseMs) return undefined;
  return { baseMs, jitterMs };
}

export function sampleLatency(latency: Latency, random: () => number = Math.random): number {
  return Math.max(0, latency.baseMs + (random() * 2 - 1) * latency.jitterMs);
}

export type Fault = { kind: 'api_error' } | { kind: 'drop' } | { kind: 'rate_limit' } | { kind: 'slow'; ms: number };

/** A forced fault from the header or metadata value; undefined when the text names none. */
export function parseFault(text: string | undefined): Fault | undefined {
  if (!text) return undefined;
  const t = text.trim();
  if (t === 'api_error' || t === 'drop' || t === 'rate_limit') return { kind: t };
  const slow = /^slow=(.+)$/.exec(t);
  if (slow) {
    const ms = parseDuration(slow[1]!);
    if (ms !== undefined) return { kind: 'slow', ms };
  }
  return undefined;
}

/** With probability `rate`, a random fault: half api errors, half dropped connections. */
export function randomFault(rate: number, random: () => number = Math.random): Fault | undefined {
  if (rate <= 0) return undefined;
  const r = random();
  if (r >= rate) return undefined;
  return r < rate / 2 ? { kind: 'api_error' } : { kind: 'drop' };
}

export interface FaultRule {
  fault: Fault;
  /** Only requests with this method (any when absent). */
  method?: string;
  /** Only this path, or paths under a prefix ending in `*` (`/v1/payment_intents*`). */
  path?: string;
  /** How many matching requests fail; the rule is dropped after the last. */
  times: number;
}

/** Faults queued for the next matching requests, and how many of each were injected. */
export class FaultQueue {
  private rules: FaultRule[] = [];
  readonly injected: Record<Fault['kind'], number> = { api_error: 0, drop: 0, rate_limit: 0, slow: 0 };

  add(rule: FaultRule): void {
    if (!Number.isInteger(rule.times) || rule.times < 1) throw new Error('times must be a positive integer');
    this.rules.push({ ...rule });
  }

  /** The fault for this request, if a queued rule matches (consuming one of its times). */
  take(method: string, path: string): Fault | undefined {
    const i = this.rules.findIndex((r) => (!r.method || r.method.toUpperCase() === method) && matches(r.path, path));
    if (i < 0) return undefined;
    const rule = this.rules[i]!;
    if (--rule.times === 0) this.rules.splice(i, 1);
    return rule.fault;
  }

  count(fault: Fault): void {
    this.injected[fault.kind]++;
  }

  pending(): FaultRule[] {
    return this.rules.map((r) => ({ ...r }));
  }

  clear(): void {
    this.rules = [];
  }
}

function matches(pattern: string | undefined, path: string): boolean {
  if (!pattern) return true;
  return pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
}
