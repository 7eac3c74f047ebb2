// The seed's worker loop, reimplemented as the benches' baseline: BRPOP a JSON payment, "process"
// it (the seed's process_payment: an outcome draw and INCR txn_ids, within an optional latency), then
// record it with one MULTI/EXEC into the seed's sorted sets. `loops` copies per process, each on
// its own connection (BRPOP blocks it). Not crash-safe: a payment popped by a killed loop is lost.
//   argv: prefix loops latencyMs
import { createLogger } from '../src/platform/log.ts';
import { createRedis, type Redis } from '../src/platform/redis.ts';

const [prefix = '', loopsArg = '1', latencyArg = '0'] = process.argv.slice(2);
const latencyMs = Number(latencyArg);
const logger = createLogger({ name: 'seed', level: 'error' });
const conns: Redis[] = Array.from({ length: Number(loopsArg) }, () => createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { name: 'seed', logger }));
await Promise.all(conns.map((c) => c.ping()));
process.send?.({ type: 'ready' });

await Promise.all(
  conns.map(async (redis) => {
    for (;;) {
      const popped = await redis.brpop(`${prefix}payments_to_be_processed`, 1);
      if (!popped) continue;
      const payment = JSON.parse(popped[1]) as { tracking_id: number; payer_id: string; recipient_id: string; amount: number };
      const success = Math.random() < 0.8;
      // The simulated processor's latency is the whole call's, its INCR included (as in Ledgerline's).
      const [txn] = await Promise.all([redis.incr(`${prefix}txn_ids`), latencyMs ? new Promise((r) => setTimeout(r, latencyMs)) : undefined]);
      const now = Date.now();
      const json = JSON.stringify(payment);
      const [all, payer, recipient] = success ? ['successful_txns', 'payments_made_by', 'payments_received_by'] : ['insufficient_funds_txns', 'insufficient_funds_for', 'insufficient_funds_to'];
      await redis.multi().zadd(`${prefix}${all}`, now, txn).hset(`${prefix}txns`, txn, json).zadd(`${prefix}${payer}|${payment.payer_id}`, now, txn).zadd(`${prefix}${recipient}|${payment.recipient_id}`, now, txn).exec();
    }
  }),
);
