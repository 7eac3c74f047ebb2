// The /search endpoints with the core of Stripe's search query language: clauses
// `field:'value'`, `field~'substring'`, `field>N` (also <, >=, <=), `-field:'value'`,
// `metadata['key']:'value'` and `field:null`, joined by AND or by OR (not both, as on Stripe).
// Results are newest first and page with the opaque `next_page` token.
import type { Emulator } from './context.ts';
import { invalid } from './errors.ts';
import { expandObject, type ExpandTree } from './expand.ts';
import type { ListRoute } from './list-endpoints.ts';
import type { Params } from './params.ts';
import type { JsonObject } from './spec.ts';
import { serialize, type Entry } from './store.ts';

type Op = ':' | '~' | '>' | '<' | '>=' | '<=';
interface Clause {
  negate: boolean;
  path: string[];
  op: Op;
  value: string | number | null;
}

const CLAUSE = /^\s*(-)?([a-z_]+(?:\[['"][^'"]+['"]\])?(?:\.[a-z_]+)*)\s*(>=|<=|:|~|>|<)\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|null)\s*/i;

export function parseQuery(query: string): { clauses: Clause[]; mode: 'and' | 'or' } {
  const clauses: Clause[] = [];
  let rest = query;
  let mode: 'and' | 'or' | undefined;
  for (;;) {
    const m = CLAUSE.exec(rest);
    if (!m) throw invalid(`Invalid search query near: ${rest.slice(0, 50) || '(end of query)'}`, 'query');
    const [, neg, field, op, raw] = m;
    const meta = /^([a-z_]+)\[['"]([^'"]+)['"]\]$/i.exec(field!);
    const path = meta ? [meta[1]!, meta[2]!] : field!.split('.');
    let value: string | number | null;
    if (raw === 'null') value = null;
    else if (raw!.startsWith("'") || raw!.startsWith('"')) value = raw!.slice(1, -1).replace(/\\(.)/g, '$1');
    else value = Number(raw);
    if (op === '~' && (typeof value !== 'string' || value.length < 3)) throw invalid('Substring matching (~) needs a quoted value of at least 3 characters.', 'query');
    clauses.push({ negate: !!neg, path, op: op as Op, value });
    rest = rest.slice(m[0].length);
    if (!rest.trim()) break;
    const join = /^(AND|OR)\s+/.exec(rest);
    if (!join) throw invalid(`Invalid search query near: ${rest.slice(0, 50)}`, 'query');
    const j = join[1]!.toLowerCase() as 'and' | 'or';
    if (mode && mode !== j) throw invalid('Search queries cannot mix AND and OR.', 'query');
    mode = j;
    rest = rest.slice(join[0].length);
  }
  return { clauses, mode: mode ?? 'and' };
}

function test(obj: JsonObject, c: Clause): boolean {
  let v: unknown = obj;
  for (const p of c.path) v = v && typeof v === 'object' ? (v as JsonObject)[p] : undefined;
  if (v && typeof v === 'object' && 'id' in v) v = (v as JsonObject).id;
  let ok: boolean;
  if (c.value === null) ok = c.op === ':' && (v === null || v === undefined);
  else if (c.op === ':') ok = typeof c.value === 'number' ? v === c.value : String(v ?? '').toLowerCase() === c.value.toLowerCase();
  else if (c.op === '~') ok = typeof v === 'string' && v.toLowerCase().includes(String(c.value).toLowerCase());
  else {
    const n = typeof v === 'number' ? v : NaN;
    const w = Number(c.value);
    ok = c.op === '>' ? n > w : c.op === '<' ? n < w : c.op === '>=' ? n >= w : n <= w;
  }
  return c.negate ? !ok : ok;
}

const encodePage = (e: Entry) => Buffer.from(JSON.stringify([e.t, e.seq])).toString('base64url');

function decodePage(page: string): { t: number; seq: number } {
  try {
    const [t, seq] = JSON.parse(Buffer.from(page, 'base64url').toString('utf8')) as [number, number];
    if (Number.isInteger(t) && Number.isInteger(seq)) return { t, seq };
  } catch {
    // fall through
  }
  throw invalid('Invalid page token.', 'page');
}

export function search(emu: Emulator, route: ListRoute, params: Params, expand: ExpandTree | undefined): string {
  const { clauses, mode } = parseQuery(String(params.query));
  const match = (e: Entry) => (mode === 'and' ? clauses.every((c) => test(e.obj, c)) : clauses.some((c) => test(e.obj, c)));
  const limit = params.limit === undefined ? 10 : (params.limit as number);
  if (limit < 1 || limit > 100) throw invalid(`This value must be ${limit < 1 ? 'greater than or equal to 1' : 'less than or equal to 100'}.`, 'limit', 'parameter_invalid_integer');
  const collection = emu.store.collection(route.collection);
  const page = collection.page({ limit, filter: match, startingAfter: typeof params.page === 'string' ? decodePage(params.page) : undefined });
  let totalCount: number | undefined;
  let itemTree: ExpandTree | undefined;
  for (const [key, sub] of expand ?? []) {
    if (key === 'total_count') totalCount = collection.count({ filter: match });
    else if (key === 'data') itemTree = sub;
    else throw invalid(`This property cannot be expanded (${key}).`, 'expand');
  }
  const items = page.entries.map((e) => (itemTree ? JSON.stringify(expandObject(emu, e.obj, itemTree, 'data')) : serialize(e))).join(',');
  const last = page.entries[page.entries.length - 1];
  const next = page.hasMore && last ? JSON.stringify(encodePage(last)) : 'null';
  const total = totalCount === undefined ? '' : `,"total_count":${totalCount}`;
  return `{"object":"search_result","data":[${items}],"has_more":${page.hasMore},"next_page":${next}${total},"url":${JSON.stringify(route.path)}}`;
}
