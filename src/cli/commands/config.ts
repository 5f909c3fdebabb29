import { readFileSync } from 'node:fs';
import { pidFileFor } from '../../daemon.js';
import { setupJsonSchema } from '../../config/schema.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerConfigCommands(program: Command, { out }: CliIo): void {
  program
    .command('check-config')
    .description('validate the main config and every setup; exit 78 with file:line: field: problem on error')
    .addOption(configOption())
    .action((opts: { config: string }) => {
      const config = load(opts.config);
      out(`${config.file}: OK (${config.setups.length} setup(s): ${config.setups.map((s) => s.id).join(', ')})\n`);
    });

  program
    .command('reload')
    .description('validate the config here, then tell the running daemon to reload it (SIGHUP; same as systemctl reload)')
    .addOption(configOption())
    .action((opts: { config: string }) => {
      const config = load(opts.config);
      const pidFile = pidFileFor(config);
      let pid: number;
      try {
        pid = Number(readFileSync(pidFile, 'utf8').trim());
      } catch {
        throw new CliFailure(`no running daemon: ${pidFile} does not exist`, EXIT.unavailable);
      }
      try {
        process.kill(pid, 'SIGHUP');
      } catch (error) {
        throw new CliFailure(`no daemon with pid ${pid} (${(error as NodeJS.ErrnoException).code}); ${pidFile} is stale`, EXIT.unavailable);
      }
      out(`config valid; asked mail2sms (pid ${pid}) to reload\n`);
    });

  program
    .command('schema')
    .description('print the JSON Schema of a setup file (shipped as config/setup.schema.json)')
    .action(() => out(JSON.stringify(setupJsonSchema(), null, 2) + '\n'));
}
