import { flushLogSync, type Logger } from '../core/log.js';
import { EXIT } from './exit.js';

/** Resolves with the exit code once SIGTERM/SIGINT stopped the service; SIGHUP reloads. A second signal exits at once. */
export function waitForSignals(handlers: { stop: () => Promise<void>; reload?: () => void }): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`mail2sms: second ${signal}, exiting now\n`);
        process.exit(EXIT.software);
      }
      stopping = true;
      const force = setTimeout(() => process.exit(EXIT.software), 30_000);
      force.unref();
      handlers.stop().then(() => resolve(EXIT.ok), () => resolve(EXIT.software));
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    if (handlers.reload) process.on('SIGHUP', handlers.reload);
  });
}

/**
 * A bug that escapes every handler ends the daemon (its state is unknown), but
 * not silently: the reason is the last line of the log, and the lines still
 * buffered for the asynchronous log are written before the process goes.
 */
export function exitOnUncaught(logger: Logger): void {
  process.on('uncaughtException', (error, origin) => {
    logger.fatal({ err: error, origin }, 'uncaught exception; exiting');
    flushLogSync(logger);
    process.exit(EXIT.software);
  });
}
