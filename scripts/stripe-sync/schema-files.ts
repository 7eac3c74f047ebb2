// Everything generate-schema.ts writes, computed in memory, so a test can compare it with what is committed.
import { deriveMapping } from './derive-mapping.ts';
import { formatJson } from './format-json.ts';
import type { OpenApiSpec } from './openapi.ts';
import { renderReaderSql, renderTablesSql } from './render-sql.ts';

export interface GeneratedFile {
  /** Relative to the project root. */
  path: string;
  content: string;
}

export function generateSchemaFiles(spec: OpenApiSpec): GeneratedFile[] {
  const mapping = deriveMapping(spec);
  return [
    { path: 'src/stripe-sync/schema-mapping.json', content: `${formatJson(mapping)}\n` },
    { path: 'src/stripe-sync/migrations/001_stripe_tables.sql', content: renderTablesSql(mapping) },
    { path: 'src/stripe-sync/migrations/002_stripe_reader.sql', content: renderReaderSql(mapping) },
  ];
}
