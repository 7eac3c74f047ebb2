// Just enough of Stripe's OpenAPI 3.0 spec to find its resources and their list endpoints.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/platform/project-root.ts';

export const SPEC_FILE = join(projectRoot, '..', 'shared', 'stripe', 'spec3.json');

export interface OpenApiSchema {
  $ref?: string;
  type?: string;
  format?: string;
  nullable?: boolean;
  enum?: unknown[];
  anyOf?: OpenApiSchema[];
  items?: OpenApiSchema;
  properties?: Record<string, OpenApiSchema>;
  'x-expandableFields'?: string[];
  'x-resourceId'?: string;
}

export interface OpenApiParameter {
  name: string;
  in: string;
  required?: boolean;
}

export interface OpenApiOperation {
  parameters?: OpenApiParameter[];
  deprecated?: boolean;
  responses: Record<string, { content?: Record<string, { schema: OpenApiSchema }> }>;
}

export interface OpenApiSpec {
  info: { version: string };
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, OpenApiSchema> };
}

export function readSpec(file = SPEC_FILE): OpenApiSpec {
  return JSON.parse(readFileSync(file, 'utf8')) as OpenApiSpec;
}

export const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);

export function resolve(spec: OpenApiSpec, schema: OpenApiSchema): OpenApiSchema {
  return schema.$ref ? spec.components.schemas[refName(schema.$ref)]! : schema;
}

/** Component names a schema points at: itself a `$ref`, or an `anyOf` of them. */
export function referencedSchemas(schema: OpenApiSchema): string[] {
  if (schema.$ref) return [refName(schema.$ref)];
  return (schema.anyOf ?? []).flatMap((s) => (s.$ref ? [refName(s.$ref)] : []));
}

/** A page of objects (`{object: 'list' | 'search_result', data: [...], has_more}`): the component names of its items, else null. */
export function listItemSchemas(spec: OpenApiSpec, schema: OpenApiSchema): string[] | null {
  const single = schema.anyOf?.length === 1 ? schema.anyOf[0]! : schema;
  const props = resolve(spec, single).properties;
  const kind = props?.object?.enum?.[0];
  if (!props?.data?.items || !props.has_more || (kind !== 'list' && kind !== 'search_result')) return null;
  return referencedSchemas(props.data.items);
}

export interface GetEndpoint {
  path: string;
  operation: OpenApiOperation;
  /** Component names of the items (list) or of the object (retrieve). */
  schemas: string[];
  list: boolean;
}

export function getEndpoints(spec: OpenApiSpec): GetEndpoint[] {
  const endpoints: GetEndpoint[] = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    const operation = methods.get;
    const schema = operation?.responses['200']?.content?.['application/json']?.schema;
    // Deprecated reads (a customer's `/cards`, `/bank_accounts`) are subsets of ones that remain (`/sources`).
    if (!operation || !schema || operation.deprecated) continue;
    const items = listItemSchemas(spec, schema);
    // Retrieving a deleted object answers with its deletion notice (`deleted_customer`): not a second resource.
    const schemas = (items ?? referencedSchemas(schema)).filter((s) => !s.startsWith('deleted_'));
    endpoints.push({ path, operation, schemas, list: items !== null });
  }
  return endpoints.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export const pathParams = (path: string) => [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
