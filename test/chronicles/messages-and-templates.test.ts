// Message validation and mappings, tag rule evaluation and template rendering (no servers).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { toWritePart } from '../../src/chronicles/ingest-worker.ts';
import { mapMessage, sequenceCodeFor, uuidV5, type EntryInput } from '../../src/chronicles/message-mappings.ts';
import { tagRuleInputSchema, tagsFromRules, type TagRule } from '../../src/chronicles/tag-rules.ts';
import { MISSING, renderTemplate, templateBodySchema } from '../../src/chronicles/templates.ts';
import { billingEvent, entryValue, paymentOutcome, rawMessage } from './support/chronicles.ts';

const entryOf = (value: unknown, topic = 'chronicles.entries') => {
  const [mapped] = mapMessage(rawMessage(value, topic, 'msg-1'));
  assert.ok(mapped && 'entry' in mapped, `not an entry: ${JSON.stringify(mapped)}`);
  return mapped.entry;
};
const errorOf = (value: unknown, topic = 'chronicles.entries') => {
  const [mapped] = mapMessage(rawMessage(value, topic, 'msg-1'));
  assert.ok(mapped && 'error' in mapped, `accepted: ${JSON.stringify(mapped)}`);
  return mapped.error;
};

describe('chronicles.entries messages', () => {
  test('a valid entry is accepted, kept to the millisecond, with defaults', () => {
    const e = entryOf(entryValue('app', { occurred_at: '2024-05-01T10:00:00.123456+02:00', performer_gid: undefined, payload: undefined, sequence_code: 'A1B2C3D4-0000-4000-8000-000000000001' }));
    assert.equal(e.occurred_at.toISOString(), '2024-05-01T08:00:00.123Z');
    assert.equal(e.performer_gid, null);
    assert.deepEqual(e.payload, {});
    assert.equal(e.sequence_code, 'a1b2c3d4-0000-4000-8000-000000000001');
  });

  test('malformed messages are refused with every reason', () => {
    assert.match(errorOf('not an object'), /expected object/);
    assert.match(errorOf(null), /expected object/);
    const reason = errorOf({ ...entryValue('app'), sequence_code: 'nope', app: 'has space', occurred_at: 'yesterday', payload: [1], extra: true });
    for (const field of ['sequence_code', 'app', 'occurred_at', 'payload', 'extra']) assert.match(reason, new RegExp(field));
    assert.match(errorOf(entryValue('app', { occurred_at: '1999-12-31T23:59:59Z' })), /between 2000-01-01 and tomorrow/);
    assert.match(errorOf(entryValue('app', { occurred_at: new Date(Date.now() + 3 * 86_400_000).toISOString() })), /tomorrow/);
    assert.match(errorOf(entryValue('app', { payload: { note: 'a\u0000b' } })), /NUL/);
    assert.match(errorOf(entryValue('app', { payload: { ['\ud800']: 1 } })), /surrogate/);
  });

  test('a batch message yields one result per entry; a bad entry does not sink the others', () => {
    const results = mapMessage(rawMessage({ entries: [entryValue('a'), { bad: 1 }, entryValue('a')] }));
    assert.deepEqual(results.map((r) => ('entry' in r ? 'entry' : 'error')), ['entry', 'error', 'entry']);
    assert.deepEqual(results.map((r) => r.item), [0, 1, 2]);
    assert.match(errorOf({ entries: [] }), /entries/);
  });

  test('oversize messages and unknown topics become reasons', () => {
    const [oversize] = mapMessage({ topic: 'chronicles.entries', id: 'x', key: 'x', publishedAt: 0, oversize: { bytes: 999_999, head: '{"a":' } });
    assert.match((oversize as { error: string }).error, /999999 bytes, over the limit/);
    assert.match(errorOf({}, 'some.topic'), /no mapping for topic some.topic/);
  });

  test('toWritePart splits entries from dead letters, keeping the raw message and its source', () => {
    const good = rawMessage(entryValue('app'));
    const bad = rawMessage({ hello: 'world' });
    const part = toWritePart([good, bad], { maxMessageBytes: 1000 });
    assert.equal(part.entries.length, 1);
    assert.deepEqual(part.entries[0]!.source, { topic: 'chronicles.entries', message_id: good.id, item: 0 });
    assert.equal(part.deadLetters.length, 1);
    assert.equal(part.deadLetters[0]!.raw, '{"hello":"world"}');
    assert.equal(part.deadLetters[0]!.message_id, bad.id);
    const old = toWritePart([rawMessage(entryValue('app', { occurred_at: '2020-01-01T00:00:00Z' }))], { maxMessageBytes: 1000, retentionCutoff: new Date('2021-01-01T00:00:00Z') });
    assert.equal(old.entries.length, 0);
    assert.match(old.deadLetters[0]!.reason, /older than the retention window/);
  });
});

