// Stripe's OpenAPI spec → the stripe-sync mapping (resource → table → columns), from which the
// migrations are rendered. Everything is derived from the spec; the only choices made here are
// the rules below, each with its reason.
import { createHash } from 'node:crypto';
import type { ColumnMapping, ListPath, ParentLink, SchemaMapping, TableMapping } from '../../src/stripe-sync/schema-mapping.ts';
import { getEndpoints, listItemSchemas, pathParams, referencedSchemas, resolve, type GetEndpoint, type OpenApiSchema, type OpenApiSpec } from './openapi.ts';

export const GENERATED_BY = 'scripts/stripe-sync/generate-schema.ts';

const ENGINE_COLUMNS: ColumnMapping[] = [
  { name: '_account_id', type: 'text', source: 'engine', notNull: true },
  { name: '_raw', type: 'jsonb', source: 'engine', notNull: true },
  { name: '_synced_at', type: 'timestamptz', source: 'engine', notNull: true, default: 'now()' },
  { name: '_event_created', type: 'timestamptz', source: 'engine' },
  { name: '_deleted_at', type: 'timestamptz', source: 'engine' },
];

/** The table of an `object` value: `checkout.session` → `checkout_session`. */
export const tableName = (object: string) => object.replace(/\./g, '_');

const MAX_IDENTIFIER = 63;

