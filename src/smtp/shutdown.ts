import type { SMTPServer } from 'smtp-server';
import { refusal } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { replyError } from './replies.js';
import type { Sessions } from './session.js';

/** On shutdown, how long a client in the middle of a transaction may take to finish it before a 421. */
export const SHUTDOWN_GRACE_MS = 10_000;

type SmtpConnection = SMTPServer['connections'] extends Set<infer C> ? C : never;

const SHUTTING_DOWN = refusal('shutting_down', 'Service shutting down; try again later');

/**
 * SIGTERM for the SMTP intake: stop listening, say goodbye to idle clients at
 * once, give those in a transaction up to SHUTDOWN_GRACE_MS to finish it (a new
 * MAIL FROM meanwhile is refused), then the 421 for whoever is left. Each 421
 * is `421 4.3.2 … [ref]` (smtp-server's own says only "Server shutting down").
 */
export function createShutdown(deps: { sessions: Sessions; logger: Logger }) {
  let stopping = false;

  function sayGoodbye(connection: SmtpConnection): void {
    connection.send(421, replyError(SHUTTING_DOWN, deps.sessions.refOf(connection.session)).message);
  }

  return {
    /** The refusal for a MAIL FROM while shutting down; undefined while running. */
    refusal: () => (stopping ? SHUTTING_DOWN : undefined),
    async shutDown(smtp: SMTPServer): Promise<void> {
      stopping = true;
      smtp.server.close();
      const idle = (connection: SmtpConnection) => !connection.session.envelope?.mailFrom;
      const idleNow = [...smtp.connections].filter(idle);
      const busy = smtp.connections.size - idleNow.length;
      idleNow.forEach(sayGoodbye);
      deps.logger.info({ idleClosed: idleNow.length, busy, graceMs: SHUTDOWN_GRACE_MS }, 'smtp: not accepting mail; idle clients closed, busy ones may finish');
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (smtp.connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      for (const connection of smtp.connections) sayGoodbye(connection);
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    },
  };
}
