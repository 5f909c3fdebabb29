import { AlreadyRunningError, describeListenError } from '../../core/instance.js';
import { StorageError } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import type { Config } from '../../config/load.js';
import { startDaemon } from '../../daemon.js';
import { openLedger } from '../../ledger/open.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import { exitOnUncaught, waitForSignals } from '../signals.js';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerServeCommands(program: Command, { setExit }: CliIo): void {
  program
    .command('serve')
    .description('run the daemon: SMTP intake, dispatch, HTTP listener (and the simulator if configured)')
    .addOption(configOption())
    .action(async (opts: { config: string }) => {
      const config = load(opts.config);
      // A ledger that is a file must exist (a new, empty one is never made in its place); a server is checked when the daemon connects.
      const problem = openLedger(config.storage).serveProblem(config.file);
      if (problem) throw new CliFailure(problem, EXIT.unavailable);
      const logger = createLogger({ level: config.main.log.level });
      exitOnUncaught(logger);
      let daemon;
      try {
        daemon = await startDaemon({ config, logger });
      } catch (error) {
        // Expected failures (another daemon, a port taken) are one line in the log and on stderr; anything else keeps its stack in the log.
        // A database we cannot reach is expected too (exit 69): its message names host and port, never the password.
        const expected = error instanceof AlreadyRunningError || error instanceof StorageError ? error.message : describeListenError(error, listenRoles(config));
        if (expected) logger.fatal({ reason: expected }, 'startup failed');
        else logger.fatal({ err: error }, 'startup failed');
        logger.flush();
        throw new CliFailure(`cannot start: ${expected ?? (error as Error).message}`, expected ? EXIT.unavailable : EXIT.software);
      }
      const running = daemon;
      const failed = running.failed.then(() => EXIT.software);
      setExit(await Promise.race([waitForSignals({ stop: () => running.stop(), reload: () => void running.reload() }), failed]));
      logger.flush();
    });
}

/** Which listener a port belongs to, for startup errors. */
function listenRoles(config: Config): Record<string, string> {
  const provider = config.main.provider;
  return {
    ...(provider.type === 'simulator' && provider.embedded ? { [provider.listen.port]: 'provider.listen, the embedded simulator' } : {}),
    [config.main.http.listen.port]: 'http.listen',
    [config.main.smtp.listen.port]: 'smtp.listen',
  };
}