describe('mappings of other topics', () => {
  test('uuid v5 matches the RFC test vector', () => {
    assert.equal(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  test('payments.outcomes, in the shape payments publishes: the tracking id gives a deterministic sequence_code', () => {
    const outcome = paymentOutcome('42', { extra: 'ignored' });
    const e = entryOf(outcome, 'payments.outcomes');
    assert.equal(e.sequence_code, sequenceCodeFor('payments.outcomes', 'msg-1'));
    assert.equal(e.sequence_code, entryOf(outcome, 'payments.outcomes').sequence_code);
    assert.match(e.sequence_code, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(
      { app: e.app, subject: e.subject_gid, action: e.action_name, performer: e.performer_gid, at: e.occurred_at.toISOString() },
      { app: 'payments', subject: 'gid://ledgerline/Payment/42', action: 'payment.succeeded', performer: 'gid://ledgerline/Payer/alice', at: '2024-05-01T00:00:01.000Z' },
    );
    assert.deepEqual(e.payload, { tracking_id: '42', payer_id: 'alice', recipient_id: 'bob', amount: 1250, currency: 'USD', status: 'succeeded', attempts: 1 });
    assert.match(errorOf({ ...outcome, recipient_id: undefined, currency: 'dollars' }, 'payments.outcomes'), /recipient_id[^]*currency/);
  });

  test('billing.records, in the shape billing publishes: the event id gives the sequence_code; record gid, product, kind, status, amount', () => {
    const event = billingEvent('gid://billing/Record/7', { product_gid: 'gid://billing/Product/3', status: 'paid', amount: 9950 });
    const e = entryOf(event, 'billing.records');
    assert.equal(e.sequence_code, sequenceCodeFor('billing.records', event.id));
    assert.deepEqual(
      { subject: e.subject_gid, action: e.action_name, performer: e.performer_gid, payload: e.payload },
      {
        subject: 'gid://billing/Record/7',
        action: 'billing_record.updated',
        performer: null,
        payload: { event_id: event.id, product_gid: 'gid://billing/Product/3', client_gid: 'gid://app/Client/1', kind: 'invoice', status: 'paid', amount: 9950, currency: 'EUR' },
      },
    );
    assert.match(errorOf({ ...event, record: { ...event.record, gid: undefined } }, 'billing.records'), /record\.gid/);
  });
});

const entry = (overrides: Partial<EntryInput> = {}): EntryInput => ({
  sequence_code: randomUUID(),
  app: 'billing',
  subject_type: 'Invoice',
  subject_gid: 'gid://billing/Invoice/1',
  action_name: 'paid',
  performer_gid: 'gid://plat/User/5',
  payload: { amount: 1200, currency: 'EUR', client: { gid: 'gid://plat/Client/8' } },
  occurred_at: new Date('2024-05-01T00:00:00Z'),
  feed_tags: [],
  access_tags: [],
  ...overrides,
});

describe('templates', () => {
  test('placeholders over fields and payload paths are filled; missing values show as —', () => {
    const e = entry({ performer_gid: null });
    assert.equal(
      renderTemplate('{{ performer_gid }} paid {{payload.amount}} {{payload.currency}} for {{payload.client}} on {{occurred_at}} ({{payload.fee}})', e),
      `${MISSING} paid 1200 EUR for {"gid":"gid://plat/Client/8"} on 2024-05-01T00:00:00.000Z (${MISSING})`,
    );
  });

  test('rendering executes nothing and reads nothing but the entry', () => {
    const e = entry();
    assert.equal(renderTemplate('{{constructor}}{{payload.__proto__}}{{payload.constructor}}{{process.env.HOME}}{{this}}', e), MISSING.repeat(5));
    assert.equal(renderTemplate('{{ payload.amount * 2 }} ${1+1} {{{x}}}', e), `${MISSING} \${1+1} {${MISSING}}`);
  });

  test('a template is validated: known placeholders, valid paths, bounded length', () => {
    assert.equal(templateBodySchema.safeParse('{{performer_gid}} paid {{payload.amount}}').success, true);
    assert.match(templateBodySchema.safeParse('{{password}}').error!.issues[0]!.message, /unknown placeholder/);
    assert.match(templateBodySchema.safeParse("{{payload.a'b}}").error!.issues[0]!.message, /path segment/);
    assert.equal(templateBodySchema.safeParse('x'.repeat(2001)).success, false);
  });
});

describe('tag rule evaluation', () => {
  const rule = (input: unknown, id = '1'): TagRule => ({ id, createdAt: new Date(), updatedAt: new Date(), ...tagRuleInputSchema.parse(input) }) as TagRule;

  test('matches on app, subject type, action names and payload conditions; renders tag names', () => {
    const rules = [
      rule({ name: 'finance', app: 'billing', actionNames: ['paid', 'refunded'], tags: ['finance', 'client:{{payload.client.gid}}'] }),
      rule({ name: 'big', conditions: [{ operation: 'IN', path: ['currency'], value: ['EUR'] }], tags: ['role:finance'], kind: 'access' }, '2'),
      rule({ name: 'other app', app: 'platform', tags: ['never'] }, '3'),
      rule({ name: 'missing placeholder', tags: ['job:{{payload.job}}'] }, '4'),
      rule({ name: 'disabled', tags: ['off'], enabled: false }, '5'),
    ];
    assert.deepEqual(tagsFromRules(rules, entry()), { feed: ['finance', 'client:gid://plat/Client/8'], access: ['role:finance'] });
    assert.deepEqual(tagsFromRules(rules, entry({ payload: { currency: 'USD', client: { gid: 'c' } } })), { feed: ['finance', 'client:c'], access: [] });
    assert.deepEqual(tagsFromRules(rules, entry({ payload: { currency: 'EUR' } })), { feed: ['finance'], access: ['role:finance'] });
    assert.deepEqual(tagsFromRules(rules, entry({ action_name: 'issued', payload: { currency: 'USD' } })), { feed: [], access: [] });
  });

  test('a rule input is validated', () => {
    assert.equal(tagRuleInputSchema.safeParse({ name: 'x', tags: [] }).success, false);
    assert.equal(tagRuleInputSchema.safeParse({ name: 'x', tags: ['{{nope}}'] }).success, false);
    assert.equal(tagRuleInputSchema.safeParse({ name: 'x', tags: ['a'], conditions: [{ operation: 'EQ', path: ["x'--"], value: 1 }] }).success, false);
  });
});
