// Numbered SQL files per part (`src/<part>/migrations/NNN_name.sql`), each applied in its own
// transaction with its version recorded, under an advisory lock so concurrent `migrate` runs
// serialize. Applied files are immutable: a changed checksum stops the run.
//
// A part whose objects live in a configurable schema (stripe-sync) writes `{{name}}` placeholders
// in its files and is migrated with `variables`; the values are identifiers, checked, and are
// part of the recorded name, so the same files can be applied once per schema.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql, TransactionSql } from './db.ts';
import { projectRoot } from './project-root.ts';

/** Dependency order: later parts may read earlier parts' tables (billing reads the Stripe mirror). */
export const MIGRATION_PARTS = ['platform', 'stripe-sync', 'payments', 'billing', 'chronicles'] as const;

export interface MigrationFile {
  part: string;
  version: number;
  name: string;
  path: string;
  sql: string;
  checksum: string;
}

export interface MigrationResult {
  applied: MigrationFile[];
  alreadyApplied: number;
}

const FILE_PATTERN = /^(\d+)_([a-z0-9_]+)\.sql$/;

export async function readMigrations(parts: readonly string[] = MIGRATION_PARTS, root = projectRoot): Promise<MigrationFile[]> {
  const files: MigrationFile[] = [];
  for (const part of parts) {
    const dir = join(root, 'src', part, 'migrations');
    const names = await readdir(dir).catch(() => [] as string[]);
    const seen = new Set<number>();
    for (const name of names.sort()) {
      const match = FILE_PATTERN.exec(name);
      if (!match) continue;
      const version = Number(match[1]);
      if (seen.has(version)) throw new Error(`Two migrations of ${part} share version ${version}`);
      seen.add(version);
      const path = join(dir, name);
      const sql = await readFile(path, 'utf8');
      files.push({ part, version, name: match[2]!, path, sql, checksum: createHash('sha256').update(sql).digest('hex') });
    }
  }
  return files;
}

export interface MigrateOptions {
  parts?: readonly string[];
  root?: string;
  log?: (line: string) => void;
  /** Placeholder values per part, e.g. `{ 'stripe-sync': { schema: 'stripe' } }`. */
  variables?: Record<string, Record<string, string>>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Fills `{{name}}` placeholders; returns the recorded part name that includes the values. */
export function instantiate(file: MigrationFile, variables: Record<string, string> = {}): { part: string; sql: string } {
  for (const [name, value] of Object.entries(variables)) {
    if (!IDENTIFIER.test(value)) throw new Error(`Migration variable ${name} must be a lower-case SQL identifier, got an invalid value`);
  }
  const sql = file.sql.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = variables[name];
    if (value === undefined) throw new Error(`Migration ${file.part}/${file.version}_${file.name} needs variable {{${name}}}`);
    return value;
  });
  const suffix = Object.entries(variables).sort().map(([k, v]) => `${k}=${v}`).join(',');
  return { part: suffix ? `${file.part}(${suffix})` : file.part, sql };
}

export async function migrate(sql: Sql, options: MigrateOptions = {}): Promise<MigrationResult> {
  const files = await readMigrations(options.parts, options.root);
  const lock = (tx: TransactionSql) => tx`select pg_advisory_xact_lock(hashtext('ledgerline.migrate'))`;
  await sql.begin(async (tx) => {
    await lock(tx);
    await tx`create schema if not exists ledgerline`;
    await tx`
      create table if not exists ledgerline.schema_migrations (
        part text not null,
        version integer not null,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now(),
        primary key (part, version)
      )`;
  });
  const result: MigrationResult = { applied: [], alreadyApplied: 0 };
  for (const file of files) {
    const { part, sql: text } = instantiate(file, options.variables?.[file.part]);
    // Lock, then look: another `migrate` may have applied this file while we waited.
    const appliedNow = await sql.begin(async (tx) => {
      await lock(tx);
      const [row] = await tx<{ checksum: string }[]>`
        select checksum from ledgerline.schema_migrations where part = ${part} and version = ${file.version}`;
      if (row) {
        if (row.checksum !== file.checksum) {
          throw new Error(`Migration ${part}/${file.version}_${file.name} changed after it was applied; add a new migration instead`);
        }
        return false;
      }
      await tx.unsafe(text);
      await tx`insert into ledgerline.schema_migrations (part, version, name, checksum) values (${part}, ${file.version}, ${file.name}, ${file.checksum})`;
      return true;
    });
    if (appliedNow) {
      options.log?.(`applied ${part}/${String(file.version).padStart(3, '0')}_${file.name}`);
      result.applied.push(file);
    } else {
      result.alreadyApplied++;
    }
  }
  return result;
}
