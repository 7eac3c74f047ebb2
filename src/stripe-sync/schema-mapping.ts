// The stripe-sync schema: which table holds each Stripe object and how its fields become columns.
// schema-mapping.json is generated from Stripe's OpenAPI spec by scripts/stripe-sync/generate-schema.ts
// (the migrations are generated from it too). Here it is read once and compiled into per-table
// converters, because the sync's write path converts every object it stores.
import { readFileSync } from 'node:fs';

export type ColumnType = 'text' | 'bigint' | 'numeric' | 'boolean' | 'timestamptz' | 'jsonb';

export interface ColumnMapping {
  name: string;
  type: ColumnType;
  /** `field`: a top-level field of the object; `parent`: the id of the object whose list it came in; `engine`: the sync's own. */
  source: 'field' | 'parent' | 'engine';
  notNull?: true;
  /** SQL default, for engine columns. */
  default?: string;
  /** A reference Stripe can expand: stored as the id (or, for arrays, a jsonb array of ids). */
  expandable?: true;
  /** Seconds since the epoch in the API, timestamptz here. */
  unixTime?: true;
}

export interface IndexMapping {
  name: string;
  columns: string[];
}

/** A top-level list endpoint that can backfill the table. */
export interface ListPath {
  path: string;
  /** Query parameters the endpoint will not answer without (`subscription` for subscription items, `query` for search). */
  requiredParams: string[];
  /** Whether `created[gt|gte|lt|lte]` filters are accepted, so a backfill can resume by time. */
  createdFilter: boolean;
  search: boolean;
}

/** How rows arrive as the items of another table's list. */
export interface ParentLink {
  parentTable: string;
  /** The column of this table holding the parent's id (a Stripe field such as `refund.charge`, or a `parent` column). */
  parentColumn: string;
  /** The parent's embedded sub-list (`lines` of an invoice), or null when the items are only listed by `nestedListPath`. */
  parentProperty: string | null;
  /** Where all of a parent's items are listed (the embedded sub-list holds only the first page). */
  nestedListPath: string | null;
  /** How `nestedListPath` takes the parent's id. */
  parentParam: { name: string; in: 'path' | 'query' } | null;
}

export interface TableMapping {
  table: string;
  /** The objects' `object` value. */
  object: string;
  /** The spec's component schema the columns come from. */
  schema: string;
  /** `child`: a table per parent for items that do not name their parent; `virtual`: computed by the sync (upcoming invoices). */
  kind: 'resource' | 'child' | 'virtual';
  /** The primary key; for a virtual table a unique key whose nulls are not distinct. */
  key: string[];
  listPaths: ListPath[];
  /** Virtual tables: the endpoint that computes a row. */
  retrievePath?: string;
  parents: ParentLink[];
  columns: ColumnMapping[];
  indexes: IndexMapping[];
}

export interface SchemaMapping {
  apiVersion: string;
  generatedBy: string;
  tables: TableMapping[];
  /** Schemas of the spec with no table, and why: reviewable next to the tables. */
  skipped: { schema: string; reason: string }[];
}

/** Column name → value, ready for postgres.js (`sql(row)`): Dates for timestamptz, JS values for jsonb. */
export type Row = Record<string, unknown>;

export interface RowOptions {
  /** The Stripe account the object belongs to (part of every key). */
  accountId: string;
  /** `created` of the event that carried the object (unix seconds); absent for list and retrieve reads. */
  eventCreated?: number;
  /** For child tables: the id of the object whose list the item came in. */
  parentId?: string;
}

export interface ChildList {
  table: string;
  /** The parent's sub-list property the rows came from. */
  property: string;
  /** Every item of the embedded page that belongs in `table` (possibly none: the list may have emptied). */
  rows: Row[];
  /** The embedded list is only the first page: fetch the rest from `nestedListPath`. */
  hasMore: boolean;
  nestedListPath: string | null;
  parentParam: ParentLink['parentParam'];
}

const MAPPING_FILE = new URL('./schema-mapping.json', import.meta.url);

type JsonObject = Record<string, unknown>;
type Convert = (value: unknown) => unknown;

interface SubListTarget {
  table: string;
  link: ParentLink;
}

interface CompiledTable {
  mapping: TableMapping;
  fields: [name: string, convert: Convert][];
  parentColumn: string | null;
  /** Sub-list property → item object → where its items go. */
  subLists: Map<string, Map<string, SubListTarget>>;
}

