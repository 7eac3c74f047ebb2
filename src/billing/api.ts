// `ledgerline billing api`: GraphQL at /graphql (mercurius; GraphiQL at /graphiql outside
// production) and REST under /v1/billing_records, both behind API keys and the per-client rate
// limit, plus the platform's /ping, /healthz and /metrics. Every request is measured (the
// platform's http_request_duration_seconds by route) and every GraphQL operation by its root
// fields and client (billing_graphql_duration_seconds): the article found its hot spots that way.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError, Kind, type DocumentNode } from 'graphql';
import mercurius from 'mercurius';
import type { Sql } from '../platform/db.ts';
import { pingPostgres } from '../platform/db.ts';
import { errorBody, HttpError } from '../platform/http-errors.ts';
import { createHttpServer } from '../platform/http-server.ts';
import type { Logger } from '../platform/log.ts';
import { Histogram, type Registry } from '../platform/metrics.ts';
import { pingRedis, type Redis } from '../platform/redis.ts';
import { authenticate, clientOf, registerRateLimit } from './api-clients.ts';
import { billingLoaders, billingResolvers } from './graphql-resolvers.ts';
import { billingSchema, GRAPHQL_LIMITS } from './graphql-schema.ts';
import { registerRestRoutes } from './rest-routes.ts';

export interface BillingApiOptions {
  /** Best made with createRecordsSql (statement timeout, JIT off). */
  sql: Sql;
  /** Rate-limit counters (shared by every API process). */
  redis: Redis;
  apiKeys: string[];
  internalApiKeys: string[];
  /** Requests per window per API key; 0 = no limit. */
  rateLimit: number;
  rateLimitWindowMs: number;
  graphql: boolean;
  rest: boolean;
  graphiql: boolean;
  stripeSchema: string;
  logger: Logger;
  registry: Registry;
}

const rootFields = (document: DocumentNode) =>
  document.definitions
    .flatMap((d) => (d.kind === Kind.OPERATION_DEFINITION ? d.selectionSet.selections : []))
    .map((s) => (s.kind === Kind.FIELD ? s.name.value : '…'))
    .sort()
    .join(',');

/** HttpError (401/403/429 from hooks) in the platform's shape; anything else as mercurius would. */
function graphqlErrorHandler(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof HttpError) {
    if (error.headers) reply.headers(error.headers);
    return reply.code(error.statusCode).send(errorBody(error.statusCode, error.code, error.message, error.fields));
  }
  const { statusCode, response } = mercurius.defaultErrorFormatter(
    { errors: [error instanceof GraphQLError ? error : new GraphQLError(error.message, { originalError: error })] } as never,
    { reply } as never,
  );
  return reply.code(statusCode).send(response);
}

export async function buildBillingApi(options: BillingApiOptions): Promise<FastifyInstance> {
  const { sql, redis, logger, registry } = options;
  const app = createHttpServer({
    name: 'billing-api',
    logger,
    registry,
    checks: [
      { name: 'postgres', check: () => pingPostgres(sql) },
      { name: 'redis', check: () => pingRedis(redis) },
    ],
  });
  const keys = { internal: options.internalApiKeys, external: options.apiKeys };
  const limit = { max: options.rateLimit, windowMs: options.rateLimitWindowMs, redis };

  if (options.graphql) {
    const operations = new Histogram({
      name: 'billing_graphql_duration_seconds',
      help: 'GraphQL operations by root fields and API client (a non-secret key hash)',
      labelNames: ['fields', 'client', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    await app.register(async (scope) => {
      scope.addHook('onRequest', authenticate(keys, (url) => options.graphiql && url.startsWith('/graphiql')));
      await registerRateLimit(scope, limit);
      await scope.register(mercurius, {
        schema: billingSchema,
        resolvers: billingResolvers({ sql }) as never,
        loaders: billingLoaders({ sql, stripeSchema: options.stripeSchema }) as never,
        path: '/graphql',
        graphiql: options.graphiql,
        // Compiles a query (graphql-jit) from its second run: the bench's queries repeat.
        jit: 1,
        errorHandler: graphqlErrorHandler as never,
        ...GRAPHQL_LIMITS,
      });
      type Timed = { reply: FastifyReply; billingTimer?: (labels: Record<string, string>) => void; billingFields?: string };
      scope.graphql.addHook('preExecution', async (_schema, document, context) => {
        const c = context as unknown as Timed;
        c.billingFields = rootFields(document);
        c.billingTimer = operations.startTimer();
      });
      scope.graphql.addHook('onResolution', async (execution, context) => {
        const c = context as unknown as Timed;
        c.billingTimer?.({ fields: c.billingFields ?? '', client: clientOf(c.reply.request).scope, outcome: execution.errors?.length ? 'error' : 'ok' });
      });
    });
  }

  if (options.rest) {
    await app.register(async (scope) => {
      scope.addHook('onRequest', authenticate(keys));
      await registerRateLimit(scope, limit);
      registerRestRoutes(scope, { sql });
    });
  }

  return app;
}
