// Tag rules: "entries of app A / subject type S / action in [..] whose payload matches these
// conditions get these feed (or access) tags". Workers apply the enabled rules to every entry
// they insert; a re-apply job (BullMQ) recomputes the rule-made taggings of past entries.
// Tag names may use template placeholders (`job:{{subject_gid}}`); a name whose placeholder has
// no value is skipped.
//
// Re-applying is idempotent: for each entry in the range it inserts the taggings the current
// rules produce and deletes rule-made taggings (by_rule) that no rule produces any more. Tags
// sent with the entry itself (by_rule = false) are never touched.
import { z } from 'zod';
import type { Sql } from '../platform/db.ts';
import { nameSchema, tagNameSchema } from './message-mappings.ts';
import { matchesCondition, payloadConditionSchema, type PayloadCondition } from './payload-conditions.ts';
import { renderStrict, templateBodySchema, type RenderableEntry } from './templates.ts';

export const TAG_KINDS = ['feed', 'access'] as const;
export type TagKind = (typeof TAG_KINDS)[number];

export const tagRuleInputSchema = z.object({
  name: z.string().min(1).max(200),
  app: nameSchema.nullish().transform((v) => v ?? null),
  subjectType: nameSchema.nullish().transform((v) => v ?? null),
  actionNames: z.array(nameSchema).min(1).max(100).nullish().transform((v) => v ?? null),
  conditions: z.array(payloadConditionSchema).max(10).nullish().transform((v) => v ?? []),
  tags: z.array(templateBodySchema.pipe(z.string().max(200))).min(1).max(20),
  kind: z.enum(TAG_KINDS).default('feed'),
  enabled: z.boolean().default(true),
});
export type TagRuleInput = z.output<typeof tagRuleInputSchema>;

