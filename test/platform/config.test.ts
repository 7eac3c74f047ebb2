import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { commonSettings, ConfigError, flag, loadConfig, port, positiveInt } from '../../src/platform/config.ts';

const settings = {
  ...commonSettings,
  port: { schema: port(8787), description: 'HTTP port' },
  maxRps: { schema: positiveInt(50), description: 'request budget per second' },
  hardDeletes: { schema: flag(), description: 'delete rows instead of marking them', switch: true },
  stripeKey: { schema: z.string().startsWith('sk_', { error: 'expected a Stripe secret key (sk_…)' }).optional(), description: 'Stripe key' },
};

test('reads the environment, coerces numbers and booleans, applies defaults', () => {
  const config = loadConfig(settings, {}, { DATABASE_URL: 'postgres://u:p@localhost:5432/db', MAX_RPS: '20', HARD_DELETES: 'true' });
  assert.equal(config.databaseUrl, 'postgres://u:p@localhost:5432/db');
  assert.equal(config.redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(config.port, 8787);
  assert.equal(config.maxRps, 20);
  assert.equal(config.hardDeletes, true);
  assert.equal(config.kafkaBrokers, undefined);
});

test('CLI flags win over the environment', () => {
  const config = loadConfig(settings, { port: '9000', hardDeletes: true }, { DATABASE_URL: 'postgres://localhost/db', PORT: '8000' });
  assert.equal(config.port, 9000);
  assert.equal(config.hardDeletes, true);
});

test('a missing or bad value names the variable, its flag and what it expects', () => {
  assert.throws(
    () => loadConfig(settings, {}, { PORT: 'eighty', MAX_RPS: '-3', KAFKA_BROKERS: 'not a broker list' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /DATABASE_URL \(--database-url\): is required/);
      assert.match(err.message, /PORT \(--port\): .*number/);
      assert.match(err.message, /MAX_RPS \(--max-rps\): .*>0/);
      assert.match(err.message, /KAFKA_BROKERS \(--kafka-brokers\): expected host:port/);
      return true;
    },
  );
});

test('a rejected secret is never echoed back', () => {
  const env = { DATABASE_URL: 'mysql://admin:hunter2@db/x', STRIPE_KEY: 'pk_live_abcdef123456' };
  assert.throws(
    () => loadConfig(settings, {}, env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /DATABASE_URL .*expected a postgres:\/\/ or postgresql:\/\/ URL/);
      assert.match(err.message, /STRIPE_KEY .*expected a Stripe secret key/);
      assert.doesNotMatch(err.message, /hunter2|abcdef123456/);
      return true;
    },
  );
});
