import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { Config } from '../config/load.js';
import { systemClock } from '../core/clock.js';
import { createLogger } from '../core/log.js';
import { createClaimPolicy } from '../dispatch/claim-policy.js';
import { migrate, openDatabase } from '../ledger/sqlite/db.js';
import { readMigrations } from '../ledger/migrations.js';
import { createSqliteLedger } from '../ledger/sqlite/ledger.js';
import type { Ledger } from '../ledger/types.js';
import type { MigrationReport } from '../ledger/migrations.js';
import { createPostgresLedger } from '../ledger/postgres/ledger.js';
import { migratePostgres, pgMigrationsDir } from '../ledger/postgres/migrate.js';
import { createPgPool, describeTarget, type PgPool } from '../ledger/postgres/pool.js';
import { CliFailure } from './common.js';
import { EXIT } from './exit.js';

export interface CliLedgerOptions {
  /** No SQLite file yet: make an empty, migrated one (a first import or consent change) rather than exit 69. */
  create?: boolean;
}

/**
 * The SQLite ledger for a CLI command, through the same interface the daemon uses.
 * Works while the daemon runs: SQLite serialises the two writers.
 */
function openCliSqlite(config: Config, options: CliLedgerOptions): Ledger {
  if (config.storage.type !== 'sqlite') throw new Error('not a SQLite ledger');
  if (!options.create && !existsSync(config.storagePath)) throw new CliFailure(`no ledger at ${config.storagePath} (run \`mail2sms migrate\` to create one)`, EXIT.unavailable);
  const db = openDatabase(config.storagePath);
  migrate(db);
  return createSqliteLedger({ db, clock: systemClock, logger: silentLogger(), claimPolicy: createClaimPolicy() });
}

/** A pool on the configured PostgreSQL ledger, migrated; unreachable → exit 69 naming host and port (never the password). */
export async function openCliPostgres(config: Config): Promise<{ pool: PgPool; report: MigrationReport }> {
  if (config.storage.type !== 'postgres') throw new Error('not a PostgreSQL ledger');
  const pool = createPgPool(config.storage.url, 2);
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
    throw new CliFailure(`cannot use the PostgreSQL ledger at ${describeTarget(config.storage.url)}: ${why}`, EXIT.unavailable);
  }
}

/**
 * A read-only pool on the configured PostgreSQL ledger (explain): every
 * transaction is READ ONLY, nothing is migrated; a schema older than this
 * version's asks for `mail2sms migrate`.
 */
export async function openReadOnlyPostgres(config: Config): Promise<PgPool> {
  if (config.storage.type !== 'postgres') throw new Error('not a PostgreSQL ledger');
  const target = describeTarget(config.storage.url);
  const pool = createPgPool(config.storage.url, 2, () => undefined, { readOnly: true });
  const wanted = Math.max(0, ...readMigrations(pgMigrationsDir()).map((m) => m.version));
  let failure: CliFailure | undefined;
  try {
    const version = (await pool.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations')).rows[0]?.v ?? 0;
    if (version < wanted) failure = notMigrated(target, version, wanted);
  } catch (error) {
    const code = (error as { code?: string }).code;
    failure = code === UNDEFINED_TABLE ? notMigrated(target, 0, wanted) : new CliFailure(`cannot use the PostgreSQL ledger at ${target}: ${code ?? (error as Error).message}`, EXIT.unavailable);
  }
  if (!failure) return pool;
  await pool.end().catch(() => undefined);
  throw failure;
}

const notMigrated = (target: string, version: number, wanted: number) =>
  new CliFailure(`the PostgreSQL ledger at ${target} is at schema version ${version}, this version of mail2sms needs ${wanted}: run \`mail2sms migrate\``, EXIT.unavailable);
const UNDEFINED_TABLE = '42P01';

/** Runs `use` with the ledger (SQLite or PostgreSQL) and closes it after, whatever happens. */
export async function withCliLedger<T>(config: Config, use: (ledger: Ledger) => Promise<T>, options: CliLedgerOptions = {}): Promise<T> {
  if (config.storage.type === 'postgres') {
    const { pool } = await openCliPostgres(config);
    try {
      return await use(createPostgresLedger({ pool, clock: systemClock, logger: silentLogger(), claimPolicy: createClaimPolicy() }));
    } finally {
      await pool.end();
    }
  }
  const ledger = openCliSqlite(config, options);
  try {
    return await use(ledger);
  } finally {
    await ledger.close();
  }
}

export const silentLogger = () => createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
