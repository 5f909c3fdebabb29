import type { Clock } from '../../core/clock.js';
import { StorageError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { MigrationReport } from '../migrations.js';
import type { ClaimPolicy } from '../types.js';
import { createPostgresLedger, QUEUED_CHANNEL, type PostgresLedger } from './ledger.js';
import { migratePostgres } from './migrate.js';
import { createPgPool, describeTarget, type PgPool } from './pool.js';
import { startPgSession, type PgSession } from './session.js';

export interface OpenedPostgres {
  ledger: PostgresLedger;
  session: PgSession;
  pool: PgPool;
  migrations: MigrationReport;
  close(): Promise<void>;
}

/**
 * Connects (a database we cannot reach stops startup, naming host and port,
 * never the password), applies migrations under their lock, and starts the
 * LISTEN session.
 */
export async function openPostgresLedger(deps: {
  url: string;
  pool: number;
  clock: Clock;
  logger: Logger;
  claimPolicy: ClaimPolicy;
  receiptGraceMs?: number;
}): Promise<OpenedPostgres> {
  const target = describeTarget(deps.url);
  const pool = createPgPool(deps.url, deps.pool, (error) => deps.logger.warn({ err: error, database: target }, 'an idle database connection failed; it is replaced'));
  let migrations: MigrationReport;
  try {
    const client = await pool.connect();
    try {
      migrations = await migratePostgres(client);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new StorageError(`cannot use the PostgreSQL ledger at ${target}: ${redact((error as Error).message, deps.url)} (${reason})`, { cause: error });
  }
  const ledger = createPostgresLedger({
    pool, clock: deps.clock, logger: deps.logger, claimPolicy: deps.claimPolicy,
    ...(deps.receiptGraceMs !== undefined ? { receiptGraceMs: deps.receiptGraceMs } : {}),
  });
  const session = startPgSession({ url: deps.url, channel: QUEUED_CHANNEL, logger: deps.logger, onNotify: ledger.notifyQueued });
  return {
    ledger,
    session,
    pool,
    migrations,
    async close() {
      await session.close();
      await ledger.close();
      await pool.end();
    },
  };
}

/** Error texts from the driver may quote the connection string; the password never leaves. */
function redact(message: string, url: string): string {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password ? message.split(password).join('***') : message;
  } catch {
    return message;
  }
}