export interface TagRule {
  id: string;
  name: string;
  app: string | null;
  subjectType: string | null;
  actionNames: string[] | null;
  conditions: PayloadCondition[];
  tags: string[];
  kind: TagKind;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

interface TagRuleRow {
  id: string;
  name: string;
  app: string | null;
  subject_type: string | null;
  action_names: string[] | null;
  conditions: PayloadCondition[];
  tags: string[];
  kind: TagKind;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

const toRule = (r: TagRuleRow): TagRule => ({
  id: String(r.id),
  name: r.name,
  app: r.app,
  subjectType: r.subject_type,
  actionNames: r.action_names,
  conditions: r.conditions,
  tags: r.tags,
  kind: r.kind,
  enabled: r.enabled,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

// ---------------------------------------------------------------------------------------------
// Evaluation.

export function ruleMatches(rule: TagRule, entry: RenderableEntry): boolean {
  if (rule.app !== null && rule.app !== entry.app) return false;
  if (rule.subjectType !== null && rule.subjectType !== entry.subject_type) return false;
  if (rule.actionNames !== null && !rule.actionNames.includes(entry.action_name)) return false;
  return rule.conditions.every((c) => matchesCondition(entry.payload, c));
}

export interface RuleTags {
  feed: string[];
  access: string[];
}

/** The tags the rules give an entry, rendered, valid and without repeats. */
export function tagsFromRules(rules: TagRule[], entry: RenderableEntry): RuleTags {
  const out = { feed: new Set<string>(), access: new Set<string>() };
  for (const rule of rules) {
    if (!rule.enabled || !ruleMatches(rule, entry)) continue;
    for (const body of rule.tags) {
      const name = renderStrict(body, entry);
      if (name !== undefined && tagNameSchema.safeParse(name).success) out[rule.kind].add(name);
    }
  }
  return { feed: [...out.feed], access: [...out.access] };
}

// ---------------------------------------------------------------------------------------------
// Storage.

export async function listTagRules(sql: Sql, onlyEnabled = false): Promise<TagRule[]> {
  const rows = onlyEnabled
    ? await sql<TagRuleRow[]>`select * from chronicles.tag_rules where enabled order by id`
    : await sql<TagRuleRow[]>`select * from chronicles.tag_rules order by id`;
  return rows.map(toRule);
}

export async function createTagRule(sql: Sql, input: TagRuleInput): Promise<TagRule> {
  const [row] = await sql<TagRuleRow[]>`
    insert into chronicles.tag_rules (name, app, subject_type, action_names, conditions, tags, kind, enabled)
    values (${input.name}, ${input.app}, ${input.subjectType}, ${input.actionNames}, ${JSON.stringify(input.conditions)}::text::jsonb,
            ${input.tags}::text[], ${input.kind}, ${input.enabled})
    returning *`;
  return toRule(row!);
}

export async function updateTagRule(sql: Sql, id: string, input: TagRuleInput): Promise<TagRule | undefined> {
  const [row] = await sql<TagRuleRow[]>`
    update chronicles.tag_rules
    set name = ${input.name}, app = ${input.app}, subject_type = ${input.subjectType}, action_names = ${input.actionNames},
        conditions = ${JSON.stringify(input.conditions)}::text::jsonb, tags = ${input.tags}::text[], kind = ${input.kind},
        enabled = ${input.enabled}, updated_at = now()
    where id = ${id}
    returning *`;
  return row ? toRule(row) : undefined;
}

export async function deleteTagRule(sql: Sql, id: string): Promise<boolean> {
  const result = await sql`delete from chronicles.tag_rules where id = ${id}`;
  return result.count > 0;
}

/** Enabled rules, re-read at most every `ttlMs` (0 = every call). */
export class RuleCache {
  private rules: TagRule[] = [];
  private loadedAt = -Infinity;
  private loading: Promise<TagRule[]> | undefined;
  private readonly sql: Sql;
  private readonly ttlMs: number;

  constructor(sql: Sql, ttlMs: number) {
    this.sql = sql;
    this.ttlMs = ttlMs;
  }

  async get(): Promise<TagRule[]> {
    if (performance.now() - this.loadedAt < this.ttlMs) return this.rules;
    this.loading ??= listTagRules(this.sql, true)
      .then((rules) => {
        this.rules = rules;
        this.loadedAt = performance.now();
        return rules;
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }
}

/** Tag name → id, creating tags on first use. Tags are never deleted, so ids can be cached. */
export class TagDirectory {
  private ids = new Map<string, number>();
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async idsFor(names: Iterable<string>): Promise<Map<string, number>> {
    const missing = [...new Set(names)].filter((n) => !this.ids.has(n));
    if (missing.length) {
      await this.sql`insert into chronicles.tags (name) select unnest(${missing}::text[]) order by 1 on conflict (name) do nothing`;
      const rows = await this.sql<{ id: number; name: string }[]>`select id, name from chronicles.tags where name = any(${missing}::text[])`;
      for (const r of rows) this.ids.set(r.name, r.id);
    }
    return this.ids;
  }
}

// ---------------------------------------------------------------------------------------------
// Re-applying rules to past entries.

export interface ReapplyOptions {
  occurredAfter?: Date;
  occurredBefore?: Date;
  chunkSize?: number;
  /** Where a previous (interrupted) run got to: entries up to this key are done. */
  resumeAfter?: { occurredAt: string; id: string };
  onChunk?: (progress: ReapplyProgress) => Promise<void>;
}

export interface ReapplyProgress {
  scanned: number;
  added: number;
  removed: number;
  resumeAfter?: { occurredAt: string; id: string };
}

interface StoredEntry extends RenderableEntry {
  id: string;
}

export async function reapplyTagRules(sql: Sql, options: ReapplyOptions = {}): Promise<ReapplyProgress> {
  const rules = await listTagRules(sql, true);
  const tags = new TagDirectory(sql);
  const chunkSize = options.chunkSize ?? 5000;
  const from = options.occurredAfter ?? new Date(Date.UTC(2000, 0, 1));
  const to = options.occurredBefore ?? new Date(Date.UTC(9999, 0, 1));
  const progress: ReapplyProgress = { scanned: 0, added: 0, removed: 0, resumeAfter: options.resumeAfter };
  for (;;) {
    const after = progress.resumeAfter;
    const rows = await sql<StoredEntry[]>`
      select id, sequence_code, app, subject_type, subject_gid, action_name, performer_gid, payload, occurred_at
      from chronicles.entries
      where occurred_at >= ${from} and occurred_at < ${to}
        ${after ? sql`and (occurred_at, id) > (${new Date(after.occurredAt)}, ${after.id})` : sql``}
      order by occurred_at, id
      limit ${chunkSize}`;
    if (rows.length === 0) break;
    const desired = { feed: [] as object[], access: [] as object[] };
    const rendered = rows.map((e) => ({ e, t: tagsFromRules(rules, e) }));
    const ids = await tags.idsFor(rendered.flatMap(({ t }) => [...t.feed, ...t.access]));
    for (const { e, t } of rendered) {
      for (const kind of TAG_KINDS) {
        for (const name of t[kind]) desired[kind].push({ tag_id: ids.get(name), occurred_at: e.occurred_at, sequence_code: e.sequence_code });
      }
    }
    const chunk = rows.map((e) => ({ sequence_code: e.sequence_code, occurred_at: e.occurred_at }));
    const [counts] = await sql<{ added: number; removed: number }[]>`
      with chunk as (
        select * from jsonb_to_recordset(${JSON.stringify(chunk)}::text::jsonb) as x(sequence_code uuid, occurred_at timestamptz)
      ), want_feed as (
        select * from jsonb_to_recordset(${JSON.stringify(desired.feed)}::text::jsonb) as x(tag_id integer, occurred_at timestamptz, sequence_code uuid)
      ), want_access as (
        select * from jsonb_to_recordset(${JSON.stringify(desired.access)}::text::jsonb) as x(tag_id integer, occurred_at timestamptz, sequence_code uuid)
      ), removed_feed as (
        delete from chronicles.feed_taggings t using chunk c
        where t.sequence_code = c.sequence_code and t.occurred_at = c.occurred_at and t.by_rule
          and not exists (select 1 from want_feed w where w.tag_id = t.tag_id and w.sequence_code = t.sequence_code)
        returning 1
      ), removed_access as (
        delete from chronicles.access_taggings t using chunk c
        where t.sequence_code = c.sequence_code and t.occurred_at = c.occurred_at and t.by_rule
          and not exists (select 1 from want_access w where w.tag_id = t.tag_id and w.sequence_code = t.sequence_code)
        returning 1
      ), added_feed as (
        insert into chronicles.feed_taggings (tag_id, occurred_at, sequence_code, by_rule)
        select tag_id, occurred_at, sequence_code, true from want_feed order by 1, 2, 3
        on conflict do nothing
        returning 1
      ), added_access as (
        insert into chronicles.access_taggings (tag_id, occurred_at, sequence_code, by_rule)
        select tag_id, occurred_at, sequence_code, true from want_access order by 1, 2, 3
        on conflict do nothing
        returning 1
      )
      select (select count(*) from added_feed) + (select count(*) from added_access) as added,
             (select count(*) from removed_feed) + (select count(*) from removed_access) as removed`;
    const last = rows[rows.length - 1]!;
    progress.scanned += rows.length;
    progress.added += Number(counts!.added);
    progress.removed += Number(counts!.removed);
    progress.resumeAfter = { occurredAt: last.occurred_at.toISOString(), id: String(last.id) };
    await options.onChunk?.(progress);
    if (rows.length < chunkSize) break;
  }
  return progress;
}
