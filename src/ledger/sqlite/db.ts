import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { type Statement } from 'better-sqlite3';
import { plannedMigrations, readMigrations, type MigrationReport } from '../migrations.js';

export type Db = Database.Database;

/** Upper bound of each connection's page cache (KiB). */
const CACHE_KIB = 64 * 1024;

/**
 * Opens the ledger file with the settings durability depends on: WAL, and
 * synchronous=FULL so a COMMIT is on disk (WAL fsync) before we answer 250.
 */
export function openDatabase(path: string): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // SQLite's default page cache (2 MB) does not hold the inner pages of the
  // ledger's indexes once it has millions of rows, so every decision and
  // insert read some of them back from the OS: per intake decision 3.3 reads
  // at 2·10^6 rows and 3.7 at 10^7, with 64 MiB 1.6 and 2.5 (bench/statements
  // --rows). It fills only as pages are read: a small ledger stays small.
  db.pragma(`cache_size = -${CACHE_KIB}`);
  return db;
}

/** Page cache of a reading connection (KiB): console pages read a few hundred rows each. */
const READER_CACHE_KIB = 16 * 1024;

/**
 * A connection that only reads, for the console's reader threads
 * (src/ledger/sqlite/reader-thread.ts): WAL lets it read while the ledger thread
 * writes on its own connection, each seeing the last commit before it began.
 * query_only refuses any write. Pragmas go through exec: pragma() leaves a
 * statement behind for the garbage collector (holdStatements says why that
 * matters).
 */
export function openReadConnection(path: string): Db {
  const db = new Database(path, { fileMustExist: true });
  db.exec(`PRAGMA query_only = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -${READER_CACHE_KIB};`);
  return holdStatements(db);
}

/**
 * Keeps every statement the connection prepares as long as the connection
 * lives, handing out the same one for the same SQL. better-sqlite3 12 on
 * Node 24 can abort the whole process when the garbage collector finalizes a
 * statement nobody holds (Statement::~Statement, "Assertion failed: (env) !=
 * nullptr"), and reads that prepare per call (mailStatus, consent events)
 * would leave one behind on every console page. The SQL of those calls is a
 * fixed, small set, so the map stays small.
 */
function holdStatements(db: Db): Db {
  const held = new Map<string, Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    let statement = held.get(sql);
    if (!statement) held.set(sql, (statement = prepare(sql)));
    return statement;
  }) as Db['prepare'];
  return db;
}

/** Applies the numbered migrations not yet recorded, each in its own transaction. */
export function migrate(db: Db, migrations = readMigrations(), now = Date.now()): MigrationReport {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  const done = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((row) => row.version),
  );
  const { pending, version } = plannedMigrations(done, migrations);
  for (const migration of pending) {
    db.transaction(() => {
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, now);
    })();
  }
  return { applied: pending.map((m) => m.name), version };
}
