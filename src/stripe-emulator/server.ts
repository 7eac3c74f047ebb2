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
import { defineAccountRoutes } from './resources/account.ts';
import { defineCustomerRoutes } from './resources/customers.ts';
import { definePaymentMethodRoutes } from './resources/payment-methods.ts';
import { definePaymentRoutes } from './resources/payments.ts';
import { defineCouponRoutes } from './resources/coupons.ts';
import { defineCreditNoteRoutes } from './resources/credit-notes.ts';
import { defineInvoiceRoutes, settleInvoicePayment } from './resources/invoices.ts';
import { defineSubscriptionRoutes } from './resources/subscriptions.ts';
import { defineUpcomingRoutes } from './resources/upcoming.ts';
import { definePriceRoutes } from './resources/prices.ts';
import { defineProductRoutes } from './resources/products.ts';
import { collectStats } from './stats.ts';
import { parseFault, type FaultRule } from './faults.ts';

const describeRules = (rules: FaultRule[]) => rules.map((r) => ({ ...r, fault: r.fault.kind === 'slow' ? `slow=${r.fault.ms}ms` : r.fault.kind }));

export interface ServerOptions extends ApiOptions {
  logger: Logger;
  registry: Registry;
}

function defineAll(router: Router, emu: Emulator): void {
  const defined = new Set<string>();
  const tracking: Router = {
    define(method, path, handler, options) {
      defined.add(`${method} ${path}`);
      router.define(method, path, handler, options);
    },
  };
  defineReadRoutes(tracking, emu);
  defineAccountRoutes(tracking);
  defineCustomerRoutes(tracking);
  defineProductRoutes(tracking);
  definePriceRoutes(tracking);
  definePaymentMethodRoutes(tracking);
  definePaymentRoutes(tracking, settleInvoicePayment);
  defineCouponRoutes(tracking);
  defineInvoiceRoutes(tracking);
  defineSubscriptionRoutes(tracking);
  defineCreditNoteRoutes(tracking);
  defineUpcomingRoutes(tracking, emu);
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
    return { ids: emu.store.holding(object).flatMap((c) => c.all().filter((e) => e.type === object).map((e) => e.id)) };
  });
  // Faults for the next matching requests: {"fault":"api_error","method":"POST","path":"/v1/payment_intents","times":1}.
  app.get('/_emulator/faults', async () => ({ pending: describeRules(options.faults.pending()), injected: options.faults.injected }));
  app.delete('/_emulator/faults', async () => {
    options.faults.clear();
    return { pending: [] };
  });
  app.post('/_emulator/faults', async (request, reply) => {
    const body = (request.body ?? {}) as { fault?: unknown; method?: unknown; path?: unknown; times?: unknown };
    const fault = typeof body.fault === 'string' ? parseFault(body.fault) : undefined;
    const times = body.times === undefined ? 1 : Number(body.times);
    if (!fault || !Number.isInteger(times) || times < 1 || (body.method !== undefined && typeof body.method !== 'string') || (body.path !== undefined && typeof body.path !== 'string')) {
      return reply.code(400).send(new StripeError(400, 'Give fault (api_error, drop, rate_limit or slow=<duration>), and optionally method, path (a `*` suffix matches a prefix) and times (default 1)', { param: 'fault' }).body());
    }
    options.faults.add({ fault, method: body.method as string | undefined, path: body.path as string | undefined, times });
    return { pending: describeRules(options.faults.pending()) };
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