/** Index names longer than Postgres keeps are cut and made unique again with a short hash. */
function indexName(table: string, column: string): string {
  const name = `${table}_${column}_idx`;
  if (name.length <= MAX_IDENTIFIER) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_IDENTIFIER - 9)}_${hash}`;
}

/** `anyOf [string, {$ref}…]`: an id Stripe can expand into the object. */
const isReference = (schema: OpenApiSchema) =>
  !!schema.anyOf?.some((s) => s.type === 'string') && schema.anyOf.some((s) => s.$ref);

function fieldColumn(name: string, schema: OpenApiSchema, expandable: boolean): ColumnMapping {
  const column = (type: ColumnMapping['type'], extra: Partial<ColumnMapping> = {}): ColumnMapping => ({ name, type, source: 'field', ...extra });
  if (expandable && isReference(schema)) return column('text', { expandable: true });
  if (expandable && schema.type === 'array' && schema.items && isReference(schema.items)) return column('jsonb', { expandable: true });
  switch (schema.type) {
    case 'integer':
      return schema.format === 'unix-time' ? column('timestamptz', { unixTime: true }) : column('bigint');
    case 'number':
      return column('numeric');
    case 'boolean':
      return column('boolean');
    case 'string':
      // Decimal strings (`unit_amount_decimal`) are exact numbers: numeric keeps them exact and summable.
      return column(schema.format === 'decimal' ? 'numeric' : 'text');
    default:
      return column('jsonb'); // objects, arrays, embedded resources (`anyOf [{$ref}]`)
  }
}

interface Resource {
  schema: string;
  object: string;
  definition: OpenApiSchema;
}

/** A list of one item type under one parent: an embedded sub-list, a nested list endpoint, or both. */
interface Relation {
  parent: string;
  property: string | null;
  listName: string;
  item: string;
  nestedListPath: string | null;
  parentParam: ParentLink['parentParam'];
}

const lastSegment = (path: string) => path.slice(path.lastIndexOf('/') + 1);
const prefixOf = (path: string) => path.slice(0, path.lastIndexOf('/'));
const shape = (path: string) => path.replace(/\{\w+\}/g, '{}');

function singular(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  return word.endsWith('s') ? word.slice(0, -1) : word;
}

/**
 * A child table is named for its parent and list: `quote` + `line_items` → `quote_line_item`. A list
 * called `lines` of `…line_item` objects reads `line_item`, so invoice lines are `invoice_line_item`
 * and credit note lines keep their own object name, `credit_note_line_item`.
 */
function childTableName(parentTable: string, listName: string, itemObject: string): string {
  const one = singular(listName);
  return `${parentTable}_${itemObject.endsWith(`${one}_item`) ? `${one}_item` : one}`;
}

interface Endpoints {
  /** Lists with no path parameter: what a backfill walks. */
  topLists: GetEndpoint[];
  /** Lists under a parent's id, with the parent's schema when a retrieve endpoint names it. */
  nestedLists: { endpoint: GetEndpoint; parent: string | null }[];
  /** Schemas retrievable by id. */
  retrievable: Set<string>;
  /** Schemas any GET answers with, singletons (`/v1/balance`) included. */
  answered: Set<string>;
}

function classifyEndpoints(spec: OpenApiSpec): Endpoints {
  const endpoints = getEndpoints(spec);
  const retrieves = endpoints.filter((e) => !e.list);
  const retrieveByShape = new Map(retrieves.filter((e) => e.schemas.length === 1).map((e) => [shape(e.path), e]));
  const result: Endpoints = {
    topLists: [],
    nestedLists: [],
    retrievable: new Set(retrieves.flatMap((e) => (pathParams(e.path).length > 0 ? e.schemas : []))),
    answered: new Set(endpoints.flatMap((e) => e.schemas)),
  };
  for (const endpoint of endpoints.filter((e) => e.list)) {
    const owner = retrieveByShape.get(shape(prefixOf(endpoint.path)));
    if (pathParams(endpoint.path).length > 0) {
      result.nestedLists.push({ endpoint, parent: owner?.schemas[0] ?? null });
    } else if (!owner?.schemas.some((s) => spec.components.schemas[s]?.properties?.[lastSegment(endpoint.path)])) {
      // Not the sub-list of an object with no id (upcoming invoice lines, credit note preview lines): nothing to store.
      result.topLists.push(endpoint);
    }
  }
  return result;
}

/** Objects with an id that can be listed or retrieved, or arrive in a parent's list; the rest, with why not. */
function findResources(spec: OpenApiSpec, endpoints: Endpoints) {
  const skipped: SchemaMapping['skipped'] = [];
  const resources = new Map<string, Resource>();
  for (const [name, definition] of Object.entries(spec.components.schemas).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!definition['x-resourceId']) continue;
    const objectEnum = definition.properties?.object?.enum;
    const reason = name.startsWith('deleted_')
      ? 'a deletion notice: it sets _deleted_at on the row of the object it names'
      : objectEnum?.length !== 1
        ? `a union of ${referencedSchemas(definition).join(', ')}, each with its own table`
        : !endpoints.answered.has(name) && !isSubListItem(spec, name)
          ? 'no list or retrieve endpoint (only created or returned by POST)'
          : !definition.properties?.id
            ? 'no id: a singleton or per-customer state, not rows'
            : null;
    if (reason) skipped.push({ schema: name, reason });
    else resources.set(name, { schema: name, object: objectEnum![0] as string, definition });
  }
  return { resources, skipped };
}

export function deriveMapping(spec: OpenApiSpec): SchemaMapping {
  const endpoints = classifyEndpoints(spec);
  const { resources, skipped } = findResources(spec, endpoints);
  const relations = findRelations(spec, resources, endpoints.nestedLists);
  const parentField = (item: string, parent: string) => parentFieldOf(spec, resources.get(item)!, resources.get(parent)!);
  // An item type has a table of its own when it is listed or retrieved by itself, or names its
  // parent (so one table serves every parent); otherwise each parent gets a child table of its items.
  const topListed = new Set(endpoints.topLists.flatMap((e) => e.schemas));
  const ownTable = (item: string) =>
    topListed.has(item) || endpoints.retrievable.has(item) || relations.some((r) => r.item === item && parentField(item, r.parent));

  const movedToChildren = new Map<string, Set<string>>(); // parent schema → sub-lists stored as rows elsewhere
  const links = new Map<string, ParentLink[]>(); // item schema → how its rows arrive through parents
  const childTables = new Map<string, TableMapping>();
  for (const relation of relations) {
    const item = resources.get(relation.item)!;
    const parentTable = tableName(resources.get(relation.parent)!.object);
    const field = parentField(relation.item, relation.parent);
    if (!field && ownTable(relation.item)) continue; // its items cannot say which parent: the sub-list stays a jsonb column
    const parentColumn = field ?? parentTable;
    const link = fetchRest({ ...relation, parentColumn, parentTable }, endpoints.topLists);
    if (relation.property) movedToChildren.set(relation.parent, new Set([...(movedToChildren.get(relation.parent) ?? []), relation.property]));
    if (field) {
      links.set(relation.item, [...(links.get(relation.item) ?? []), link]);
      continue;
    }
    if (item.definition.properties?.[parentColumn]) throw new Error(`${item.schema} has a field ${parentColumn} that is not its parent's id`);
    const table = childTableName(parentTable, relation.listName, item.object);
    const existing = childTables.get(table);
    if (existing) {
      // One list under two paths (`/v1/linked_accounts` is the old name of financial connections).
      if (existing.schema !== item.schema || existing.parents[0]!.parentTable !== parentTable) throw new Error(`Two lists map to table ${table}`);
      existing.parents.push(link);
      continue;
    }
    const columns = [...fieldColumns(item, new Set()), { name: parentColumn, type: 'text', source: 'parent', notNull: true } satisfies ColumnMapping];
    childTables.set(table, tableFor(table, item, 'child', ['_account_id', 'id'], [], [link], columns));
  }

  const tables: TableMapping[] = [];
  for (const resource of resources.values()) {
    if (ownTable(resource.schema)) {
      const listPaths = endpoints.topLists.filter((e) => e.schemas.includes(resource.schema)).map(listPath).sort(byPathPreference);
      const columns = fieldColumns(resource, movedToChildren.get(resource.schema) ?? new Set());
      tables.push(tableFor(tableName(resource.object), resource, 'resource', ['_account_id', 'id'], listPaths, links.get(resource.schema) ?? [], columns));
    } else if (![...childTables.values()].some((t) => t.schema === resource.schema)) {
      const paths = endpoints.nestedLists.filter((n) => n.endpoint.schemas.includes(resource.schema)).map((n) => n.endpoint.path);
      skipped.push({ schema: resource.schema, reason: `listed only by ${paths.join(', ')}, under an object with no list or retrieve endpoint` });
    }
  }
  tables.push(...childTables.values(), upcomingInvoice(resources.get('invoice')!));
  for (const table of tables) table.parents.sort(byParent);
  tables.sort((a, b) => (a.table < b.table ? -1 : 1));
  checkNames(tables);
  skipped.sort((a, b) => (a.schema < b.schema ? -1 : 1));
  return { apiVersion: spec.info.version, generatedBy: GENERATED_BY, tables, skipped };
}

