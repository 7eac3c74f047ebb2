// Resolvers of both GraphQL endpoints. Every input is validated with zod; a bad one is a
// BAD_USER_INPUT error naming each field. Tags, access tags and templates of a page are loaded by
// mercurius loaders — one query per field for the whole page, whatever its size.
import type { Queue } from 'bullmq';
import mercurius from 'mercurius';
import { z } from 'zod';
import type { Sql } from '../platform/db.ts';
import { decodeCursor, encodeCursor, entryFilterSchema, InvalidCursorError, pageSchema, searchEntries, tagsOf, type EntryRow } from './entries-query.ts';
import { DateTimeScalar, JSONScalar, parseArg, userError, withoutNulls } from '../platform/graphql.ts';
import { nameSchema } from './message-mappings.ts';
import { REAPPLY_JOB, type ReapplyJobData } from './queues.ts';
import { createTagRule, deleteTagRule, listTagRules, tagRuleInputSchema, updateTagRule, type TagRule } from './tag-rules.ts';
import {
  createTemplate,
  deleteTemplate,
  listTemplates,
  renderTemplate,
  TemplateConflictError,
  templateInputSchema,
  templateKey,
  templatesFor,
  updateTemplate,
} from './templates.ts';

const { ErrorWithProps } = mercurius;

type Args = Record<string, unknown>;

export interface PublicResolverOptions {
  sql: Sql;
}

export function publicResolvers({ sql }: PublicResolverOptions) {
  return {
    JSON: JSONScalar,
    DateTime: DateTimeScalar,
    Query: {
      async entries(_root: unknown, args: Args) {
        const filter = parseArg(entryFilterSchema, withoutNulls(args.filter), 'filter');
        const page = parseArg(pageSchema, withoutNulls({ first: args.first, after: args.after }), 'page');
        let after;
        try {
          after = page.after ? decodeCursor(page.after) : undefined;
        } catch (err) {
          if (err instanceof InvalidCursorError) throw userError(err.message, [{ field: 'after', message: err.message }]);
          throw err;
        }
        const { rows, hasNextPage } = await searchEntries(sql, filter, { first: page.first, after });
        const last = rows[rows.length - 1];
        return {
          nodes: rows,
          edges: rows.map((node) => ({ cursor: encodeCursor(node), node })),
          pageInfo: { hasNextPage, endCursor: last ? encodeCursor(last) : null },
        };
      },
    },
    Entry: {
      sequenceCode: (e: EntryRow) => e.sequence_code,
      subjectType: (e: EntryRow) => e.subject_type,
      subjectGid: (e: EntryRow) => e.subject_gid,
      actionName: (e: EntryRow) => e.action_name,
      performerGid: (e: EntryRow) => e.performer_gid,
      occurredAt: (e: EntryRow) => e.occurred_at,
      createdAt: (e: EntryRow) => e.created_at,
    },
  };
}

type LoaderQuery = { obj: EntryRow };

