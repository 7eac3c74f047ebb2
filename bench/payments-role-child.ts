// A payments role for the benches: `worker` or `api` (argv[2]) with settings as JSON in argv[3]
// (flag names; the environment is ignored), or `seed-api` — the seed's controller (RPUSH of the
// params with an INCR tracking id, no validation, no auth) on the same Fastify factory. Tells the
// parent when it is ready, with the URL of an HTTP role.
import { loadConfig } from '../src/platform/config.ts';
import { createHttpServer } from '../src/platform/http-server.ts';
import { createLogger } from '../src/platform/log.ts';
import { createMetricsRegistry } from '../src/platform/metrics.ts';
import { createRedis } from '../src/platform/redis.ts';
import { runApi, runWorker } from '../src/payments/command.ts';
import { apiSettings, workerSettings } from '../src/payments/settings.ts';

const [role, json = '{}'] = process.argv.slice(2);
const flags = JSON.parse(json) as Record<string, string>;
const logger = createLogger({ name: `bench-${role}`, level: process.env.LOG_LEVEL ?? 'error' });

if (role === 'worker') {
  await runWorker(loadConfig(workerSettings, flags, {}), { logger, handleSignals: true });
  process.send?.({ type: 'ready' });
} else if (role === 'api') {
  const api = await runApi(loadConfig(apiSettings, flags, {}), { logger, handleSignals: true });
  process.send?.({ type: 'ready', url: api.url });
} else {
  const redis = createRedis(flags.redisUrl!, { name: 'seed-api', logger, enableAutoPipelining: true });
  const app = createHttpServer({ name: 'seed-api', logger, registry: createMetricsRegistry('seed-api') });
  app.post('/payments', async (request, reply) => {
    const p = request.body as Record<string, unknown>;
    if (!p?.payer_id || !p.recipient_id || !p.amount) return reply.code(400).send({ error: 'ArgumentError' });
    await redis.rpush(`${flags.keyPrefix}payments_to_be_processed`, JSON.stringify({ ...p, tracking_id: await redis.incr(`${flags.keyPrefix}tracking_ids`) }));
    return { status: 'OK' };
  });
  await app.listen({ host: '127.0.0.1', port: Number(flags.port) });
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${flags.port}` });
}
