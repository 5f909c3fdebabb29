import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { Config } from '../config/load.js';
import { systemClock } from '../core/clock.js';
import { createLogger } from '../core/log.js';
import { createClaimPolicy } from '../dispatch/claim-policy.js';
import { migrate, openDatabase } from '../ledger/db.js';
import { createSqliteLedger } from '../ledger/sqlite/ledger.js';
import type { Ledger } from '../ledger/types.js';
import type { MigrationReport } from '../ledger/db.js';
import { createPostgresLedger } from '../ledger/postgres/ledger.js';
import { migratePostgres } from '../ledger/postgres/migrate.js';
import { createPgPool, describeTarget, type PgPool } from '../ledger/postgres/pool.js';
import { CliFailure, sqlitePath } from './common.js';
import { EXIT } from './exit.js';

/**
 * The ledger for a CLI command, through the same interface the daemon uses.
 * Works while the daemon runs: SQLite serialises the two writers.
 */
export function openCliLedger(config: Config): Ledger {
  sqlitePath(config, 'use withCliLedger, which opens either');
  if (!existsSync(config.storagePath)) throw new CliFailure(`no ledger at ${config.storagePath} (run \`mail2sms migrate\` to create one)`, EXIT.unavailable);
  const db = openDatabase(config.storagePath);
  migrate(db);
  const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
  return createSqliteLedger({ db, clock: systemClock, logger, claimPolicy: createClaimPolicy() });
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

/** Runs `use` with the ledger (SQLite or PostgreSQL) and closes it after, whatever happens. */
export async function withCliLedger<T>(config: Config, use: (ledger: Ledger) => Promise<T>): Promise<T> {
  if (config.storage.type === 'postgres') {
    const { pool } = await openCliPostgres(config);
    try {
      return await use(createPostgresLedger({ pool, clock: systemClock, logger: silent(), claimPolicy: createClaimPolicy() }));
    } finally {
      await pool.end();
    }
  }
  const ledger = openCliLedger(config);
  try {
    return await use(ledger);
  } finally {
    await ledger.close();
  }
}

const silent = () => createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