export function publicLoaders({ sql }: { sql: Sql }) {
  const tagLoader = (kind: 'feed' | 'access') => async (queries: LoaderQuery[]) => {
    const tags = await tagsOf(sql, kind, queries.map((q) => q.obj));
    return queries.map((q) => tags.get(q.obj.sequence_code) ?? []);
  };
  return {
    Entry: {
      tags: tagLoader('feed'),
      accessTags: tagLoader('access'),
      async text(queries: LoaderQuery[]) {
        const bodies = await templatesFor(sql, queries.map((q) => q.obj));
        return queries.map(({ obj }) => {
          const body = bodies.get(templateKey(obj.app, obj.subject_type, obj.action_name));
          return body === undefined ? null : renderTemplate(body, obj);
        });
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------

const idSchema = z.string().regex(/^\d{1,18}$/, { error: 'expected a numeric id' });

export interface InternalResolverOptions {
  sql: Sql;
  maintenance: Queue;
}

function ruleInput(value: unknown) {
  const raw = withoutNulls(value);
  if (typeof raw.kind === 'string') raw.kind = raw.kind.toLowerCase();
  return parseArg(tagRuleInputSchema, raw, 'input');
}

async function jobView(queue: Queue, id: string) {
  const job = await queue.getJob(id);
  if (!job || job.name !== REAPPLY_JOB) return null;
  return { id: job.id, state: await job.getState(), progress: job.progress ?? null, result: job.returnvalue ?? null, failedReason: job.failedReason ?? null };
}

function conflict<T>(run: () => Promise<T>): Promise<T> {
  return run().catch((err: unknown) => {
    if (err instanceof TemplateConflictError) throw new ErrorWithProps(err.message, { code: 'CONFLICT' }, 409);
    throw err;
  });
}

const notFound = (what: string, id: string) => new ErrorWithProps(`No ${what} ${id}`, { code: 'NOT_FOUND' }, 404);

export function internalResolvers({ sql, maintenance }: InternalResolverOptions) {
  return {
    JSON: JSONScalar,
    DateTime: DateTimeScalar,
    TagRule: { kind: (r: TagRule) => r.kind.toUpperCase() },
    Query: {
      tagRules: () => listTagRules(sql),
      templates: () => listTemplates(sql),
      reapplyJob: (_: unknown, args: Args) => jobView(maintenance, parseArg(idSchema, args.id, 'id')),
      async deadLetters(_: unknown, args: Args) {
        const first = parseArg(z.number().int().min(1).max(500), args.first ?? 50, 'first');
        const topic = args.topic == null ? undefined : parseArg(nameSchema, args.topic, 'topic');
        const rows = await sql<Array<{ id: string; topic: string; message_id: string; item: number; reason: string; raw: string; received_at: Date }>>`
          select * from chronicles.dead_letters ${topic ? sql`where topic = ${topic}` : sql``} order by id desc limit ${first}`;
        return rows.map((r) => ({ id: r.id, topic: r.topic, messageId: r.message_id, item: r.item, reason: r.reason, raw: r.raw, receivedAt: r.received_at }));
      },
    },
    Mutation: {
      createTagRule: (_: unknown, args: Args) => createTagRule(sql, ruleInput(args.input)),
      async updateTagRule(_: unknown, args: Args) {
        const id = parseArg(idSchema, args.id, 'id');
        const updated = await updateTagRule(sql, id, ruleInput(args.input));
        if (!updated) throw notFound('tag rule', id);
        return updated;
      },
      deleteTagRule: (_: unknown, args: Args) => deleteTagRule(sql, parseArg(idSchema, args.id, 'id')),
      createTemplate: (_: unknown, args: Args) => conflict(() => createTemplate(sql, parseArg(templateInputSchema, args.input, 'input'))),
      async updateTemplate(_: unknown, args: Args) {
        const id = parseArg(idSchema, args.id, 'id');
        const updated = await conflict(() => updateTemplate(sql, id, parseArg(templateInputSchema, args.input, 'input')));
        if (!updated) throw notFound('template', id);
        return updated;
      },
      deleteTemplate: (_: unknown, args: Args) => deleteTemplate(sql, parseArg(idSchema, args.id, 'id')),
      async reapplyTagRules(_: unknown, args: Args) {
        const range = withoutNulls(args) as { occurredAfter?: Date; occurredBefore?: Date };
        if (range.occurredAfter && range.occurredBefore && range.occurredAfter >= range.occurredBefore) {
          throw userError('occurredBefore must be later than occurredAfter', [{ field: 'occurredBefore', message: 'must be later than occurredAfter' }]);
        }
        const data: ReapplyJobData = {
          ...(range.occurredAfter ? { occurredAfter: range.occurredAfter.toISOString() } : {}),
          ...(range.occurredBefore ? { occurredBefore: range.occurredBefore.toISOString() } : {}),
        };
        const job = await maintenance.add(REAPPLY_JOB, data);
        return { id: job.id, state: await job.getState(), progress: null, result: null, failedReason: null };
      },
    },
  };
}
