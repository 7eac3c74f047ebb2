// Every billing request the client makes is measured and logged, as the article did to find its
// hot spots: duration (a Prometheus histogram), parameters, error, and the stack frame of the
// code that asked (with batching, every distinct caller of the batch). Successes log at debug,
// failures and fallbacks at warn. Parameters are summarised (a count and a few gids), never the
// API key.
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Counter, Histogram, type Registry } from '../../platform/metrics.ts';
import type { Logger } from '../../platform/log.ts';
import { projectRoot } from '../../platform/project-root.ts';

export type Transport = 'graphql' | 'rest' | 'direct';

export interface RequestEvent {
  method: string;
  transport: Transport;
  params: Record<string, unknown>;
  durationMs: number;
  /** HTTP attempts (retries included); 0 for direct. */
  attempts: number;
  callers: string[];
  err?: unknown;
}

export interface Instrumentation {
  request(event: RequestEvent): void;
  retry(method: string, status: number, nextAttempt: number, retryAfterMs: number | undefined): void;
  fallback(method: string, from: Transport, err: unknown): void;
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  // Two clients on one registry share the series (prom-client refuses a second registration).
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function createInstrumentation(options: { registry?: Registry; logger?: Logger }): Instrumentation {
  const { registry, logger } = options;
  const duration = registry
    ? metric(registry, 'billing_client_request_duration_seconds', () =>
        new Histogram({
          name: 'billing_client_request_duration_seconds',
          help: 'Billing client requests by method, transport (graphql, rest, direct) and outcome',
          labelNames: ['method', 'transport', 'outcome'] as const,
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
          registers: [registry],
        }),
      )
    : undefined;
  const retries = registry
    ? metric(registry, 'billing_client_retries_total', () =>
        new Counter({ name: 'billing_client_retries_total', help: 'Billing requests repeated after 429/502/503', labelNames: ['method', 'status'] as const, registers: [registry] }),
      )
    : undefined;
  const fallbacks = registry
    ? metric(registry, 'billing_client_fallbacks_total', () =>
        new Counter({ name: 'billing_client_fallbacks_total', help: 'Billing requests answered by the direct read after HTTP failed', labelNames: ['method', 'from'] as const, registers: [registry] }),
      )
    : undefined;

  return {
    request(e) {
      duration?.observe({ method: e.method, transport: e.transport, outcome: e.err ? 'error' : 'ok' }, e.durationMs / 1000);
      if (!logger) return;
      const line = { billing: { method: e.method, transport: e.transport, params: e.params, durationMs: Math.round(e.durationMs * 10) / 10, attempts: e.attempts, callers: e.callers } };
      if (e.err) logger.warn({ ...line, err: e.err }, `billing ${e.method} via ${e.transport} failed`);
      else logger.debug(line, `billing ${e.method} via ${e.transport}`);
    },
    retry(method, status, nextAttempt, retryAfterMs) {
      retries?.inc({ method, status: String(status) });
      logger?.info({ billing: { method, status, nextAttempt, retryAfterMs } }, `billing ${method} answered ${status}; retrying`);
    },
    fallback(method, from, err) {
      fallbacks?.inc({ method, from });
      logger?.warn({ billing: { method, from }, err }, `billing ${method} via ${from} failed; answered by the direct read instead`);
    },
  };
}

const CLIENT_DIR = fileURLToPath(new URL('.', import.meta.url));
const FRAME = /^\s*at (?:(.+?) \()?(?:file:\/\/)?(.+?):(\d+):(\d+)\)?$/;

/** The first stack frame outside this module, node internals and node_modules: who asked. */
export function callerFrame(): string {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  Error.captureStackTrace(holder, callerFrame);
  Error.stackTraceLimit = limit;
  for (const line of (holder.stack ?? '').split('\n').slice(1)) {
    const m = FRAME.exec(line);
    if (!m) continue;
    const [, fn, file, row, col] = m;
    if (file!.startsWith(CLIENT_DIR) || file!.startsWith('node:') || file!.includes('/node_modules/')) continue;
    const where = `${file!.startsWith('/') ? relative(projectRoot, file!) : file}:${row}:${col}`;
    return fn && fn !== 'async' ? `${where} (${fn.replace(/^async /, '')})` : where;
  }
  return 'unknown';
}

/** A list parameter as its size and first few values (a 1000-gid batch must not flood the log). */
export function summariseList(values: readonly string[]): { count: number; first: string[] } {
  return { count: values.length, first: values.slice(0, 3) };
}
