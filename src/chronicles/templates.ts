// Templates: per (app, subject_type, action_name), a text with placeholders over the entry's
// fields and payload paths, e.g. `{{performer_gid}} paid {{payload.amount}} {{payload.currency}}`.
// Rendering is a lookup and a string replace — no expressions, no code. A placeholder whose
// value is missing renders as MISSING ("—") so a reader sees the gap; objects and arrays render
// as JSON. Tag rules use the same placeholders in tag names.
import { z } from 'zod';
import type { Sql } from '../platform/db.ts';
import { nameSchema } from './message-mappings.ts';
import { MAX_PATH_DEPTH, PATH_SEGMENT, valueAt } from './payload-conditions.ts';

export const MISSING = '—';
export const ENTRY_FIELDS = ['sequence_code', 'app', 'subject_type', 'subject_gid', 'action_name', 'performer_gid', 'occurred_at'] as const;
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const MAX_VALUE_CHARS = 500;

/** What a template can read: an entry as stored or as ingested. */
export interface RenderableEntry {
  sequence_code: string;
  app: string;
  subject_type: string;
  subject_gid: string;
  action_name: string;
  performer_gid: string | null;
  occurred_at: Date;
  payload: unknown;
}

/** Why a placeholder is not allowed, or undefined when it is. */
function placeholderProblem(name: string): string | undefined {
  if ((ENTRY_FIELDS as readonly string[]).includes(name)) return undefined;
  const [head, ...path] = name.split('.');
  if (head !== 'payload' || path.length === 0) return `unknown placeholder {{${name}}} (expected one of ${ENTRY_FIELDS.join(', ')} or payload.<path>)`;
  if (path.length > MAX_PATH_DEPTH) return `{{${name}}}: a payload path has at most ${MAX_PATH_DEPTH} segments`;
  if (!path.every((s) => PATH_SEGMENT.test(s))) return `{{${name}}}: a path segment must be 1-64 letters, digits or _`;
  return undefined;
}

/** Validates a template body: bounded length and only known placeholders. */
export const templateBodySchema = z
  .string()
  .min(1)
  .max(2000)
  .superRefine((body, ctx) => {
    for (const match of body.matchAll(PLACEHOLDER)) {
      const problem = placeholderProblem(match[1]!);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }
  });

function display(value: unknown): string {
  if (value === undefined || value === null || value === '') return MISSING;
  if (value instanceof Date) return value.toISOString();
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text;
}

function lookup(entry: RenderableEntry, name: string): unknown {
  if (name.startsWith('payload.')) return valueAt(entry.payload, name.split('.').slice(1));
  if ((ENTRY_FIELDS as readonly string[]).includes(name)) return entry[name as (typeof ENTRY_FIELDS)[number]];
  return undefined;
}

/** Renders a body (validated or not: an unknown placeholder simply renders as MISSING). */
export function renderTemplate(body: string, entry: RenderableEntry): string {
  return body.replace(PLACEHOLDER, (_, name: string) => display(lookup(entry, name)));
}

/** For tag names: the rendered text, or undefined when a placeholder has no value. */
export function renderStrict(body: string, entry: RenderableEntry): string | undefined {
  let missing = false;
  const text = body.replace(PLACEHOLDER, (_, name: string) => {
    const value = lookup(entry, name);
    if (value === undefined || value === null || value === '') missing = true;
    return display(value);
  });
  return missing ? undefined : text;
}

// ---------------------------------------------------------------------------------------------
// Storage.

export const templateInputSchema = z.object({
  app: nameSchema,
  subjectType: nameSchema,
  actionName: nameSchema,
  body: templateBodySchema,
});
export type TemplateInput = z.output<typeof templateInputSchema>;

export interface Template {
  id: string;
  app: string;
  subjectType: string;
  actionName: string;
  body: string;
  createdAt: Date;
  updatedAt: Date;
}

interface TemplateRow {
  id: string;
  app: string;
  subject_type: string;
  action_name: string;
  body: string;
  created_at: Date;
  updated_at: Date;
}

const toTemplate = (r: TemplateRow): Template => ({
  id: String(r.id),
  app: r.app,
  subjectType: r.subject_type,
  actionName: r.action_name,
  body: r.body,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class TemplateConflictError extends Error {
  override name = 'TemplateConflictError';
}

async function uniqueViolation<T>(run: () => Promise<T>, input: TemplateInput): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if ((err as { code?: string }).code === '23505') {
      throw new TemplateConflictError(`a template for (${input.app}, ${input.subjectType}, ${input.actionName}) already exists`);
    }
    throw err;
  }
}

export async function listTemplates(sql: Sql): Promise<Template[]> {
  const rows = await sql<TemplateRow[]>`select * from chronicles.templates order by app, subject_type, action_name`;
  return rows.map(toTemplate);
}

export async function createTemplate(sql: Sql, input: TemplateInput): Promise<Template> {
  const [row] = await uniqueViolation(
    () => sql<TemplateRow[]>`
      insert into chronicles.templates (app, subject_type, action_name, body)
      values (${input.app}, ${input.subjectType}, ${input.actionName}, ${input.body})
      returning *`,
    input,
  );
  return toTemplate(row!);
}

export async function updateTemplate(sql: Sql, id: string, input: TemplateInput): Promise<Template | undefined> {
  const [row] = await uniqueViolation(
    () => sql<TemplateRow[]>`
      update chronicles.templates
      set app = ${input.app}, subject_type = ${input.subjectType}, action_name = ${input.actionName}, body = ${input.body}, updated_at = now()
      where id = ${id}
      returning *`,
    input,
  );
  return row ? toTemplate(row) : undefined;
}

export async function deleteTemplate(sql: Sql, id: string): Promise<boolean> {
  const result = await sql`delete from chronicles.templates where id = ${id}`;
  return result.count > 0;
}

export const templateKey = (app: string, subjectType: string, actionName: string) => `${app}\u0000${subjectType}\u0000${actionName}`;

/** The bodies for a set of (app, subject_type, action_name): one query for a whole page. */
export async function templatesFor(sql: Sql, keys: Array<{ app: string; subject_type: string; action_name: string }>): Promise<Map<string, string>> {
  const unique = new Map(keys.map((k) => [templateKey(k.app, k.subject_type, k.action_name), k]));
  if (unique.size === 0) return new Map();
  const list = [...unique.values()];
  const rows = await sql<{ app: string; subject_type: string; action_name: string; body: string }[]>`
    select t.app, t.subject_type, t.action_name, t.body
    from chronicles.templates t
    join unnest(${list.map((k) => k.app)}::text[], ${list.map((k) => k.subject_type)}::text[], ${list.map((k) => k.action_name)}::text[]) as k(app, subject_type, action_name)
      on t.app = k.app and t.subject_type = k.subject_type and t.action_name = k.action_name`;
  return new Map(rows.map((r) => [templateKey(r.app, r.subject_type, r.action_name), r.body]));
}
