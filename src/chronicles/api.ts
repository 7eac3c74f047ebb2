// `ledgerline chronicles api`: /graphql (entry search, API keys), /internal/graphql (tag rules,
// templates, re-apply job; its own keys), /queues (the BullMQ dashboard, internal keys — also as
// the password of HTTP Basic, so a browser can open it), and the platform's /ping, /healthz and
// /metrics.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import mercurius from 'mercurius';
import { apiKeyChecker, presentedKey } from '../platform/api-keys.ts';
import type { Sql } from '../platform/db.ts';
import { pingPostgres } from '../platform/db.ts';
import { errorBody } from '../platform/http-errors.ts';
import { createHttpServer } from '../platform/http-server.ts';
import type { Logger } from '../platform/log.ts';
import type { Registry } from '../platform/metrics.ts';
import { costLimitRule } from '../platform/graphql.ts';
import { internalSchema, publicSchema } from './graphql-schema.ts';
import { internalResolvers, publicLoaders, publicResolvers } from './graphql-resolvers.ts';
import { ingestQueue, maintenanceQueue, queueConnection } from './queues.ts';

export interface ChroniclesApiOptions {
  /** Best made with createSearchSql (statement timeout, JIT off). */
  sql: Sql;
  redisUrl: string;
  queuePrefix: string;
  apiKeys: string[];
  internalApiKeys: string[];
  logger: Logger;
  registry: Registry;
}

export interface ChroniclesApi {
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Accepts `Authorization: Bearer <key>`, `X-Api-Key: <key>` and, when `basic`, a Basic password. */
function keyCheck(keys: string[], options: { basic: boolean; realm: string }) {
  const check = apiKeyChecker(keys);
  // Replies itself rather than throwing: mercurius' error handler would wrap a thrown error in a
  // GraphQL body, and every Ledgerline API answers 401 with the platform's one error shape.
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (check(presentedKey(request.headers, { basic: options.basic }))) return;
    if (options.basic) reply.header('www-authenticate', `Basic realm="chronicles ${options.realm}"`);
    return reply.code(401).send(errorBody(401, 'unauthorized', `A valid ${options.realm} API key is required (Authorization: Bearer <key> or X-Api-Key)`));
  };
}

const GRAPHQL_LIMITS = { queryDepth: 8, validationRules: [costLimitRule({ maxFields: 300, queries: { fields: ['entries'], max: 3, what: 'entries searches' } })] };

export async function buildChroniclesApi(options: ChroniclesApiOptions): Promise<ChroniclesApi> {
  const { sql, logger, registry } = options;
  const connection = queueConnection(options.redisUrl, 'chronicles-api');
  const ingest = ingestQueue(connection, options.queuePrefix);
  const maintenance = maintenanceQueue(connection, options.queuePrefix);

  const app = createHttpServer({
    name: 'chronicles-api',
    logger,
    registry,
    checks: [
      { name: 'postgres', check: () => pingPostgres(sql) },
      { name: 'redis', check: async () => void (await ingest.count()) },
    ],
  });

  await app.register(async (scope) => {
    scope.addHook('onRequest', keyCheck(options.apiKeys, { basic: false, realm: 'search' }));
    await scope.register(mercurius, {
      schema: publicSchema,
      resolvers: publicResolvers({ sql }) as never,
      loaders: publicLoaders({ sql }) as never,
      path: '/graphql',
      graphiql: false,
      ...GRAPHQL_LIMITS,
    });
  });

  await app.register(async (scope) => {
    scope.addHook('onRequest', keyCheck(options.internalApiKeys, { basic: false, realm: 'internal' }));
    await scope.register(mercurius, {
      schema: internalSchema,
      resolvers: internalResolvers({ sql, maintenance }) as never,
      path: '/internal/graphql',
      graphiql: false,
      ...GRAPHQL_LIMITS,
    });
  });

  await app.register(async (scope) => {
    scope.addHook('onRequest', keyCheck(options.internalApiKeys, { basic: true, realm: 'dashboard' }));
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath('/queues');
    // @bull-board/fastify pins its own copy of @bull-board/api, whose adapter type differs only nominally.
    createBullBoard({ queues: [new BullMQAdapter(ingest), new BullMQAdapter(maintenance)], serverAdapter: serverAdapter as never });
    await scope.register(serverAdapter.registerPlugin(), { prefix: '/queues' });
  });

  return {
    app,
    async close() {
      await app.close();
      await Promise.all([ingest.close(), maintenance.close()]);
    },
  };
}
