// The HTTP API: /graphql search (filters, cursor pagination, validation, limits, O(1) queries per
// page, templates), /internal/graphql administration, the queue dashboard, and their API keys.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { buildChroniclesApi, type ChroniclesApi } from '../../src/chronicles/api.ts';
import { createSearchSql } from '../../src/chronicles/entries-query.ts';
import { toWritePart } from '../../src/chronicles/ingest-worker.ts';
import { deleteTagRule } from '../../src/chronicles/tag-rules.ts';
import { createMetricsRegistry } from '../../src/platform/metrics.ts';
import { testDatabaseUrl } from '../support/database.ts';
import { redisUrl } from '../support/wait-for.ts';
import { deleteRedisKeys, entryValue, logger, newWriter, rawMessage, unique } from './support/chronicles.ts';

const PUBLIC_KEY = 'public-key-0123456789abcdef';
const INTERNAL_KEY = 'internal-key-0123456789abcdef';
const HOUR = 3_600_000;

interface Fixture {
  sequence_code: string;
  subject_gid: string;
  performer_gid: string | null;
  action_name: string;
  payload: Record<string, unknown>;
  occurred_at: string;
  feed_tags: string[];
  access_tags: string[];
}

describe('chronicles GraphQL API', () => {
  let queries = 0;
  const sql = postgres(testDatabaseUrl(), { max: 4, onnotice: () => {}, debug: () => void queries++ });
  let api: ChroniclesApi;
  const app = unique('gql');
  const queuePrefix = unique('chrapi');
  const base = Date.now() - 10 * HOUR;
  const fixtures: Fixture[] = [];
  const ruleIds: string[] = [];

  before(async () => {
    for (let i = 0; i < 60; i++) {
      fixtures.push({
        sequence_code: randomUUID(),
        subject_gid: `gid://plat/Job/${i % 6}`,
        performer_gid: i % 10 === 0 ? null : `gid://plat/User/${i % 4}`,
        action_name: ['paid', 'updated', 'commented'][i % 3]!,
        payload: { amount: i, currency: i % 2 ? 'EUR' : 'USD', flag: { gid: `gid://plat/Flag/${i % 5}` } },
        // Pairs of entries share a millisecond: the cursor must break ties by id.
        occurred_at: new Date(base + Math.floor(i / 2) * 60_000).toISOString(),
        feed_tags: i % 4 === 0 ? ['team-a'] : i % 4 === 1 ? ['team-b', 'team-a'] : [],
        access_tags: i % 7 === 0 ? ['role:admin'] : [],
      });
    }
    await newWriter(sql).write(toWritePart(fixtures.map((f) => rawMessage(entryValue(app, { ...f }))), { maxMessageBytes: 65536 }));
    api = await buildChroniclesApi({
      sql,
      redisUrl: redisUrl(),
      queuePrefix,
      apiKeys: [PUBLIC_KEY],
      internalApiKeys: [INTERNAL_KEY],
      logger,
      registry: createMetricsRegistry('chronicles-test'),
    });
  });

  after(async () => {
    for (const id of ruleIds) await deleteTagRule(sql, id);
    await sql`delete from chronicles.templates where app = ${app}`;
    await api?.close();
    await sql.end();
    await deleteRedisKeys(queuePrefix);
  });

  async function gql(query: string, variables: Record<string, unknown> = {}, options: { path?: string; key?: string } = {}) {
    const response = await api.app.inject({
      method: 'POST',
      url: options.path ?? '/graphql',
      headers: { authorization: `Bearer ${options.key ?? (options.path ? INTERNAL_KEY : PUBLIC_KEY)}` },
      payload: { query, variables },
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- GraphQL responses are checked field by field
    type Data = Record<string, any>;
    return { status: response.statusCode, body: response.json() as { data?: Data; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } };
  }

  const SEARCH = `query($filter: EntryFilter!, $first: Int, $after: String) {
    entries(filter: $filter, first: $first, after: $after) {
      edges { cursor node { sequenceCode subjectGid occurredAt } }
      pageInfo { hasNextPage endCursor }
    }
  }`;

  async function search(filter: Record<string, unknown>, first = 100): Promise<string[]> {
    const { body } = await gql(SEARCH, { filter: { app, ...filter }, first });
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data!.entries.edges.map((e: { node: { sequenceCode: string } }) => e.node.sequenceCode);
  }

  /** Newest first, ties by insertion order reversed (ids grow with insertion). */
  const expected = (match: (f: Fixture, i: number) => boolean) =>
    fixtures
      .map((f, i) => ({ f, i }))
      .filter(({ f, i }) => match(f, i))
      .sort((a, b) => b.f.occurred_at.localeCompare(a.f.occurred_at) || b.i - a.i)
      .map(({ f }) => f.sequence_code);

  test('the search pool sets a statement timeout and turns JIT, parallel workers and bitmap scans off at connect', async () => {
    const search = createSearchSql(testDatabaseUrl(), { applicationName: 'chronicles-test', max: 1, statementTimeoutMs: 1234 });
    try {
      const [row] = await search<{ timeout: string; jit: string; name: string; bitmap: string; parallel: string }[]>`
        select current_setting('statement_timeout') as timeout, current_setting('jit') as jit, current_setting('application_name') as name,
               current_setting('enable_bitmapscan') as bitmap, current_setting('max_parallel_workers_per_gather') as parallel`;
      assert.deepEqual({ ...row }, { timeout: '1234ms', jit: 'off', name: 'chronicles-test', bitmap: 'off', parallel: '0' });
      await assert.rejects(search`select pg_sleep(2)`, /statement timeout/);
    } finally {
      await search.end();
    }
  });

  test('/graphql, /internal/graphql and /queues each need their own key; /ping does not', async () => {
    const post = (url: string, headers: Record<string, string>) => api.app.inject({ method: 'POST', url, headers, payload: { query: '{ __typename }' } });
    const none = await post('/graphql', {});
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().error.type, 'authentication_error');
    assert.equal((await post('/graphql', { authorization: 'Bearer wrong-key-0123456789' })).statusCode, 401);
    assert.equal((await post('/graphql', { authorization: `Bearer ${INTERNAL_KEY}` })).statusCode, 401);
    assert.equal((await post('/graphql', { 'x-api-key': PUBLIC_KEY })).statusCode, 200);
    assert.equal((await post('/internal/graphql', { authorization: `Bearer ${PUBLIC_KEY}` })).statusCode, 401);
    assert.equal((await post('/internal/graphql', { 'x-api-key': INTERNAL_KEY })).statusCode, 200);
    assert.equal((await api.app.inject({ method: 'GET', url: '/graphql?query={__typename}' })).statusCode, 401);

    const dashboard = await api.app.inject({ method: 'GET', url: '/queues' });
    assert.equal(dashboard.statusCode, 401);
    assert.match(String(dashboard.headers['www-authenticate']), /^Basic realm=/);
    const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`ops:${password}`).toString('base64')}` });
    assert.equal((await api.app.inject({ method: 'GET', url: '/queues', headers: basic(PUBLIC_KEY) })).statusCode, 401);
    const page = await api.app.inject({ method: 'GET', url: '/queues', headers: basic(INTERNAL_KEY) });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<html/i);
    const queues = await api.app.inject({ method: 'GET', url: '/queues/api/queues', headers: basic(INTERNAL_KEY) });
    assert.equal(queues.statusCode, 200);
    assert.deepEqual(queues.json().queues.map((q: { name: string }) => q.name).sort(), ['ingest', 'maintenance']);

    const ping = await api.app.inject({ method: 'GET', url: '/ping' });
    assert.deepEqual(ping.json(), { pong: true, service: 'chronicles-api' });
  });

  test('each filter returns exactly its entries, newest first', async () => {
    const at = (i: number) => new Date(base + i * 60_000).toISOString();
    assert.deepEqual(await search({ subjectGids: ['gid://plat/Job/1'] }), expected((f) => f.subject_gid === 'gid://plat/Job/1'));
    assert.deepEqual(await search({ subjectType: 'Job', subjectGids: ['gid://plat/Job/1', 'gid://plat/Job/4'] }), expected((f) => /Job\/[14]$/.test(f.subject_gid)));
    assert.deepEqual(await search({ performerGids: ['gid://plat/User/3', 'gid://plat/User/2'] }), expected((f) => /User\/[23]$/.test(f.performer_gid ?? '')));
    assert.deepEqual(
      await search({ actionNames: ['paid'], occurredAfter: at(5), occurredBefore: at(20) }),
      expected((f) => f.action_name === 'paid' && f.occurred_at >= at(5) && f.occurred_at < at(20)),
    );
    assert.deepEqual(await search({ actionNames: ['paid', 'commented'] }), expected((f) => f.action_name !== 'updated'));
    assert.deepEqual(await search({ tags: ['team-a'] }), expected((f) => f.feed_tags.includes('team-a')));
    assert.deepEqual(await search({ tags: ['team-b', 'team-a'] }), expected((f) => f.feed_tags.length > 0));
    assert.deepEqual(await search({ tags: ['no-such-tag'] }), []);
    assert.deepEqual(await search({ accessTags: ['role:admin'] }), expected((f) => f.access_tags.includes('role:admin')));
    assert.deepEqual(
      await search({ payload: [{ operation: 'EQ', path: ['flag', 'gid'], value: 'gid://plat/Flag/2' }] }),
      expected((f) => (f.payload.flag as { gid: string }).gid === 'gid://plat/Flag/2'),
    );
    assert.deepEqual(
      await search({ sequenceCodes: [fixtures[3]!.sequence_code, fixtures[9]!.sequence_code] }),
      expected((_, i) => i === 3 || i === 9),
    );
    assert.deepEqual(
      await search({
        subjectGids: ['gid://plat/Job/0', 'gid://plat/Job/3'],
        tags: ['team-a'],
        actionNames: ['paid', 'updated'],
        payload: [
          { operation: 'IN', path: ['currency'], value: ['USD'] },
          { operation: 'NEQ', path: ['amount'], value: 0 },
        ],
      }),
      expected((f) => /Job\/[03]$/.test(f.subject_gid) && f.feed_tags.includes('team-a') && f.action_name !== 'commented' && f.payload.currency === 'USD' && f.payload.amount !== 0),
    );
  });

  test('cursor pagination visits every entry once, in order, ties included', async () => {
    const filter = { app, occurredAfter: new Date(base - HOUR).toISOString(), occurredBefore: new Date(base + 2 * HOUR).toISOString() };
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 20; page++) {
      const { body } = await gql(SEARCH, { filter, first: 7, after });
      const { edges, pageInfo } = body.data!.entries;
      seen.push(...edges.map((e: { node: { sequenceCode: string } }) => e.node.sequenceCode));
      if (!pageInfo.hasNextPage) break;
      assert.equal(pageInfo.endCursor, edges[edges.length - 1].cursor);
      after = pageInfo.endCursor;
    }
    assert.deepEqual(seen, expected(() => true));
  });

  test('bad input is refused with what is wrong: injection in a path, unselective filters, page size, cursor, time', async () => {
    const errorOf = async (filter: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
      const { status, body } = await gql(SEARCH, { filter, ...extra });
      assert.ok(body.errors?.length, `accepted: ${JSON.stringify(filter)}`);
      assert.equal(body.data?.entries ?? null, null);
      return { status, error: body.errors![0]! };
    };
    const injection = await errorOf({ payload: [{ operation: 'EQ', path: ["a'); drop table chronicles.entries; --"], value: 1 }] });
    assert.equal(injection.error.extensions?.code, 'BAD_USER_INPUT');
    assert.match(injection.error.message, /filter\.payload\.0\.path\.0: a path segment must be 1-64 letters, digits or _/);
    assert.equal((await search({ subjectGids: ['gid://plat/Job/1'] })).length, 10, 'the table is still there');

    assert.match((await errorOf({})).error.message, /the filter must narrow the search/);
    assert.match((await errorOf({ app })).error.message, /the filter must narrow the search/);
    assert.match((await errorOf({ app, payload: [{ operation: 'EXISTS', path: ['amount'] }] })).error.message, /narrow the search/);
    assert.match(
      (await errorOf({ occurredAfter: '2024-01-01T00:00:00Z', occurredBefore: '2024-03-01T00:00:00Z' })).error.message,
      /time range .* of at most 31 days/,
    );
    assert.match((await errorOf({ app, subjectGids: ['x'] }, { first: 0 })).error.message, /first must be 1-100/);
    assert.match((await errorOf({ app, subjectGids: ['x'] }, { first: 101 })).error.message, /first must be 1-100/);
    assert.match((await errorOf({ app, subjectGids: ['x'] }, { after: 'bm90IGEgY3Vyc29y' })).error.message, /not a cursor/);
    assert.match((await errorOf({ app, subjectGids: ['x'], occurredAfter: 'yesterday' })).error.message, /DateTime must be an ISO 8601 instant/);
    assert.match((await errorOf({ app, subjectGids: ['x'], payload: [{ operation: 'IN', path: ['a'], value: 'x' }] })).error.message, /IN needs an array/);
  });

  test('injection attempts in gids, tag names and payload values are data: matched literally, never run', async () => {
    const other = unique('gqlinj');
    const hostile = {
      subject_gid: `gid://plat/Job/1');delete/**/from/**/chronicles.entries;--`,
      performer_gid: `gid://plat/User/1'/**/or/**/'1'='1`,
      feed_tags: [`x' or '1'='1`, `y"); drop table chronicles.tags; --`],
      payload: { note: `'; truncate chronicles.entries; --`, 'a"b': 1 },
    };
    const entry = entryValue(other, { ...hostile, occurred_at: new Date(base).toISOString() });
    await newWriter(sql).write(toWritePart([rawMessage(entryValue(other, { occurred_at: new Date(base).toISOString() })), rawMessage(entry)], { maxMessageBytes: 65536 }));
    const find = async (filter: Record<string, unknown>) => {
      const { body } = await gql(SEARCH, { filter: { app: other, ...filter } });
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      return body.data!.entries.edges.map((e: { node: { sequenceCode: string } }) => e.node.sequenceCode);
    };
    const only = [entry.sequence_code];
    assert.deepEqual(await find({ subjectGids: [hostile.subject_gid] }), only);
    assert.deepEqual(await find({ performerGids: [hostile.performer_gid] }), only);
    assert.deepEqual(await find({ tags: [hostile.feed_tags[0]] }), only);
    assert.deepEqual(await find({ subjectGids: ['gid://plat/Job/1', 'gid://x/Y/1'], tags: [hostile.feed_tags[1]] }), []);
    assert.deepEqual(await find({ payload: [{ operation: 'EQ', path: ['note'], value: hostile.payload.note }] }), only);
    // Near misses of the same strings match nothing: they are compared, not interpreted.
    assert.deepEqual(await find({ subjectGids: [`gid://plat/Job/1'/**/or/**/'1'='1`] }), []);
    assert.deepEqual(await find({ tags: [`z' or '1'='1`] }), []);
    // A quote where only names are allowed is refused before any SQL, naming the field.
    const { body } = await gql(SEARCH, { filter: { app: `x' or '1'='1`, subjectGids: ['gid://plat/Job/1'] } });
    assert.equal(body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.match(body.errors![0]!.message, /filter\.app: expected 1-64 letters, digits/);
    const [{ n }] = (await sql`select count(*)::int as n from chronicles.entries where app = ${other}`) as unknown as [{ n: number }];
    assert.equal(n, 2, 'nothing was deleted');
    assert.equal((await search({ subjectGids: ['gid://plat/Job/1'] })).length, 10, 'the other entries are still there');
  });

  test('query depth and cost are limited', async () => {
    const deep = await gql('{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }');
    assert.ok(deep.body.errors?.some((e) => /depth/i.test(e.message)), JSON.stringify(deep.body).slice(0, 300));
    const aliases = ['a', 'b', 'c', 'd'].map((a) => `${a}: entries(filter: {subjectGids: ["x"]}) { nodes { id } }`).join(' ');
    const costly = await gql(`{ ${aliases} }`);
    assert.match(costly.body.errors![0]!.message, /more than 3 entries searches/);
    const wide = await gql(`{ entries(filter: {subjectGids: ["x"]}) { nodes { ${Array.from({ length: 301 }, (_, i) => `f${i}: id`).join(' ')} } } }`);
    assert.match(wide.body.errors![0]!.message, /more than 300 fields/);
  });

  test('a page costs the same few queries whatever its size (tags, access tags and text batched)', async () => {
    const PAGE = `query($filter: EntryFilter!, $first: Int) { entries(filter: $filter, first: $first) { nodes { id tags accessTags text payload } } }`;
    const filter = { app, occurredAfter: new Date(base - HOUR).toISOString(), occurredBefore: new Date(base + 2 * HOUR).toISOString() };
    const count = async (first: number) => {
      queries = 0;
      const { body } = await gql(PAGE, { filter, first });
      assert.equal(body.data!.entries.nodes.length, first);
      return queries;
    };
    await count(2); // warm-up: the driver fetches type information once per connection
    const small = await count(3);
    const large = await count(50);
    assert.equal(large, small);
    // The search, tags, access tags and templates.
    assert.equal(small, 4);
  });

  test('templates render each entry as text; missing values show as —; no template, no text', async () => {
    const created = await gql(
      `mutation($input: TemplateInput!) { createTemplate(input: $input) { id body } }`,
      { input: { app, subjectType: 'Job', actionName: 'paid', body: '{{performer_gid}} paid {{payload.amount}} {{payload.currency}} on {{subject_gid}} {{payload.tip}}' } },
      { path: '/internal/graphql' },
    );
    assert.equal(created.body.errors, undefined, JSON.stringify(created.body.errors));
    const { body } = await gql(`query($f: EntryFilter!) { entries(filter: $f, first: 100) { nodes { sequenceCode actionName text tags accessTags } } }`, {
      f: { app, subjectGids: ['gid://plat/Job/0'] },
    });
    const byCode = new Map(fixtures.map((f) => [f.sequence_code, f]));
    for (const node of body.data!.entries.nodes) {
      const f = byCode.get(node.sequenceCode)!;
      if (f.action_name === 'paid') assert.equal(node.text, `${f.performer_gid ?? '—'} paid ${f.payload.amount} ${f.payload.currency} on gid://plat/Job/0 —`);
      else assert.equal(node.text, null);
      assert.deepEqual(node.tags, [...f.feed_tags].sort());
      assert.deepEqual(node.accessTags, f.access_tags);
    }
    const duplicate = await gql(
      `mutation($input: TemplateInput!) { createTemplate(input: $input) { id } }`,
      { input: { app, subjectType: 'Job', actionName: 'paid', body: 'again' } },
      { path: '/internal/graphql' },
    );
    assert.equal(duplicate.body.errors![0]!.extensions?.code, 'CONFLICT');
    const id = created.body.data!.createTemplate.id;
    const updated = await gql(
      `mutation($id: ID!, $input: TemplateInput!) { updateTemplate(id: $id, input: $input) { body } }`,
      { id, input: { app, subjectType: 'Job', actionName: 'paid', body: 'paid by {{performer_gid}}' } },
      { path: '/internal/graphql' },
    );
    assert.equal(updated.body.data!.updateTemplate.body, 'paid by {{performer_gid}}');
    const bad = await gql(`mutation($input: TemplateInput!) { createTemplate(input: $input) { id } }`, { input: { app, subjectType: 'Job', actionName: 'x', body: '{{env.SECRET}}' } }, { path: '/internal/graphql' });
    assert.equal(bad.body.errors![0]!.extensions?.code, 'BAD_USER_INPUT');
    assert.match(bad.body.errors![0]!.message, /unknown placeholder \{\{env.SECRET\}\}/);
    const deleted = await gql(`mutation($id: ID!) { deleteTemplate(id: $id) }`, { id }, { path: '/internal/graphql' });
    assert.equal(deleted.body.data!.deleteTemplate, true);
  });

  test('internal API: tag rule CRUD, the re-apply job, dead letters', async () => {
    const RULE = `id name app actionNames conditions { operation path value } tags kind enabled`;
    const created = await gql(
      `mutation($input: TagRuleInput!) { createTagRule(input: $input) { ${RULE} } }`,
      { input: { name: 'vip', app, actionNames: ['paid'], conditions: [{ operation: 'EQ', path: ['flag', 'gid'], value: 'gid://plat/Flag/1' }], tags: ['vip'], kind: 'ACCESS' } },
      { path: '/internal/graphql' },
    );
    assert.equal(created.body.errors, undefined, JSON.stringify(created.body.errors));
    const rule = created.body.data!.createTagRule;
    ruleIds.push(rule.id);
    assert.deepEqual({ ...rule, id: undefined }, {
      id: undefined,
      name: 'vip',
      app,
      actionNames: ['paid'],
      conditions: [{ operation: 'EQ', path: ['flag', 'gid'], value: 'gid://plat/Flag/1' }],
      tags: ['vip'],
      kind: 'ACCESS',
      enabled: true,
    });
    const updated = await gql(
      `mutation($id: ID!, $input: TagRuleInput!) { updateTagRule(id: $id, input: $input) { ${RULE} } }`,
      { id: rule.id, input: { name: 'vip2', app, tags: ['vip'], enabled: false } },
      { path: '/internal/graphql' },
    );
    assert.equal(updated.body.data!.updateTagRule.enabled, false);
    assert.equal(updated.body.data!.updateTagRule.kind, 'FEED');
    const listed = await gql(`{ tagRules { id name } }`, {}, { path: '/internal/graphql' });
    assert.ok(listed.body.data!.tagRules.some((r: { id: string }) => r.id === rule.id));
    const invalid = await gql(
      `mutation($input: TagRuleInput!) { createTagRule(input: $input) { id } }`,
      { input: { name: 'x', tags: ['a'], conditions: [{ operation: 'EQ', path: ['x;drop'], value: 1 }] } },
      { path: '/internal/graphql' },
    );
    assert.match(invalid.body.errors![0]!.message, /input\.conditions\.0\.path\.0/);
    const missing = await gql(`mutation { updateTagRule(id: "999999999", input: {name: "x", tags: ["a"]}) { id } }`, {}, { path: '/internal/graphql' });
    assert.equal(missing.body.errors![0]!.extensions?.code, 'NOT_FOUND');

    const job = await gql(`mutation { reapplyTagRules(occurredAfter: "2024-01-01T00:00:00Z") { id state } }`, {}, { path: '/internal/graphql' });
    const jobId = job.body.data!.reapplyTagRules.id;
    assert.match(jobId, /^\d+$/);
    const status = await gql(`query($id: ID!) { reapplyJob(id: $id) { id state progress } }`, { id: jobId }, { path: '/internal/graphql' });
    assert.ok(['waiting', 'active', 'completed'].includes(status.body.data!.reapplyJob.state));

    const deleted = await gql(`mutation($id: ID!) { deleteTagRule(id: $id) }`, { id: rule.id }, { path: '/internal/graphql' });
    assert.equal(deleted.body.data!.deleteTagRule, true);

    const dead = await gql(`{ deadLetters(first: 5) { id topic reason raw } }`, {}, { path: '/internal/graphql' });
    assert.equal(dead.body.errors, undefined);
    assert.ok(Array.isArray(dead.body.data!.deadLetters));
  });
});
