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

test('demo starts, answers /ping and /healthz, and exits cleanly on SIGTERM', async () => {
  const port = await freePort();
  const child = spawn(cli, ['demo'], {
    env: { ...process.env, DATABASE_URL: testDatabaseUrl(), DEMO_PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 60_000;
    let ping: Response | undefined;
    while (!ping && Date.now() < deadline) {
      ping = await fetch(`http://127.0.0.1:${port}/ping`).catch(() => undefined);
      if (!ping) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(ping, `demo did not answer /ping within 60 s:\n${output}`);
    assert.equal(ping.status, 200);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    const body = (await health.json()) as { status: string };
    assert.equal(health.status, 200, JSON.stringify(body));
    assert.equal(body.status, 'ok');
    assert.match(output, new RegExp(`http://127\\.0\\.0\\.1:${port}/healthz`));
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, output);
});
