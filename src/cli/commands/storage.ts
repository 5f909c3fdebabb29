import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Config } from '../../config/load.js';
import { StorageError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { migrate, openDatabase } from '../../ledger/sqlite/db.js';
import { readMigrations } from '../../ledger/migrations.js';
import { copySqliteToPostgres, NotEmptyError } from '../../ledger/postgres/copy.js';
import { describeTarget, type PgPool } from '../../ledger/postgres/pool.js';
import { purgePostgres } from '../../ledger/postgres/purge.js';
import { MIN_RETENTION_MS, type PurgeReport } from '../../ledger/purge.js';
import { purgeSqlite } from '../../ledger/sqlite/purge.js';
import { CliFailure, configOption, load } from '../common.js';
import { openCliPostgres } from '../ledger.js';
import { EXIT } from '../exit.js';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

const openPostgres = (config: Config) => openCliPostgres(config);

const isPostgres = (config: Config): config is Config & { storage: { type: 'postgres' } } => config.storage.type === 'postgres';
const migrated = (report: { applied: string[]; version: number }) =>
  report.applied.length > 0 ? `applied ${report.applied.join(', ')}; schema version ${report.version}\n` : `up to date; schema version ${report.version}\n`;

export function registerStorageCommands(program: Command, { out }: CliIo): void {
  program
    .command('migrate')
    .description('apply database migrations and exit; with --from-sqlite, copy a SQLite ledger into an empty PostgreSQL one')
    .option('--from-sqlite <file>', 'a SQLite ledger (data/mail2sms.db) to copy into the configured PostgreSQL ledger')
    .addOption(configOption())
    .action(async (opts: { config: string; fromSqlite?: string }) => {
      const config = load(opts.config);
      if (isPostgres(config)) {
        const { pool, report } = await openPostgres(config);
        try {
          out(migrated(report));
          if (opts.fromSqlite) out(await copyFromSqlite(opts.fromSqlite, pool));
        } finally {
          await pool.end();
        }
        return;
      }
      if (opts.fromSqlite) throw new CliFailure('--from-sqlite copies into a PostgreSQL ledger: set storage.type: postgres (and its url) first', EXIT.usage);
      const db = openDatabase(config.storagePath);
      try {
        out(migrated(migrate(db)));
      } finally {
        db.close();
      }
    });

  program
    .command('backup')
    .description('write a consistent copy of the ledger with the SQLite online backup API (safe while the daemon runs); on PostgreSQL, use pg_dump')
    .argument('<destination>', 'file to write; must not exist')
    .addOption(configOption())
    .action(async (destination: string, opts: { config: string }) => {
      const config = load(opts.config);
      if (isPostgres(config)) {
        throw new CliFailure(
          `the ledger is on PostgreSQL (${describeTarget(config.storage.url)}): back it up with pg_dump, which takes a consistent snapshot while the daemons run, e.g.\n` +
            `  pg_dump --format=custom --file=${destination} "postgres://USER@HOST:PORT/DATABASE"\n` +
            `and restore into an empty database with pg_restore --dbname=... ${destination} (docs/postgresql.md, "Back up")`,
          EXIT.usage,
        );
      }
      if (!existsSync(config.storagePath)) throw new CliFailure(`no ledger at ${config.storagePath}`, EXIT.unavailable);
      createPrivateFile(destination);
      const db = openDatabase(config.storagePath);
      try {
        const result = await db.backup(destination);
        out(`backed up ${config.storagePath} to ${destination} (${result.totalPages} pages)\n`);
      } catch (error) {
        rmSync(destination, { force: true });
        throw new CliFailure(`backup failed: ${(error as Error).message}`, EXIT.cantCreate);
      } finally {
        db.close();
      }
    });

  program
    .command('purge')
    .description('delete finished rows older than a duration (consent events, pending work and what the rules still need are kept)')
    .requiredOption('--older-than <duration>', `e.g. 400d; at least ${MIN_RETENTION_MS / 86_400_000}d`)
    .addOption(configOption())
    .action(async (opts: { config: string; olderThan: string }) => {
      const config = load(opts.config);
      const ms = parseDuration(opts.olderThan);
      if (ms === undefined || ms < MIN_RETENTION_MS) throw new CliFailure(`--older-than: "${opts.olderThan}" is not a duration of at least ${MIN_RETENTION_MS / 86_400_000}d`, EXIT.usage);
      const cutoff = Date.now() - ms;
      let report: PurgeReport;
      if (isPostgres(config)) {
        const { pool } = await openPostgres(config);
        try {
          report = await purgePostgres(pool, cutoff);
        } finally {
          await pool.end();
        }
      } else {
        if (!existsSync(config.storagePath)) throw new CliFailure(`no ledger at ${config.storagePath}`, EXIT.unavailable);
        const db = openDatabase(config.storagePath);
        try {
          report = purgeSqlite(db, cutoff);
        } finally {
          db.close();
        }
      }
      out(`purged rows older than ${new Date(cutoff).toISOString()}: ${formatReport(report)}; consent events kept\n`);
    });
}

export function formatReport(report: PurgeReport): string {
  return Object.entries(report).map(([what, n]) => `${n} ${what}`).join(', ');
}

async function copyFromSqlite(file: string, pool: PgPool): Promise<string> {
  if (!existsSync(file)) throw new CliFailure(`no SQLite ledger at ${file}`, EXIT.unavailable);
  const source = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const latest = Math.max(...readMigrations().map((m) => m.version));
    const version = (source.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
    if (version !== latest) throw new CliFailure(`${file} is at schema version ${version}, this mail2sms at ${latest}: run \`mail2sms migrate\` on it with its SQLite config first`, EXIT.dataErr);
    const { copied } = await copySqliteToPostgres(source, pool);
    return `copied ${file}: ${Object.entries(copied).map(([table, n]) => `${table} ${n}`).join(', ')}; row counts match\n`;
  } catch (error) {
    if (error instanceof NotEmptyError) throw new CliFailure(error.message, EXIT.cantCreate);
    if (error instanceof CliFailure) throw error;
    throw new StorageError(`copy failed (nothing was written: one transaction): ${(error as Error).message}`, { cause: error });
  } finally {
    source.close();
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
    if (code === 'EEXIST') throw new CliFailure(`${path} already exists; refusing to overwrite a backup`, EXIT.cantCreate);
    throw new CliFailure(`cannot create ${path}: ${code ?? String(error)}`, EXIT.cantCreate);
  }
}
