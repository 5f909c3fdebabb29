import { parseDuration } from '../../core/units.js';
import type { CopyReport } from '../../ledger/backend.js';
import { openLedger } from '../../ledger/open.js';
import { MIN_RETENTION_MS, type PurgeReport } from '../../ledger/purge.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

const migrated = (report: { applied: string[]; version: number }) =>
  report.applied.length > 0 ? `applied ${report.applied.join(', ')}; schema version ${report.version}\n` : `up to date; schema version ${report.version}\n`;
const copiedLine = ({ file, copied }: CopyReport) =>
  `copied ${file}: ${Object.entries(copied).map(([table, n]) => `${table} ${n}`).join(', ')}; row counts match\n`;

export function registerStorageCommands(program: Command, { out }: CliIo): void {
  program
    .command('migrate')
    .description('apply database migrations and exit; with --from-sqlite, copy a SQLite ledger into an empty PostgreSQL one')
    .option('--from-sqlite <file>', 'a SQLite ledger (data/mail2sms.db) to copy into the configured PostgreSQL ledger')
    .addOption(configOption())
    .action(async (opts: { config: string; fromSqlite?: string }) => {
      const config = load(opts.config);
      const copy = await openLedger(config.storage).migrate({ ...(opts.fromSqlite ? { fromSqlite: opts.fromSqlite } : {}), migrated: (report) => out(migrated(report)) });
      if (copy) out(copiedLine(copy));
    });

  program
    .command('backup')
    .description('write a consistent copy of the ledger with the SQLite online backup API (safe while the daemon runs); on PostgreSQL, use pg_dump')
    .argument('<destination>', 'file to write; must not exist')
    .addOption(configOption())
    .action(async (destination: string, opts: { config: string }) => {
      const config = load(opts.config);
      const { source, pages } = await openLedger(config.storage).backup(destination);
      out(`backed up ${source} to ${destination} (${pages} pages)\n`);
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
      const report = await openLedger(config.storage).purge(cutoff);
      out(`purged rows older than ${new Date(cutoff).toISOString()}: ${formatReport(report)}; consent events kept\n`);
    });
}

export function formatReport(report: PurgeReport): string {
  return Object.entries(report).map(([what, n]) => `${n} ${what}`).join(', ');
}
