import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { packageRoot } from '../core/paths.js';
import { CliFailure } from './common.js';
import { LedgerFailure } from '../core/errors.js';
import { EXIT, LEDGER_FAILURE_EXIT } from './exit.js';
import { registerLedgerCommands } from './ledger-commands.js';
import { registerAutomationsCommands } from './commands/automations.js';
import { registerConfigCommands } from './commands/config.js';
import { registerContactsCommands } from './commands/contacts.js';
import { registerExplainCommands } from './commands/explain.js';
import { registerHealthCommands } from './commands/health.js';
import { registerPasswordsCommands } from './commands/passwords.js';
import { registerProviderSimCommands } from './commands/provider-sim.js';
import { registerProvidersCommands } from './commands/providers.js';
import { registerQueueCommands } from './commands/queue.js';
import { registerServeCommands } from './commands/serve.js';
import { registerStorageCommands } from './commands/storage.js';
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}


export function buildProgram(out: (text: string) => void, setExit: (code: number) => void): Command {
  const program = new Command('mail2sms')
    .description('Inbound email-to-SMS gateway')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: (text) => process.stderr.write(text) });
  const io = { out, setExit };
  registerServeCommands(program, io);
  registerConfigCommands(program, io);
  registerStorageCommands(program, io);
  registerExplainCommands(program, io);
  registerPasswordsCommands(program, io);
  registerLedgerCommands(program, out);
  registerQueueCommands(program, io);
  registerContactsCommands(program, io);
  registerAutomationsCommands(program, io);
  registerProviderSimCommands(program, io);
  registerProvidersCommands(program, io);
  registerHealthCommands(program, io);
  return program;
}

/** Runs the CLI and returns the exit code; never lets a stack trace reach the user. */
export async function runCli(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram((text) => process.stdout.write(text), (code) => (exitCode = code));
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof CliFailure) {
      process.stderr.write(`mail2sms: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof LedgerFailure) {
      process.stderr.write(`mail2sms: ${error.message}\n`);
      return LEDGER_FAILURE_EXIT[error.kind];
    }
    process.stderr.write(`mail2sms: unexpected error: ${(error as Error).message ?? String(error)}\n`);
    return EXIT.software;
  }
}
