// The monitor's alerts (queue depth, slow payments) at most once a minute per condition, to the log
// and a webhook; metrics of the monitor and of a worker; the start-up warning when Redis has no AOF.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/platform/config.ts';
import type { Redis } from '../../src/platform/redis.ts';
import { runApi, runMonitor, runWorker } from '../../src/payments/command.ts';
import { startMonitor, type Alert } from '../../src/payments/monitor.ts';
import { createQueue } from '../../src/payments/queue.ts';
import { apiSettings, monitorSettings, workerSettings } from '../../src/payments/settings.ts';
import { freePort } from '../support/ports.ts';
import { startPrivateRedis } from '../support/redis-instance.ts';
import { dropKeys } from '../support/cleanup.ts';
import { API_KEY, capturingLogger, REDIS_URL, silentLogger, testRedis, uniquePrefix, until } from './support/fixtures.ts';

const AOF_WARNING = /append-only file \(AOF\) is off/;

describe('payments monitor', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  let webhook: Server;
  let webhookUrl: string;
  const posted: Alert[] = [];

  before(async () => {
    redis = testRedis();
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        posted.push(JSON.parse(body) as Alert);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    webhookUrl = `http://127.0.0.1:${(webhook.address() as { port: number }).port}/hook`;
  });
  after(async () => {
    for (const p of prefixes) await dropKeys(redis, p);
    await redis.quit();
    await new Promise((r) => webhook.close(r));
  });

  const fresh = (name: string) => {
    const prefix = uniquePrefix(name);
    prefixes.push(prefix);
    return prefix;
  };

  test('queue depth and slow payments alert to the log and the webhook, at most once a minute per condition', async () => {
    const prefix = fresh('alerts');
    const queue = createQueue(redis, prefix);
    for (let i = 0; i < 8; i++) await queue.enqueue({ payer_id: 'a', recipient_id: 'b', amount: 1, currency: 'USD' });
    await new Promise((r) => setTimeout(r, 30));
    let clock = 1_700_000_000_000;
    const { logger, lines } = capturingLogger();
    const options = { redis, prefix, logger, alertDepth: 5, slowAfterMs: 20, webhookUrl, checkIntervalMs: 3_600_000, alertIntervalMs: 60_000, now: () => clock };
    const monitor = startMonitor(options);
    const replica = startMonitor({ ...options, logger: silentLogger });

    const first = await monitor.check();
    assert.deepEqual(first.map((a) => a.condition).sort(), ['queue_depth', 'slow_payments']);
    const depth = first.find((a) => a.condition === 'queue_depth')!;
    assert.equal(depth.value, 8);
    assert.equal(depth.threshold, 5);
    const slow = first.find((a) => a.condition === 'slow_payments')!;
    assert.equal(slow.value, 8);
    assert.equal(slow.tracking_ids!.length, 8);
    assert.equal(posted.length, 2);
    assert.deepEqual(posted.map((a) => a.condition).sort(), ['queue_depth', 'slow_payments']);
    assert.equal(lines.filter((l) => l.level === 40 && /^ALERT/.test(l.msg)).length, 2);

    // Still true a moment later, and from another monitor replica: no repeat within the minute.
    clock += 1_000;
    assert.deepEqual(await monitor.check(), []);
    assert.deepEqual(await replica.check(), []);
    clock += 58_000;
    assert.deepEqual(await monitor.check(), []);
    clock += 1_000; // 60 s after the first alert
    assert.equal((await monitor.check()).length, 2);
    assert.deepEqual(await replica.check(), []);
    assert.equal(posted.length, 4);

    // Cleared: no alert, and the log says it resolved.
    await redis.del(`${prefix}payments_to_be_processed`, `${prefix}open`);
    clock += 120_000;
    assert.deepEqual(await monitor.check(), []);
    assert.ok(lines.some((l) => /resolved: queue_depth/.test(l.msg)));
    await monitor.stop();
    await replica.stop();
  });

  test('an unreachable webhook is logged, not fatal', async () => {
    const prefix = fresh('hookdown');
    const queue = createQueue(redis, prefix);
    for (let i = 0; i < 3; i++) await queue.enqueue({ payer_id: 'a', recipient_id: 'b', amount: 1, currency: 'USD' });
    const { logger, lines } = capturingLogger();
    const monitor = startMonitor({ redis, prefix, logger, alertDepth: 1, slowAfterMs: 3_600_000, webhookUrl: 'http://127.0.0.1:9/nothing', checkIntervalMs: 3_600_000, alertIntervalMs: 60_000 });
    assert.equal((await monitor.check()).length, 1);
    assert.ok(lines.some((l) => /alert webhook unreachable/.test(l.msg)));
    await monitor.stop();
  });

  test('start-up warns when Redis has no AOF; the monitor and a worker expose their metrics', async () => {
    const prefix = fresh('roles');
    const base = { redisUrl: REDIS_URL, keyPrefix: prefix, busPrefix: `${prefix}bus:` };
    const env = { KAFKA_BROKERS: '' };
    const m = capturingLogger();
    const monitor = await runMonitor(loadConfig(monitorSettings, { ...base, port: String(await freePort()) }, env), { logger: m.logger });
    const w = capturingLogger();
    const worker = await runWorker(loadConfig(workerSettings, { ...base, metricsPort: '0', simulatedMix: 'success=1' }, env), { logger: w.logger });
    const a = capturingLogger();
    const api = await runApi(loadConfig(apiSettings, { ...base, port: String(await freePort()), apiKeys: API_KEY }, env), { logger: a.logger });
    try {
      const aof = (await redis.info('persistence')).includes('aof_enabled:1');
      for (const { lines } of [m, w, a]) assert.equal(lines.some((l) => l.level === 40 && AOF_WARNING.test(l.msg)), !aof);

      const res = await fetch(`${api.url}/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': API_KEY }, body: JSON.stringify({ payer_id: 'a', recipient_id: 'b', amount: 700, currency: 'CHF' }) });
      assert.equal(res.status, 202);
      await until(async () => (await redis.zcard(`${prefix}successful_txns`)) === 1, 10_000, 'payment processed');

      const workerMetrics = await (await fetch(`${worker.url}/metrics`)).text();
      assert.match(workerMetrics, /payments_processing_seconds_bucket\{.*outcome="success"/);
      assert.match(workerMetrics, /payments_outcomes_total\{.*status="succeeded".*\} 1/);
      assert.match(workerMetrics, /payments_end_to_end_seconds_count/);
      const monitorMetrics = await (await fetch(`${monitor.url}/metrics`)).text();
      for (const name of ['payments_queue_depth', 'payments_in_flight', 'payments_retry_scheduled', 'payments_dead_letters', 'payments_workers_alive', 'payments_outbox_backlog']) {
        assert.match(monitorMetrics, new RegExp(`^${name}\\{[^}]*\\} \\d`, 'm'), name);
      }
      assert.match(monitorMetrics, /payments_outcomes_recorded\{[^}]*status="succeeded"[^}]*\} 1/);
      assert.equal((await fetch(`${monitor.url}/healthz`)).status, 200);
    } finally {
      await api.close();
      await worker.close();
      await monitor.close();
    }
  });

  test('no warning when the append-only file is on', async () => {
    const server = await startPrivateRedis();
    try {
      const { logger, lines } = capturingLogger();
      const worker = await runWorker(loadConfig(workerSettings, { redisUrl: server.url, outboxRelay: 'false' }, {}), { logger });
      await worker.close();
      assert.equal(lines.some((l) => AOF_WARNING.test(l.msg)), false);
      assert.ok(lines.some((l) => /payments worker started/.test(l.msg)));
    } finally {
      await server.destroy();
    }
  });
});
