import { embeddedSimulators } from '../../config/provider-plan.js';
import { userInfo } from 'node:os';
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
        // Expected failures (another daemon, a port taken, a file this user cannot write) are one line in the log and on stderr,
        // their stack at debug; anything else keeps its stack in the log.
        const expected = expectedStartupFailure(error, config);
        if (expected) {
          logger.fatal({ reason: expected.reason }, 'startup failed');
          logger.debug({ err: error }, 'startup failed (stack)');
        } else logger.fatal({ err: error }, 'startup failed');
        logger.flush();
        throw new CliFailure(`cannot start: ${expected?.reason ?? (error as Error).message}`, expected?.exit ?? EXIT.software);
      }
      const running = daemon;
      const failed = running.failed.then(() => EXIT.software);
      setExit(await Promise.race([waitForSignals({ stop: () => running.stop(), reload: () => void running.reload() }), failed]));
      logger.flush();
    });
}

/**
 * A startup failure the admin can fix, in one line, with its exit code; undefined for the unexpected.
 * A database we cannot reach is expected too (exit 69): its message names host and port, never the password.
 */
function expectedStartupFailure(error: unknown, config: Config): { reason: string; exit: number } | undefined {
  if (error instanceof AlreadyRunningError || error instanceof StorageError) return { reason: error.message, exit: EXIT.unavailable };
  const listen = describeListenError(error, listenRoles(config));
  if (listen) return { reason: listen, exit: EXIT.unavailable };
  const e = error as NodeJS.ErrnoException;
  if (typeof e?.path !== 'string' || !['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'ENOENT', 'ENOTDIR'].includes(e.code ?? '')) return undefined;
  const user = userInfo();
  const runtime = e.path.startsWith(config.runtime.dir) ? `; the runtime directory (runtime_dir, now ${config.runtime.dir}) must be writable by this user` : '';
  return { reason: `cannot ${e.syscall ?? 'write'} ${e.path}: ${e.code} (user ${user.username}, uid ${user.uid})${runtime}`, exit: EXIT.cantCreate };
}

/** Which listener a port belongs to, for startup errors. */
function listenRoles(config: Config): Record<string, string> {
  const simulators = embeddedSimulators(config.main).map((sim) => [sim.config.listen.port, `${sim.path.join('.')}.listen, the embedded simulator`]);
  return {
    ...Object.fromEntries(simulators),
    [config.main.http.listen.port]: 'http.listen',
    [config.main.smtp.listen.port]: 'smtp.listen',
  };
}
