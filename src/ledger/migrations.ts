import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../core/paths.js';

/*
 * The numbered migrations both backends apply: migrations/ holds SQLite's,
 * migrations/postgres/ PostgreSQL's, read and planned the same way.
 */

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function migrationsDir(): string {
  return join(packageRoot(), 'migrations');
}

export function readMigrations(dir = migrationsDir()): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d+_[\w-]+\.sql$/.test(file))
    .map((file) => ({ version: Number(file.split('_')[0]), name: file, sql: readFileSync(join(dir, file), 'utf8') }))
    .sort((a, b) => a.version - b.version);
}

export interface MigrationReport {
  applied: string[];
  version: number;
}

/**
 * The migrations not yet applied, in order, and the schema version after
 * them; a database with migrations this version does not know was written by
 * a newer one and is refused. Both backends (sqlite/db.ts, postgres/migrate.ts).
 */
export function plannedMigrations(done: ReadonlySet<number>, migrations: readonly Migration[]): { pending: Migration[]; version: number } {
  const known = new Set(migrations.map((m) => m.version));
  const unknown = [...done].filter((version) => !known.has(version));
  if (unknown.length > 0) {
    throw new Error(`the database has migration(s) ${unknown.join(', ')} that this version of mail2sms does not know; it was written by a newer version`);
  }
  return { pending: migrations.filter((m) => !done.has(m.version)), version: migrations.length > 0 ? Math.max(...migrations.map((m) => m.version)) : 0 };
}