let compiled: { mapping: SchemaMapping; tables: Map<string, CompiledTable> } | undefined;

function load() {
  if (compiled) return compiled;
  const mapping = JSON.parse(readFileSync(MAPPING_FILE, 'utf8')) as SchemaMapping;
  const tables = new Map<string, CompiledTable>();
  for (const table of mapping.tables) {
    const fields = table.columns.filter((c) => c.source === 'field').map((c): [string, Convert] => [c.name, converter(c)]);
    const parentColumn = table.columns.find((c) => c.source === 'parent')?.name ?? null;
    tables.set(table.table, { mapping: table, fields, parentColumn, subLists: new Map() });
  }
  for (const table of mapping.tables) {
    for (const link of table.parents) {
      if (!link.parentProperty) continue;
      const parent = tables.get(link.parentTable)!;
      const byObject = parent.subLists.get(link.parentProperty) ?? new Map<string, SubListTarget>();
      byObject.set(table.object, { table: table.table, link });
      parent.subLists.set(link.parentProperty, byObject);
    }
  }
  compiled = { mapping, tables };
  return compiled;
}

const idOf = (value: unknown) => (typeof value === 'object' && value !== null ? (value as JsonObject).id ?? null : value);

function converter(column: ColumnMapping): Convert {
  if (column.unixTime) return (v) => (typeof v === 'number' ? new Date(v * 1000) : v);
  if (column.expandable) return column.type === 'jsonb' ? (v) => (Array.isArray(v) ? v.map(idOf) : v) : idOf;
  return (v) => v;
}

export function schemaMapping(): SchemaMapping {
  return load().mapping;
}

function compiledTable(table: string): CompiledTable {
  const found = load().tables.get(table);
  if (!found) throw new Error(`stripe-sync has no table ${table}`);
  return found;
}

export function tableMapping(table: string): TableMapping {
  return compiledTable(table).mapping;
}

/**
 * One row of `table` from a Stripe object: every column present (null when the object lacks the
 * field, so rows of a table share one shape for multi-row inserts), expanded references reduced
 * to ids, unix times as Dates, and the whole object in `_raw` (fields newer than the spec live
 * only there). `_synced_at` and `_deleted_at` are left to the database default and the sync.
 */
export function toRow(table: string, object: JsonObject, options: RowOptions): Row {
  const { fields, parentColumn } = compiledTable(table);
  const row: Row = {};
  for (const [name, convert] of fields) {
    const value = object[name];
    row[name] = value === undefined || value === null ? null : convert(value);
  }
  if (parentColumn) {
    if (options.parentId === undefined) throw new Error(`Rows of ${table} need the parent's id (options.parentId)`);
    row[parentColumn] = options.parentId;
  }
  row._account_id = options.accountId;
  row._raw = object;
  row._event_created = options.eventCreated === undefined ? null : new Date(options.eventCreated * 1000);
  return row;
}

/**
 * The rows of the sub-lists embedded in a parent object (invoice lines, subscription items, a
 * customer's sources…), one entry per table each present sub-list feeds, with the parent's id
 * set. Items of a type with no table (newer than the spec) stay in the parent's `_raw` only.
 */
export function childRows(table: string, object: JsonObject, options: RowOptions): ChildList[] {
  const { subLists } = compiledTable(table);
  const parentId = object.id as string;
  const result: ChildList[] = [];
  for (const [property, targets] of subLists) {
    const list = object[property] as { data?: unknown; has_more?: boolean } | null | undefined;
    if (!list || !Array.isArray(list.data)) continue; // absent or not expanded: nothing to say about the children
    const byTable = new Map<string, ChildList>();
    for (const { table: child, link } of targets.values()) {
      byTable.set(child, { table: child, property, rows: [], hasMore: list.has_more === true, nestedListPath: link.nestedListPath, parentParam: link.parentParam });
    }
    for (const item of list.data as JsonObject[]) {
      const target = targets.get(item.object as string);
      if (!target) continue;
      const row = toRow(target.table, item, { ...options, parentId });
      row[target.link.parentColumn] = parentId;
      byTable.get(target.table)!.rows.push(row);
    }
    result.push(...byTable.values());
  }
  return result;
}
