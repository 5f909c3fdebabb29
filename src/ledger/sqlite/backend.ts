import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { LedgerFailure } from '../../core/errors.js';
import type { LedgerBackend, ServedLedger, ServeDeps, StorageSettings } from '../backend.js';
import type { Ledger } from '../types.js';
import { migrate, openDatabase, type Db } from './db.js';
import { ledgerFileProblem, watchLedgerFile } from './file-guard.js';
import { createSqliteLedger } from './ledger.js';
import { purgeSqlite } from './purge.js';
import { emptyLedgerDb, sqliteReadOnlyLedger } from './read-only.js';
import { startLedgerThread } from './thread.js';
import { startLedgerReaders } from './readers.js';

type SqliteSettings = Extract<StorageSettings, { type: 'sqlite' }>;

/**
 * A SQLite ledger: one file, which the daemon serves from its own thread and
 * commands open on connections of their own (SQLite serialises the writers;
 * busy_timeout covers the wait).
 */
export function sqliteBackend(storage: SqliteSettings): LedgerBackend {
  const { path } = storage;
  const noLedger = (hint = '') => new LedgerFailure(`no ledger at ${path}${hint}`, 'unavailable');
  /** A connection of its own for `use`, closed after; the file must be there. */
  const withFile = <T>(use: (db: Db) => T): T => {
    if (!existsSync(path)) throw noLedger();
    return withDb(path, use);
  };
  return {
    where: { backend: 'sqlite', path },
    label: path,
    exists: () => existsSync(path),
    serveProblem: (configFile) => ledgerFileProblem(path, configFile)?.message,
    serve: (deps) => serveSqlite(storage, deps),
    async open(deps, options = {}): Promise<Ledger> {
      if (!options.create && !existsSync(path)) throw noLedger(' (run `mail2sms migrate` to create one)');
      const db = openDatabase(path);
      migrate(db);
      return createSqliteLedger({ db, ...deps });
    },
    async openReadOnly(deps) {
      const now = deps.clock.now();
      const db = existsSync(path) ? new Database(path, { readonly: true, fileMustExist: true }) : emptyLedgerDb();
      try {
        return { ...sqliteReadOnlyLedger(db, now), close: async () => void db.close() };
      } catch (error) {
        db.close();
        throw new LedgerFailure(`cannot read the ledger ${path}: ${(error as Error).message} (run \`mail2sms migrate\` if it was written by an older version)`, 'unreadable');
      }
    },
    async migrate(options) {
      if (options.fromSqlite) throw new LedgerFailure('--from-sqlite copies into a PostgreSQL ledger: set storage.type: postgres (and its url) first', 'unsupported');
      options.migrated(withDb(path, migrate));
      return undefined;
    },
    async backup(destination) {
      if (!existsSync(path)) throw noLedger();
      createPrivateFile(destination);
      const db = openDatabase(path);
      try {
        const result = await db.backup(destination);
        return { source: path, pages: result.totalPages };
      } catch (error) {
        rmSync(destination, { force: true });
        throw new LedgerFailure(`backup failed: ${(error as Error).message}`, 'cannot_create');
      } finally {
        db.close();
      }
    },
    purge: async (cutoff) => withFile((db) => purgeSqlite(db, cutoff)),
  };
}

/** The ledger in its own thread: its commits (and their fsync) block only that thread. */
async function serveSqlite(storage: SqliteSettings, deps: ServeDeps): Promise<ServedLedger> {
  const thread = await startLedgerThread({
    path: storage.path,
    bookkeepingDelayMs: storage.bookkeepingDelayMs,
    receiptGraceMs: deps.receiptGraceMs,
    logLevel: deps.logLevel,
    logger: deps.logger,
    clock: deps.clock,
  });
  return {
    ledger: thread,
    migrations: thread.migrations,
    failed: thread.failed,
    healthName: 'ledger thread',
    consoleReads: startLedgerReaders({ path: storage.path, logger: deps.logger.child({ stage: 'console' }) }),
    watchFile: (onLost) => watchLedgerFile(storage.path, { intervalMs: 1000, onLost }),
    // Its own connection: the ledger thread keeps writing meanwhile (WAL; busy_timeout covers the short waits).
    purge: async (cutoff) => withDb(storage.path, (db) => purgeSqlite(db, cutoff)),
    close: () => thread.close(),
  };
}

function withDb<T>(path: string, use: (db: Db) => T): T {
  const db = openDatabase(path);
  try {
    return use(db);
  } finally {
    db.close();
  }
}

/**
 * Creates the backup file empty and 0600 before SQLite writes into it: it holds
 * phone numbers and consent evidence, whatever the umask of the admin's shell.
 * `wx` also refuses to overwrite an earlier backup, without a check-then-write race.
 */
function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new LedgerFailure(`${path} already exists; refusing to overwrite a backup`, 'cannot_create');
    throw new LedgerFailure(`cannot create ${path}: ${code ?? String(error)}`, 'cannot_create');
  }
}
