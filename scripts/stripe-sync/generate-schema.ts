// Regenerates the stripe-sync schema from Stripe's OpenAPI spec:
//   bash scripts/node scripts/stripe-sync/generate-schema.ts [path/to/spec3.json]
// writes src/stripe-sync/schema-mapping.json and src/stripe-sync/migrations/00{1,2}_*.sql.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/platform/project-root.ts';
import type { SchemaMapping } from '../../src/stripe-sync/schema-mapping.ts';
import { readSpec, SPEC_FILE } from './openapi.ts';
import { generateSchemaFiles } from './schema-files.ts';

const files = generateSchemaFiles(readSpec(process.argv[2] ?? SPEC_FILE));
for (const file of files) {
  writeFileSync(join(projectRoot, file.path), file.content);
  console.log(`wrote ${file.path}`);
}
const { tables } = JSON.parse(files[0]!.content) as SchemaMapping;
console.log(`${tables.length} tables: ${tables.filter((t) => t.kind === 'child').length} child tables, ${tables.filter((t) => t.kind === 'virtual').length} virtual`);
