import { createLogger } from '../../core/log.js';
import { startDaemon } from '../../daemon.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import { waitForSignals } from '../signals.js';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerServeCommands(program: Command, { setExit }: CliIo): void {
  program
    .command('serve')
    .description('run the daemon: SMTP intake, dispatch, HTTP listener (and the simulator if configured)')
    .addOption(configOption())
    .action(async (opts: { config: string }) => {
      const config = load(opts.config);
      const logger = createLogger({ level: config.main.log.level });
      let daemon;
      try {
        daemon = await startDaemon({ config, logger });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        logger.fatal({ err: error }, 'startup failed');
        logger.flush();
        throw new CliFailure(`cannot start: ${(error as Error).message}`, code === 'EADDRINUSE' || code === 'EACCES' ? EXIT.unavailable : EXIT.software);
      }
      const running = daemon;
      const failed = running.failed.then(() => EXIT.software);
      setExit(await Promise.race([waitForSignals({ stop: () => running.stop(), reload: () => void running.reload() }), failed]));
      logger.flush();
    });
}
