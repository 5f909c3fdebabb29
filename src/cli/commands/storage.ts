import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { migrate, openDatabase } from '../../ledger/db.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerStorageCommands(program: Command, { out }: CliIo): void {
  program
    .command('migrate')
    .description('apply database migrations and exit')
    .addOption(configOption())
    .action((opts: { config: string }) => {
      const config = load(opts.config);
      const db = openDatabase(config.storagePath);
      try {
        const report = migrate(db);
        out(report.applied.length > 0 ? `applied ${report.applied.join(', ')}; schema version ${report.version}\n` : `up to date; schema version ${report.version}\n`);
      } finally {
        db.close();
      }
    });

  program
    .command('backup')
    .description('write a consistent copy of the ledger with the SQLite online backup API (safe while the daemon runs)')
    .argument('<destination>', 'file to write; must not exist')
    .addOption(configOption())
    .action(async (destination: string, opts: { config: string }) => {
      const config = load(opts.config);
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
