import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { projectRoot } from '../src/platform/project-root.ts';
import { testDatabaseUrl } from './support/database.ts';
import { freePort } from './support/ports.ts';

const run = promisify(execFile);
const cli = join(projectRoot, 'bin', 'ledgerline');

test('--help lists the commands, and every command has its own --help', async () => {
  const { stdout } = await run(cli, ['--help']);
  for (const command of ['migrate', 'services', 'demo']) assert.match(stdout, new RegExp(`^\\s+${command}\\b`, 'm'));
  const migrateHelp = await run(cli, ['migrate', '--help']);
  assert.match(migrateHelp.stdout, /--database-url <value>[^]*\(env DATABASE_URL\)/);
  const upHelp = await run(cli, ['services', 'up', '--help']);
  assert.match(upHelp.stdout, /--kafka/);
});

test('a bad setting stops start-up with a message naming the variable', async () => {
  const result = await run(cli, ['demo'], { env: { ...process.env, DEMO_PORT: 'not-a-port' } }).then(
    () => assert.fail('demo started with a bad port'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(result.code, 1);
  assert.match(result.stderr, /DEMO_PORT \(--demo-port\)/);
});

test('demo starts every part as its own process, pays through them, and stops them all on SIGTERM', { timeout: 240_000 }, async () => {
  const port = await freePort();
  const ports = {
    STRIPE_EMULATOR_PORT: await freePort(),
    STRIPE_SYNC_PORT: await freePort(),
    PAYMENTS_API_PORT: await freePort(),
    PAYMENTS_MONITOR_PORT: await freePort(),
    CHRONICLES_API_PORT: await freePort(),
    BILLING_API_PORT: await freePort(),
  };
  const child = spawn(cli, ['demo'], {
    env: {
      ...process.env,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      DATABASE_URL: testDatabaseUrl(),
      DEMO_PORT: String(port),
      DEMO_TRAFFIC_INTERVAL: '300ms',
      STRIPE_EMULATOR_CUSTOMERS: '5',
      // Its own Redis prefixes, so a demo payment never meets another test's queue.
      PAYMENTS_KEY_PREFIX: `demo-test-${port}`,
      CHRONICLES_QUEUE_PREFIX: `demo-test-${port}`,
      BILLING_CONSUMER_GROUP: `demo-test-${port}`,
      BUS_PREFIX: `demo-test-${port}`,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const until = async <T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) assert.fail(`${what} within ${ms / 1000} s:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  try {
    await until('console /ping', async () => ((await fetch(`http://127.0.0.1:${port}/ping`)).ok ? true : undefined), 60_000);
    assert.match(output, new RegExp(`http://127\\.0\\.0\\.1:${port}/healthz`));
    // Every role with a port answers /ping, and the console reports all of them running.
    for (const [name, p] of Object.entries(ports)) await until(`${name} ${p} answering /ping`, async () => ((await fetch(`http://127.0.0.1:${p}/ping`)).ok ? true : undefined));
    const health = await until('console /healthz ok', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      return res.ok ? ((await res.json()) as { status: string }) : undefined;
    });
    assert.equal(health.status, 'ok');
    const console_ = (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { roles: Array<{ name: string; running: boolean; restarts: number }> };
    assert.deepEqual(
      console_.roles.map((r) => r.name),
      ['stripe-emulator', 'stripe-sync run', 'payments api', 'payments worker', 'payments monitor', 'chronicles api', 'chronicles consumer', 'chronicles worker', 'billing api', 'billing relay', 'billing consumer'],
    );
    assert.ok(console_.roles.every((r) => r.running && r.restarts === 0), JSON.stringify(console_.roles));
    // The demo's traffic is charged through the emulator by the payments worker.
    const apiKey = /API key \(payments[^:]*: (\S+)/.exec(output)?.[1];
    assert.ok(apiKey, output);
    const auth = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    const paid = await until('a demo payment charged through the Stripe emulator', async () => {
      const res = await fetch(`http://127.0.0.1:${ports.PAYMENTS_API_PORT}/payments?payer_id=payer_0&status=succeeded`, { headers: auth });
      const body = (await res.json()) as { data?: Array<{ tracking_id: string }> };
      return body.data?.[0];
    });
    // Its outcome reaches billing (a payment record) and chronicles (an entry) over the bus.
    await until('the payment as a billing record', async () => {
      const res = await fetch(`http://127.0.0.1:${ports.BILLING_API_PORT}/v1/billing_records?client_gid=payer_0&kind=payment`, { headers: auth });
      const body = (await res.json()) as { data?: unknown[] };
      return body.data?.length ? true : undefined;
    });
    await until('the payment as a chronicles entry', async () => {
      const query = `{ entries(filter: { subjectGids: ["gid://ledgerline/Payment/${paid.tracking_id}"] }, first: 1) { nodes { actionName } } }`;
      const res = await fetch(`http://127.0.0.1:${ports.CHRONICLES_API_PORT}/graphql`, { method: 'POST', headers: auth, body: JSON.stringify({ query }) });
      const body = (await res.json()) as { data?: { entries: { nodes: Array<{ actionName: string }> } } };
      return body.data?.entries.nodes[0]?.actionName === 'payment.succeeded' ? true : undefined;
    });
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, output);
  // The roles went with it: their ports are closed.
  for (const p of Object.values(ports)) await assert.rejects(fetch(`http://127.0.0.1:${p}/ping`), `port ${p} still answers`);
});
