// Realism knobs: injected latency (`250ms±50ms`), a random fault rate (half 500 api_errors, half
// dropped connections) and per-request faults forced with the `Emulator-Fault` header
// (`api_error`, `drop`, `rate_limit`, `slow=2000ms`) or, on writes, `metadata[emulator_fault]`.

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
