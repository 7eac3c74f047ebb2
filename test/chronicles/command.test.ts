// The four roles as processes, started through registerChroniclesCommand: settings and --help,
// api answering and shutting down on SIGTERM, consumer + worker moving a bus message into a row,
// and seed.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { Command } from 'commander';
import { registerChroniclesCommand } from '../../src/chronicles/command.ts';
import { createBus } from '../../src/platform/bus/index.ts';
import { testDatabaseUrl, testSql } from '../support/database.ts';
import { freePort } from '../support/ports.ts';
import { redisUrl, waitFor } from '../support/wait-for.ts';
import { countEntries, deleteRedisKeys, entryValue, logger, unique } from './support/chronicles.ts';

const run = promisify(execFile);
// Children of the test runner inherit NODE_TEST_CONTEXT and would report as test files.
const { NODE_TEST_CONTEXT: _, ...baseEnv } = process.env;
const cli = fileURLToPath(new URL('./support/cli.ts', import.meta.url));
const node = process.execPath;

function start(args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(node, [cli, 'chronicles', ...args], { env: { ...baseEnv, LOG_LEVEL: process.env.CHILD_LOG_LEVEL ?? 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return { child, output: () => output };
}

async function stop(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  return code ?? `killed by ${signal}`;
}

describe('ledgerline chronicles', () => {
  const sql = testSql();
  const prefixes: string[] = [];
  after(async () => {
    await sql.end();
    await deleteRedisKeys(...prefixes);
  });

  test('--help lists the roles and every setting with its environment variable', () => {
    const program = new Command('ledgerline');
    const chronicles = registerChroniclesCommand(program);
    const role = (name: string) => chronicles.commands.find((c) => c.name() === name)!.helpInformation();
    assert.deepEqual(chronicles.commands.map((c) => c.name()).sort(), ['api', 'consumer', 'seed', 'worker']);
    assert.match(role('api'), /--api-keys <value>[^]*\(env\s+CHRONICLES_API_KEYS\)/);
    assert.match(role('api'), /--internal-api-keys <value>/);
    assert.match(role('consumer'), /--max-job-entries <value>[^]*\(env\s+CHRONICLES_MAX_JOB_ENTRIES\)/);
    assert.match(role('worker'), /--retention-months <value>[^]*\(env\s+CHRONICLES_RETENTION_MONTHS\)/);
    assert.match(role('seed'), /--rows <value>/);
    assert.match(role('seed'), /--resume\s[^]*\(env\s+CHRONICLES_SEED_RESUME\)/);
  });

  test('a missing key stops the api with a message naming the variable', async () => {
    const failed = await run(node, [cli, 'chronicles', 'api'], { env: { ...baseEnv, DATABASE_URL: testDatabaseUrl(), CHRONICLES_API_KEYS: '', CHRONICLES_INTERNAL_API_KEYS: '' } }).then(
      () => assert.fail('api started without keys'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /CHRONICLES_API_KEYS \(--api-keys\)/);
  });

  test('api serves /ping and /graphql, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const key = 'cli-test-key-0123456789';
    const { child, output } = start(['api', '--port', String(port)], {
      DATABASE_URL: testDatabaseUrl(),
      REDIS_URL: redisUrl(),
      CHRONICLES_API_KEYS: key,
      CHRONICLES_INTERNAL_API_KEYS: 'internal-cli-key-0123456789',
      CHRONICLES_QUEUE_PREFIX: unique('chrcli'),
    });
    try {
      const ping = await waitFor(`the api (${output()})`, async () => fetch(`http://127.0.0.1:${port}/ping`).then((r) => r.json(), () => undefined), 20_000);
      assert.deepEqual(ping, { pong: true, service: 'chronicles-api' });
      const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ entries(filter: {subjectGids: ["gid://none/1"]}) { nodes { id } } }' }),
      });
      assert.deepEqual(await response.json(), { data: { entries: { nodes: [] } } });
    } finally {
      assert.equal(await stop(child), 0, output());
    }
  });

  test('consumer and worker move a bus message into a row; seed writes rows', async () => {
    const busPrefix = `${unique('chrclibus')}:`;
    const queuePrefix = unique('chrcliq');
    prefixes.push(busPrefix, queuePrefix);
    const env = { DATABASE_URL: testDatabaseUrl(), REDIS_URL: redisUrl(), KAFKA_BROKERS: '', BUS_PREFIX: busPrefix, CHRONICLES_QUEUE_PREFIX: queuePrefix };
    const [consumerPort, workerPort] = [await freePort(), await freePort()];
    const consumer = start(['consumer', '--metrics-port', String(consumerPort), '--bus-partitions', '4'], env);
    const worker = start(['worker', '--concurrency', '4', '--metrics-port', String(workerPort)], env);
    const bus = createBus({ redisUrl: redisUrl(), prefix: busPrefix, logger, clientId: 'cli-test' });
    const app = unique('cli');
    try {
      await bus.publish('chronicles.entries', 'k', entryValue(app));
      await waitFor(`the entry (${consumer.output()} ${worker.output()})`, async () => (await countEntries(sql, app)) === 1, 30_000);
      // Both roles report healthy once fully started (and their signal handlers installed).
      for (const port of [consumerPort, workerPort]) {
        const health = await waitFor('/healthz', async () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.json() as Promise<{ status: string }>, () => undefined), 20_000);
        assert.equal(health.status, 'ok', JSON.stringify(health));
      }
    } finally {
      await bus.close();
      assert.equal(await stop(consumer.child), 0, consumer.output());
      assert.equal(await stop(worker.child), 0, worker.output());
    }

    const seedApp = unique('cliseed');
    const { stdout } = await run(node, [cli, 'chronicles', 'seed', '--rows', '500', '--months', '1', '--app', seedApp], { env: { ...baseEnv, DATABASE_URL: testDatabaseUrl() } });
    assert.equal(JSON.parse(stdout).rows, 500);
    assert.equal(await countEntries(sql, seedApp), 500);
    // --resume finishes an interrupted seed: a month that holds entries is skipped.
    const resumed = await run(node, [cli, 'chronicles', 'seed', '--rows', '500', '--months', '1', '--app', seedApp, '--resume'], { env: { ...baseEnv, DATABASE_URL: testDatabaseUrl() } });
    assert.equal(JSON.parse(resumed.stdout).rows, 0);
    assert.equal(await countEntries(sql, seedApp), 500);
  });
});
