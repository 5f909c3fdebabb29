import { LedgerFailure, StorageError } from '../../core/errors.js';
import type { CopyReport, LedgerBackend, LedgerDeps, StorageSettings } from '../backend.js';
import type { MigrationReport } from '../migrations.js';
import { readMigrations } from '../migrations.js';
import { copySqliteToPostgres, NotEmptyError, type SqliteSource } from './copy.js';
import { createPostgresLedger } from './ledger.js';
import { migratePostgres, pgMigrationsDir } from './migrate.js';
import { openPostgresLedger } from './open.js';
import { createPgPool, describeTarget, type PgPool } from './pool.js';
import { purgePostgres } from './purge.js';
import { startPostgresReads } from './reads.js';

type PostgresSettings = Extract<StorageSettings, { type: 'postgres' }>;

/** A SQLite ledger to copy in (`migrate --from-sqlite`): opened read-only by the SQLite side (open.ts passes it in). */
export interface CopySource {
  rows: SqliteSource;
  /** Throws unless it is at this version's schema. */
  assertCurrent(): void;
  close(): void;
}

export interface PostgresBackendDeps {
  openCopySource(file: string): CopySource;
}

/**
 * A PostgreSQL ledger: a server several daemons share. Commands use a small
 * pool of their own (migrated first); explain's pool is READ ONLY.
 */
export function postgresBackend(storage: PostgresSettings, deps: PostgresBackendDeps): LedgerBackend {
  const target = describeTarget(storage.url);
  /** Runs `use` on a migrated pool of two, ended after. */
  async function withPool<T>(use: (pool: PgPool, report: MigrationReport) => Promise<T>): Promise<T> {
    const { pool, report } = await openMigrated(storage.url);
    try {
      return await use(pool, report);
    } finally {
      await pool.end();
    }
  }
  return {
    where: { backend: 'postgres', path: target },
    label: `postgres ${target}`,
    exists: () => true,
    // Checked (and migrated) when the daemon connects.
    serveProblem: () => undefined,
    async serve(serveDeps) {
      const pg = await openPostgresLedger({
        url: storage.url, pool: storage.pool, clock: serveDeps.clock, logger: serveDeps.logger.child({ stage: 'ledger' }),
        claimPolicy: serveDeps.claimPolicy, receiptGraceMs: serveDeps.receiptGraceMs,
      });
      // A database that goes away makes calls fail (451 to clients, retries in dispatch) until it is back; nothing to die of.
      return {
        ledger: pg.ledger, migrations: pg.migrations, failed: new Promise<Error>(() => undefined), healthName: 'ledger',
        // Its own small read-only pool: console pages never take intake's connections.
        consoleReads: startPostgresReads({ url: storage.url, logger: serveDeps.logger.child({ stage: 'console' }) }),
        guardSend: pg.ledger.guardSend, election: pg.session,
        purge: (cutoff) => purgePostgres(pg.pool, cutoff), close: pg.close,
      };
    },
    async open(ledgerDeps: LedgerDeps) {
      const { pool } = await openMigrated(storage.url);
      // The pool is this command's: closing the ledger ends it.
      return { ...createPostgresLedger({ pool, ...ledgerDeps }), close: () => pool.end() };
    },
    async openReadOnly(ledgerDeps) {
      const pool = await openReadOnly(storage.url);
      return { ...createPostgresLedger({ pool, ...ledgerDeps }), close: () => pool.end() };
    },
    migrate: (options) =>
      withPool(async (pool, report) => {
        options.migrated(report);
        return options.fromSqlite ? copyFrom(options.fromSqlite, pool, deps) : undefined;
      }),
    async backup(destination) {
      throw new LedgerFailure(
        `the ledger is on PostgreSQL (${target}): back it up with pg_dump, which takes a consistent snapshot while the daemons run, e.g.\n` +
          `  pg_dump --format=custom --file=${destination} "postgres://USER@HOST:PORT/DATABASE"\n` +
          `and restore into an empty database with pg_restore --dbname=... ${destination} (docs/postgresql.md, "Back up")`,
        'unsupported',
      );
    },
    purge: (cutoff) => withPool((pool) => purgePostgres(pool, cutoff)),
  };
}

/** A pool on the ledger, migrated; unreachable → unavailable, naming host and port (never the password). */
async function openMigrated(url: string): Promise<{ pool: PgPool; report: MigrationReport }> {
  const pool = createPgPool(url, 2);
  try {
    const client = await pool.connect();
    try {
      return { pool, report: await migratePostgres(client) };
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new LedgerFailure(`cannot use the PostgreSQL ledger at ${describeTarget(url)}: ${why}`, 'unavailable');
  }
}

/**
 * A read-only pool (explain): every transaction is READ ONLY, nothing is
 * migrated; a schema older than this version's asks for `mail2sms migrate`.
 */
async function openReadOnly(url: string): Promise<PgPool> {
  const target = describeTarget(url);
  const pool = createPgPool(url, 2, () => undefined, { readOnly: true });
  const wanted = Math.max(0, ...readMigrations(pgMigrationsDir()).map((m) => m.version));
  let failure: LedgerFailure | undefined;
  try {
    const version = (await pool.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations')).rows[0]?.v ?? 0;
    if (version < wanted) failure = notMigrated(target, version, wanted);
  } catch (error) {
    const code = (error as { code?: string }).code;
    failure = code === UNDEFINED_TABLE ? notMigrated(target, 0, wanted) : new LedgerFailure(`cannot use the PostgreSQL ledger at ${target}: ${code ?? (error as Error).message}`, 'unavailable');
  }
  if (!failure) return pool;
  await pool.end().catch(() => undefined);
  throw failure;
}

const notMigrated = (target: string, version: number, wanted: number) =>
  new LedgerFailure(`the PostgreSQL ledger at ${target} is at schema version ${version}, this version of mail2sms needs ${wanted}: run \`mail2sms migrate\``, 'unavailable');
const UNDEFINED_TABLE = '42P01';

/** `migrate --from-sqlite`: the whole SQLite ledger into this empty one, in one transaction. */
async function copyFrom(file: string, pool: PgPool, deps: PostgresBackendDeps): Promise<CopyReport> {
  const source = deps.openCopySource(file);
  try {
    source.assertCurrent();
    const { copied } = await copySqliteToPostgres(source.rows, pool);
    return { file, copied };
  } catch (error) {
    if (error instanceof NotEmptyError) throw new LedgerFailure(error.message, 'cannot_create');
    if (error instanceof LedgerFailure) throw error;
    throw new StorageError(`copy failed (nothing was written: one transaction): ${(error as Error).message}`, { cause: error });
  } finally {
    source.close();
  }
}
