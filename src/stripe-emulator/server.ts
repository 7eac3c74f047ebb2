// Assembles one emulator: the Fastify app from the platform factory (/ping, /healthz, /metrics),
// the /v1 API with Stripe's protocol, and the /_emulator admin routes (clock, stats).
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../platform/http-server.ts';
import type { Logger } from '../platform/log.ts';
import type { Registry } from '../platform/metrics.ts';
import { registerApi, type ApiOptions, type Router } from './api.ts';
import type { Emulator } from './context.ts';
import { StripeError } from './errors.ts';
import { defineReadRoutes } from './read-routes.ts';
import { defineCustomerRoutes } from './resources/customers.ts';
import { definePriceRoutes } from './resources/prices.ts';
import { defineProductRoutes } from './resources/products.ts';
import { collectStats } from './stats.ts';

export interface ServerOptions extends ApiOptions {
  logger: Logger;
  registry: Registry;
}

function defineAll(router: Router, emu: Emulator): void {
  const defined = new Set<string>();
  const tracking: Router = {
    define(method, path, handler) {
      defined.add(`${method} ${path}`);
      router.define(method, path, handler);
    },
  };
  defineReadRoutes(tracking, emu);
  defineCustomerRoutes(tracking);
  defineProductRoutes(tracking);
  definePriceRoutes(tracking);
  // Everything else Stripe has answers 501 (and asks clients not to retry) rather than a
  // misleading 404 or a made-up success.
  for (const [path, ops] of Object.entries(emu.spec.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const method of Object.keys(ops)) {
      const m = method.toUpperCase() as 'GET' | 'POST' | 'DELETE';
      if (defined.has(`${m} ${path}`) || !['GET', 'POST', 'DELETE'].includes(m)) continue;
      router.define(m, path, () => {
        throw new StripeError(501, `The Stripe emulator does not emulate ${m} ${path} yet.`, { headers: { 'Stripe-Should-Retry': 'false' } });
      });
    }
  }
}

export async function createEmulatorServer(emu: Emulator, options: ServerOptions): Promise<FastifyInstance> {
  const app = createHttpServer({ name: 'stripe-emulator', logger: options.logger, registry: options.registry, bodyLimit: 2 * 1024 * 1024 });
  await registerApi(app, emu, options, (router) => defineAll(router, emu));

  app.get('/_emulator/stats', async () => collectStats(emu));
  app.get('/_emulator/clock', async () => ({ now: emu.clock.now() }));
  // Ids of every live object of a type, for tests that need parents the API cannot list
  // (tax calculations have no list endpoint).
  app.get('/_emulator/ids/:object', async (request) => {
    const { object } = request.params as { object: string };
    return { ids: emu.store.holding(object).flatMap((c) => c.all().filter((e) => e.obj.object === object).map((e) => e.id)) };
  });
  app.post('/_emulator/clock', async (request, reply) => {
    const body = (request.body ?? {}) as { advance_seconds?: unknown; now?: unknown };
    try {
      if (body.now !== undefined) emu.clock.set(Number(body.now));
      else if (body.advance_seconds !== undefined) emu.clock.advance(Number(body.advance_seconds));
      else throw new StripeError(400, 'Give advance_seconds or now', { param: 'advance_seconds' });
    } catch (err) {
      if (err instanceof StripeError) return reply.code(err.status).send(err.body());
      throw err;
    }
    return { now: emu.clock.now() };
  });
  return app;
}
