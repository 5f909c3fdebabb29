import type { SMTPServer, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/load.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';

/** The part of smtp-server's connection object we use to hang up on a client. */
interface Connection {
  session: SMTPServerSession;
  send(code: number, text: string): void;
  close(): void;
}

/** Longest window over which the DATA rate is measured. */
const DATA_RATE_WINDOW_MS = 10_000;

/**
 * Time limits beyond the idle timeout, which any byte resets: a whole
 * transaction (MAIL FROM to the end of DATA) has smtp.max_transaction_time, and
 * DATA must keep up smtp.min_data_rate. A client over either gets 421 4.4.2 and
 * is disconnected, so a trickle cannot hold a connection for ever.
 */
export function createTransactionTimers(deps: { server(): SMTPServer | undefined; logger: Logger; metrics: Metrics }) {
  const deadlines = new Map<string, NodeJS.Timeout>();

  function hangUp(session: SMTPServerSession, why: string): void {
    // smtp-server keeps its open connections in a Set its type declarations leave out.
    const connections = (deps.server() as unknown as { connections?: Set<Connection> } | undefined)?.connections;
    const connection = [...(connections ?? [])].find((c) => c.session?.id === session.id);
    if (!connection) return;
    deps.logger.info({ session: session.id, reason: why }, 'client too slow; disconnected');
    deps.metrics.inc('mail2sms_smtp_refusals_total', { reason: 'too_slow' });
    connection.send(421, `4.4.2 ${why}; closing connection`);
    connection.close();
  }

  function startTransaction(config: Config, session: SMTPServerSession): void {
    endTransaction(session);
    const limit = config.main.smtp.max_transaction_time;
    const timer = setTimeout(() => hangUp(session, `Transaction took longer than ${limit / 1000} s`), limit);
    timer.unref();
    deadlines.set(session.id, timer);
  }

  function endTransaction(session: SMTPServerSession): void {
    clearTimeout(deadlines.get(session.id));
    deadlines.delete(session.id);
  }

  /** Checks the DATA rate once per window until the stream ends. */
  function watchData(config: Config, stream: SMTPServerDataStream, session: SMTPServerSession): void {
    const { min_data_rate: rate, socket_timeout: idle } = config.main.smtp;
    const windowMs = Math.min(DATA_RATE_WINDOW_MS, idle);
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
    const timer = setInterval(() => {
      if (bytes * 1000 < rate * windowMs) {
        clearInterval(timer);
        hangUp(session, `DATA slower than ${rate} bytes/s`);
      }
      bytes = 0;
    }, windowMs);
    timer.unref();
    const stop = () => {
      clearInterval(timer);
      endTransaction(session);
    };
    stream.once('end', stop);
    stream.once('error', stop);
    stream.once('close', stop);
  }

  return { startTransaction, endTransaction, watchData };
}

export type TransactionTimers = ReturnType<typeof createTransactionTimers>;