function isSubListItem(spec: OpenApiSpec, name: string): boolean {
  return Object.values(spec.components.schemas).some((s) =>
    Object.values(s.properties ?? {}).some((p) => listItemSchemas(spec, p)?.includes(name)));
}

function findRelations(spec: OpenApiSpec, resources: Map<string, Resource>, nestedLists: { endpoint: GetEndpoint; parent: string | null }[]): Relation[] {
  const relations: Relation[] = [];
  for (const parent of resources.values()) {
    for (const [property, schema] of Object.entries(parent.definition.properties ?? {})) {
      for (const item of listItemSchemas(spec, schema) ?? []) {
        if (resources.has(item)) relations.push({ parent: parent.schema, property, listName: property, item, nestedListPath: null, parentParam: null });
      }
    }
  }
  for (const { endpoint, parent } of nestedLists) {
    if (!parent || !resources.has(parent)) continue;
    const listName = lastSegment(endpoint.path);
    const parentParam = { name: pathParams(endpoint.path)[0]!, in: 'path' as const };
    for (const item of endpoint.schemas.filter((s) => resources.has(s))) {
      const embedded = relations.find((r) => r.parent === parent && r.item === item && r.property === listName && !r.nestedListPath);
      if (embedded) Object.assign(embedded, { nestedListPath: endpoint.path, parentParam });
      else relations.push({ parent, property: null, listName, item, nestedListPath: endpoint.path, parentParam });
    }
  }
  return relations;
}

/** The item's field holding its parent's id: a reference expandable to the parent, or a string named for it. */
function parentFieldOf(spec: OpenApiSpec, item: Resource, parent: Resource): string | null {
  const props = item.definition.properties ?? {};
  for (const [name, schema] of Object.entries(props)) {
    if (isReference(schema) && referencedSchemas(schema).includes(parent.schema)) return name;
  }
  const named = parent.object.slice(parent.object.lastIndexOf('.') + 1);
  const schema = props[named];
  return schema && resolve(spec, schema).type === 'string' ? named : null;
}

