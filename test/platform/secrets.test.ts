import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/platform/log.ts';
import { redactDeep, redactSecrets } from '../../src/platform/redact.ts';

/** A logger writing its JSON lines into an array. */
function capturingLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ name: 'test', level: 'info' }, sink) };
}

test('URL passwords and Stripe keys are masked', () => {
  assert.equal(redactSecrets('postgres://app:s3cret@db:5432/x'), 'postgres://app:***@db:5432/x');
  assert.equal(redactSecrets('key sk_test_51Habcdefghij and rk_live_xyz12345'), 'key sk_test_*** and rk_live_***');
  assert.equal(redactSecrets('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  assert.deepEqual(redactDeep({ a: ['sk_live_abcd1234'], b: { url: 'rediss://:pw@host' } }), { a: ['sk_live_***'], b: { url: 'rediss://:***@host' } });
});

test('logs never carry secrets: messages, errors and credential fields', () => {
  const { lines, logger } = capturingLogger();
  logger.info('connecting to postgres://app:s3cret@db/x');
  logger.error({ err: new Error('auth failed for sk_test_abcdefgh12345678') }, 'stripe said no');
  logger.info({ stripeKey: 'sk_live_zzzz9999', req: { headers: { authorization: 'Bearer sk_test_aaaa1111' } } }, 'request');
  const out = lines.join('');
  assert.equal(lines.length, 3);
  assert.doesNotMatch(out, /s3cret|abcdefgh12345678|zzzz9999|aaaa1111/);
  assert.match(out, /postgres:\/\/app:\*\*\*@db/);
});

test('an err that is not an Error is logged (masked), not thrown', () => {
  const { lines, logger } = capturingLogger();
  logger.warn({ err: 'refused by redis://:pw123@cache:6379' }, 'a string as err');
  logger.warn({ err: { code: 'E', detail: 'sk_test_abcd12345678' } }, 'a plain object as err');
  assert.equal(lines.length, 2);
  const [first, second] = lines.map((l) => JSON.parse(l) as { err: unknown });
  assert.equal(first!.err, 'refused by redis://:***@cache:6379');
  assert.deepEqual(second!.err, { code: 'E', detail: 'sk_test_***' });
});
