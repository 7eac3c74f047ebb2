// The Fastify factory every Ledgerline service uses: /ping, /healthz, /metrics, pino request
// logs, one JSON error shape and graceful shutdown.
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { errorBody, HttpError } from './http-errors.ts';
import type { Logger } from './log.ts';
import { httpDurationHistogram } from './metrics.ts';
import { redactSecrets } from './redact.ts';
import { withTimeout } from './timeout.ts';

export interface HealthCheck {
  name: string;
  check: () => Promise<void>;
}

export interface HttpServerOptions {
  name: string;
  logger: Logger;
  registry: Registry;
  checks?: HealthCheck[];
  /** Per-dependency deadline for /healthz, well under the 5 s in which an outage must show. */
  healthTimeoutMs?: number;
  bodyLimit?: number;
}

export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    requestIdHeader: 'x-request-id',
    forceCloseConnections: 'idle',
  });
  const histogram = httpDurationHistogram(options.registry);

  app.addHook('onResponse', async (request, reply) => {
    histogram.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
    if (error instanceof HttpError) {
      if (error.headers) reply.headers(error.headers);
      return reply.code(error.statusCode).send(errorBody(error.statusCode, error.code, error.message, error.fields));
    }
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    // Fastify's own 4xx (bad JSON, body too large) are safe to show; a 500's message may not be.
    const message = status >= 500 ? 'Internal error' : redactSecrets(error.message);
    return reply.code(status).send(errorBody(status, error.code?.toLowerCase() ?? 'internal_error', message));
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(404, 'route_not_found', `No route ${request.method} ${request.url.split('?')[0]}`));
  });

  app.get('/ping', async () => ({ pong: true, service: options.name }));

  app.get('/healthz', async (_request, reply) => {
    const timeout = options.healthTimeoutMs ?? 2000;
    const results = await Promise.all(
      (options.checks ?? []).map(async ({ name, check }) => {
        try {
          await withTimeout(check(), timeout, `${name} did not answer`);
          return { name, ok: true as const };
        } catch (err) {
          return { name, ok: false as const, error: redactSecrets((err as Error).message) };
        }
      }),
    );
    const down = results.filter((r) => !r.ok).map((r) => r.name);
    reply.code(down.length ? 503 : 200);
    return {
      status: down.length ? 'unavailable' : 'ok',
      service: options.name,
      ...(down.length ? { down } : {}),
      checks: Object.fromEntries(results.map((r) => [r.name, r.ok ? 'ok' : r.error])),
    };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.registry.contentType);
    return options.registry.metrics();
  });

  return app;
}

/**
 * Closes everything (servers first, then the clients they use) on SIGTERM/SIGINT. A second
 * signal exits at once.
 */
export function shutdownOnSignals(logger: Logger, closers: Array<() => Promise<unknown>>): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) process.exit(1);
    closing = true;
    logger.info({ signal }, 'shutting down');
    (async () => {
      for (const close of closers) {
        try {
          await close();
        } catch (err) {
          logger.error({ err }, 'error during shutdown');
        }
      }
      process.exit(0);
    })();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

/** /ping, /healthz and /metrics of a role that has no API of its own; a no-op when `port` is unset. */
export async function serveMetrics(options: HttpServerOptions & { port: number | undefined }): Promise<() => Promise<void>> {
  if (options.port === undefined) return async () => {};
  const app = createHttpServer(options);
  await app.listen({ port: options.port, host: '127.0.0.1' });
  options.logger.info({ url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` }, 'metrics listening');
  return () => app.close();
}
