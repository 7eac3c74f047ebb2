// GET /wait: holds the request until every change made in Stripe before it arrived is in Postgres,
// then answers 200 {caught_up_to, waited_ms}; after ?timeout_ms= (default 30 s) it answers 504.
// It costs no extra request and no poll interval: it wakes the poller, and a poll cycle that
// started after the call has seen every event created before it (event-poller.ts), so the answer
// comes one Stripe round trip (plus the write) after the call.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { HttpError, parseInput } from '../platform/http-errors.ts';
import type { SyncEngine } from './engine.ts';

const query = z.object({
  timeout_ms: z.coerce.number().int().min(0).max(600_000).default(30_000),
  /** With several accounts: wait for this one only (default: all). */
  account: z.string().min(1).optional(),
  /** Also wait for the upcoming invoices those changes made stale (one more round trip when there are). */
  upcoming: z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'),
});

export function registerWaitRoute(app: FastifyInstance, engine: SyncEngine): void {
  app.get('/wait', async (request) => {
    const { timeout_ms: timeoutMs, account, upcoming } = parseInput(query, request.query, 'query');
    if (account && !engine.accounts.some((a) => a.accountId === account)) {
      throw new HttpError(404, 'account_not_found', `This engine does not sync account ${account} (it syncs ${engine.accounts.map((a) => a.accountId).join(', ')})`);
    }
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const result = await Promise.race([engine.waitFresh(account, upcoming), timeout]);
      if (result === 'timeout') {
        const states = engine.accounts.filter((a) => !account || a.accountId === account).map((a) => `${a.accountId}: ${a.state}`);
        throw new HttpError(504, 'wait_timeout', `Postgres did not catch up with Stripe within ${timeoutMs} ms (${states.join(', ')}); GET /status says why`);
      }
      const ids = Object.values(result);
      return { caught_up_to: account || ids.length === 1 ? ids[0] ?? null : result, waited_ms: Math.round(performance.now() - started) };
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(503, 'sync_unavailable', `The sync cannot answer: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  });
}