/** Where the rest of an embedded list comes from: its nested endpoint, or a top-level list filtered by the parent. */
function fetchRest(relation: Relation & { parentColumn: string; parentTable: string }, topLists: GetEndpoint[]): ParentLink {
  const link = { parentTable: relation.parentTable, parentColumn: relation.parentColumn, parentProperty: relation.property };
  if (relation.nestedListPath) return { ...link, nestedListPath: relation.nestedListPath, parentParam: relation.parentParam };
  for (const endpoint of topLists.filter((e) => e.schemas.includes(relation.item))) {
    const params = endpoint.operation.parameters ?? [];
    const byParent = params.find((p) => p.in === 'query' && p.name === relation.parentColumn);
    if (byParent && params.every((p) => !p.required || p === byParent)) {
      return { ...link, nestedListPath: endpoint.path, parentParam: { name: byParent.name, in: 'query' } };
    }
  }
  return { ...link, nestedListPath: null, parentParam: null };
}

function fieldColumns(resource: Resource, omit: Set<string>): ColumnMapping[] {
  const expandable = new Set(resource.definition['x-expandableFields'] ?? []);
  const columns: ColumnMapping[] = [];
  for (const [name, schema] of Object.entries(resource.definition.properties ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (omit.has(name)) continue;
    if (name.startsWith('_')) throw new Error(`${resource.schema}.${name} would collide with the engine's columns`);
    const column = fieldColumn(name, schema, expandable.has(name));
    columns.push(name === 'id' ? { ...column, notNull: true } : column);
  }
  // id first: it is what every query joins on.
  return columns.sort((a, b) => Number(b.name === 'id') - Number(a.name === 'id'));
}

function listPath(endpoint: GetEndpoint): ListPath {
  const params = (endpoint.operation.parameters ?? []).filter((p) => p.in === 'query');
  return {
    path: endpoint.path,
    requiredParams: params.filter((p) => p.required).map((p) => p.name).sort(),
    createdFilter: params.some((p) => p.name === 'created'),
    search: endpoint.path.endsWith('/search'),
  };
}

/** Backfill prefers plain lists (no required filter) over search, which is eventually consistent. */
function byPathPreference(a: ListPath, b: ListPath): number {
  const rank = (p: ListPath) => (p.search ? 2 : 0) + (p.requiredParams.length > 0 ? 1 : 0);
  return rank(a) - rank(b) || (a.path < b.path ? -1 : 1);
}

function byParent(a: ParentLink, b: ParentLink): number {
  const key = (l: ParentLink) => `${l.parentTable} ${l.parentProperty ?? ''} ${l.nestedListPath ?? ''}`;
  return key(a) < key(b) ? -1 : 1;
}

function tableFor(table: string, resource: Resource, kind: TableMapping['kind'], key: string[], listPaths: ListPath[], parents: ParentLink[], fields: ColumnMapping[]): TableMapping {
  const columns = [...fields, ...ENGINE_COLUMNS];
  const indexed = columns.filter((c) =>
    (c.expandable && c.type === 'text') || c.source === 'parent' || (c.name === 'created' && c.type === 'timestamptz')
    || parents.some((p) => p.parentColumn === c.name));
  const indexes = indexed.filter((c) => !key.includes(c.name)).map((c) => ({ name: indexName(table, c.name), columns: [c.name] }));
  return { table, object: resource.object, schema: resource.schema, kind, key, listPaths, parents, columns, indexes };
}

/**
 * The invoice Stripe would issue next for a customer (and subscription): computed, with no id, so
 * keyed by account, customer and subscription. Its lines stay jsonb: upcoming line ids are not stable.
 */
function upcomingInvoice(invoice: Resource): TableMapping {
  const columns = fieldColumns(invoice, new Set(['id'])).map((c) => (c.name === 'customer' ? { ...c, notNull: true as const } : c));
  const table = tableFor('upcoming_invoice', invoice, 'virtual', ['_account_id', 'customer', 'subscription'], [], [], columns);
  return { ...table, retrievePath: '/v1/invoices/upcoming' };
}

function checkNames(tables: TableMapping[]) {
  const seen = new Set<string>();
  for (const { table, columns } of tables) {
    if (seen.has(table)) throw new Error(`Two resources map to table ${table}`);
    if (table.length > MAX_IDENTIFIER) throw new Error(`Table name ${table} is longer than Postgres allows`);
    seen.add(table);
    const names = new Set(columns.map((c) => c.name));
    if (names.size !== columns.length) throw new Error(`Table ${table} has two columns with one name`);
  }
}
