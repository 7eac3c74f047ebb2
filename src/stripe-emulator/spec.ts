// What the emulator knows about Stripe's API comes from the OpenAPI spec and the fixtures shipped
// in ../shared/stripe (API version 2023-08-16), read once at start-up (about 40 ms) rather than
// generated into a committed table: there is one source of truth and nothing to regenerate.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../platform/project-root.ts';

export const API_VERSION = '2023-08-16';

/** An OpenAPI 3.0 schema object, as far as the emulator reads it. */
export interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  nullable?: boolean;
  enum?: unknown[];
  anyOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  required?: string[];
  maxLength?: number;
  title?: string;
  'x-expandableFields'?: string[];
  'x-expansionResources'?: { oneOf: Schema[] };
  'x-resourceId'?: string;
}

export interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header';
  required?: boolean;
  schema: Schema;
}

export interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}

export type JsonObject = Record<string, unknown>;

/** How one expandable field of a resource expands. */
export type Expansion =
  /** An id (or array of ids) that expands to one of these objects. */
  | { kind: 'ref'; objects: string[]; array: boolean }
  /** A sub-list (invoice lines, customer subscriptions…) included only when expanded. */
  | { kind: 'list'; objects: string[] }
  /** Already an object in every response (address, settings…): expanding it changes nothing. */
  | { kind: 'inline' };

export interface ResourceInfo {
  /** The `object` value, e.g. `checkout.session`. */
  object: string;
  schemaName: string;
  schema: Schema;
  expandable: Map<string, Expansion>;
  /** Top-level properties in `format: unix-time`. */
  timestampFields: string[];
  /** Top-level properties that are lists of sub-objects (`invoice.lines`). */
  listFields: Map<string, string[]>;
  /** Whether the schema has a `created` property (objects without one sort by insertion). */
  hasCreated: boolean;
}

export interface ListEndpointSpec {
  path: string;
  search: boolean;
  /** Object types the list returns (several for `/v1/customers/{customer}/sources`). */
  objects: string[];
  /** Query parameters by name. */
  params: Map<string, Parameter>;
  pathParams: string[];
}

export interface RetrieveEndpointSpec {
  path: string;
  pathParams: string[];
  objects: string[];
  /** The response may be a `deleted: true` stub (customers, terminal objects). */
  allowsDeleted: boolean;
}

export interface StripeSpec {
  version: string;
  schemas: Record<string, Schema>;
  paths: Record<string, Record<string, Operation>>;
  fixtures: Record<string, JsonObject>;
  /** Resources by `object` value. */
  resources: Map<string, ResourceInfo>;
  lists: ListEndpointSpec[];
  retrieves: RetrieveEndpointSpec[];
  resolve(schema: Schema): Schema;
  operation(method: string, path: string): Operation | undefined;
  /** The form-encoded request body schema of an operation. */
  bodySchema(method: string, path: string): Schema | undefined;
}

export const defaultSpecDir = join(projectRoot, '..', 'shared', 'stripe');

const cache = new Map<string, StripeSpec>();

export function loadStripeSpec(dir = defaultSpecDir): StripeSpec {
  let spec = cache.get(dir);
  if (!spec) {
    const raw = JSON.parse(readFileSync(join(dir, 'spec3.json'), 'utf8')) as {
      info: { version: string };
      components: { schemas: Record<string, Schema> };
      paths: Record<string, Record<string, Operation>>;
    };
    const fixtures = (JSON.parse(readFileSync(join(dir, 'fixtures3.json'), 'utf8')) as { resources: Record<string, JsonObject> }).resources;
    spec = buildSpec(raw.info.version, raw.components.schemas, raw.paths, fixtures);
    cache.set(dir, spec);
  }
  return spec;
}

const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);

