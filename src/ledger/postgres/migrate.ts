import { join } from 'node:path';
import { migrationsDir, plannedMigrations, readMigrations, type Migration, type MigrationReport } from '../migrations.js';
import { lockKey, type PgClient } from './pool.js';

export function pgMigrationsDir(): string {
  return join(migrationsDir(), 'postgres');
}

const MIGRATION_LOCK = lockKey('mail2sms:migrate');

/**
 * Applies the numbered PostgreSQL migrations not yet recorded, each in its
 * own transaction, under a session advisory lock: two daemons starting
 * together take turns, and the second finds nothing left to do.
 */
export async function migratePostgres(client: PgClient, migrations: Migration[] = readMigrations(pgMigrationsDir()), now = Date.now()): Promise<MigrationReport> {
  await client.query('SELECT pg_advisory_lock($1)', [String(MIGRATION_LOCK)]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => row.version));
    const { pending, version } = plannedMigrations(done, migrations);
    for (const migration of pending) {
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, now]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`, { cause: error });
      }
    }
    return { applied: pending.map((m) => m.name), version };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [String(MIGRATION_LOCK)]);
  }
}
