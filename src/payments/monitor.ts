// The monitor (`ledgerline payments monitor`): the seed's queue-size tracker, plus slow payments.
// Every check interval it raises, to the log and an optional webhook, at most once per alert
// interval per condition (shared by monitor replicas through Redis):
//   queue_depth — more than `alertDepth` payments wait in the queue;
//   slow_payments — payments not final `slowAfterMs` after submission (queued, in flight or
//   waiting for a retry: stuck anywhere).
// It also runs the reaper and the retry scheduler, so they go on with no worker alive.
import type { Logger } from '../platform/log.ts';
import { redactSecrets } from '../platform/redact.ts';
import type { Redis } from '../platform/redis.ts';
import { paymentKeys } from './keys.ts';
import { every, type Periodic } from './periodic.ts';
import { createReadModel } from './queries.ts';
import { runScript } from './queue.ts';

export type AlertCondition = 'queue_depth' | 'slow_payments';

export interface Alert {
  condition: AlertCondition;
  message: string;
  value: number;
  threshold: number;
  at: string;
  /** Up to 10 of the oldest slow payments. */
  tracking_ids?: string[];
}

export interface MonitorOptions {
  redis: Redis;
  prefix: string;
  logger: Logger;
  alertDepth: number;
  slowAfterMs: number;
  webhookUrl?: string | undefined;
  checkIntervalMs: number;
  alertIntervalMs: number;
  /** Injectable for tests. */
  now?: () => number;
  fetch?: typeof globalThis.fetch;
}

export interface Monitor {
  /** One check; returns the alerts it raised. */
  check(): Promise<Alert[]>;
  stop(): Promise<void>;
}

export function startMonitor(options: MonitorOptions): Monitor {
  const { redis, prefix, alertDepth, slowAfterMs } = options;
  const log = options.logger.child({ component: 'monitor' });
  const now = options.now ?? Date.now;
  const post = options.fetch ?? globalThis.fetch;
  const reads = createReadModel(redis, prefix);
  const active = new Set<AlertCondition>();

  async function raise(alert: Alert): Promise<boolean> {
    const allowed = await runScript(redis, 'alert', prefix, alert.condition, now(), options.alertIntervalMs);
    if (allowed !== 1) return false;
    log.warn({ alert }, `ALERT ${alert.condition}: ${alert.message}`);
    if (options.webhookUrl) {
      try {
        const res = await post(options.webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ source: 'ledgerline-payments', ...alert }),
          signal: AbortSignal.timeout(5000),
        });
        if (!res.ok) log.warn({ status: res.status }, 'alert webhook refused the alert');
      } catch (err) {
        log.warn({ err: { message: redactSecrets((err as Error).message) } }, 'alert webhook unreachable');
      }
    }
    return true;
  }

  async function check(): Promise<Alert[]> {
    const at = new Date(now()).toISOString();
    const [depth, slow] = await Promise.all([redis.llen(paymentKeys(prefix).queue), reads.slow(slowAfterMs, 10)]);
    const found: Alert[] = [];
    if (depth > alertDepth) {
      found.push({ condition: 'queue_depth', message: `queue is getting backed up: ${depth} payments waiting (threshold ${alertDepth})`, value: depth, threshold: alertDepth, at });
    }
    if (slow.total > 0) {
      found.push({
        condition: 'slow_payments',
        message: `${slow.total} payments not final after ${slowAfterMs / 1000} s`,
        value: slow.total,
        threshold: slowAfterMs,
        at,
        tracking_ids: slow.data.map((p) => p.tracking_id),
      });
    }
    const raised: Alert[] = [];
    for (const alert of found) if (await raise(alert)) raised.push(alert);
    for (const condition of [...active]) {
      if (!found.some((a) => a.condition === condition)) {
        active.delete(condition);
        log.info({ condition }, `resolved: ${condition}`);
      }
    }
    for (const a of found) active.add(a.condition);
    return raised;
  }

  const timer: Periodic = every(
    options.checkIntervalMs,
    async () => {
      await check();
    },
    (err) => log.warn({ err }, 'monitor check failed'),
  );
  return { check, stop: () => timer.stop() };
}