function buildSpec(
  version: string,
  schemas: Record<string, Schema>,
  paths: Record<string, Record<string, Operation>>,
  fixtures: Record<string, JsonObject>,
): StripeSpec {
  const resolve = (schema: Schema): Schema => {
    let s = schema;
    while (s.$ref) s = schemas[refName(s.$ref)] ?? {};
    return s;
  };
  /** `object` value of a named schema; deleted_* stubs share their live resource's. */
  const objectOf = (schemaName: string): string | undefined => {
    const value = schemas[schemaName]?.properties?.object?.enum?.[0];
    return typeof value === 'string' ? value : undefined;
  };
  const objectsOf = (schema: Schema): string[] => {
    if (schema.$ref) {
      const name = refName(schema.$ref);
      const s = schemas[name];
      if (s?.anyOf) return s.anyOf.flatMap(objectsOf);
      const object = objectOf(name);
      return object && !name.startsWith('deleted_') ? [object] : [];
    }
    return (schema.anyOf ?? []).flatMap(objectsOf);
  };

  const resources = new Map<string, ResourceInfo>();
  for (const [schemaName, schema] of Object.entries(schemas)) {
    const object = objectOf(schemaName);
    if (!schema['x-resourceId'] || !object || schemaName.startsWith('deleted_') || resources.has(object)) continue;
    const props = schema.properties ?? {};
    const expandable = new Map<string, Expansion>();
    const listFields = new Map<string, string[]>();
    for (const [field, prop] of Object.entries(props)) {
      const target = resolve(prop);
      if (target.properties?.object?.enum?.[0] === 'list' && target.properties.data?.items) {
        listFields.set(field, objectsOf(target.properties.data.items));
      }
    }
    for (const field of schema['x-expandableFields'] ?? []) {
      const prop = props[field];
      if (!prop) continue;
      const expansion = prop['x-expansionResources'] ?? prop.items?.['x-expansionResources'];
      if (expansion) {
        const objects = expansion.oneOf.flatMap((s) => {
          const name = refName(s.$ref ?? '');
          const s2 = schemas[name];
          if (s2?.anyOf) return s2.anyOf.flatMap(objectsOf);
          const o = objectOf(name);
          return o ? [o] : [];
        });
        expandable.set(field, { kind: 'ref', objects: [...new Set(objects)], array: prop.type === 'array' });
      } else if (listFields.has(field)) {
        expandable.set(field, { kind: 'list', objects: listFields.get(field)! });
      } else {
        expandable.set(field, { kind: 'inline' });
      }
    }
    const timestampFields = Object.entries(props)
      .filter(([, p]) => p.format === 'unix-time')
      .map(([k]) => k);
    resources.set(object, { object, schemaName, schema, expandable, timestampFields, listFields, hasCreated: 'created' in props });
  }

  const lists: ListEndpointSpec[] = [];
  const retrieves: RetrieveEndpointSpec[] = [];
  for (const [path, ops] of Object.entries(paths)) {
    const get = ops.get;
    if (!get) continue;
    const response = get.responses['200']?.content?.['application/json']?.schema;
    if (!response) continue;
    const pathParams = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    const kind = response.properties?.object?.enum?.[0];
    if ((kind === 'list' || kind === 'search_result') && response.properties?.data?.items) {
      const params = new Map((get.parameters ?? []).filter((p) => p.in === 'query').map((p) => [p.name, p]));
      lists.push({ path, search: kind === 'search_result', objects: objectsOf(response.properties.data.items), params, pathParams });
    } else if (pathParams.length && path.endsWith('}')) {
      const objects = objectsOf(response);
      const allowsDeleted = (response.anyOf ?? []).some((s) => refName(s.$ref ?? '').startsWith('deleted_'));
      if (objects.length) retrieves.push({ path, pathParams, objects, allowsDeleted });
    }
  }

  return {
    version,
    schemas,
    paths,
    fixtures,
    resources,
    lists,
    retrieves,
    resolve,
    operation: (method, path) => paths[path]?.[method.toLowerCase()],
    bodySchema: (method, path) => paths[path]?.[method.toLowerCase()]?.requestBody?.content['application/x-www-form-urlencoded']?.schema,
  };
}
