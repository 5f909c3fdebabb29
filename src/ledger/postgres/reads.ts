import { StorageError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { createReadGate } from '../read-gate.js';
import type { LedgerReads } from '../read-gate.js';
import { createPgQueueAdmin } from './admin.js';
import { createPgConsole } from './console.js';
import { createPgPool, describeTarget } from './pool.js';

/*
 * The console's reads on PostgreSQL, on a pool of their own. They used to
 * share the ledger's pool with intake: enough slow pages at once held every
 * connection, and a DATA waited for one. This pool has `readers` connections,
 * every transaction on it READ ONLY; the gate (../read-gate.ts) bounds the
 * reads that wait and refuses the rest with a 503, as on SQLite.
 */

export const CONSOLE_APPLICATION_NAME = 'mail2sms console';

export interface PostgresReadsOptions {
  url: string;
  logger: Logger;
  readers?: number;
  maxWaiting?: number;
}

export function startPostgresReads(options: PostgresReadsOptions): LedgerReads {
  // The reads run in the database server, not here: two connections whatever this machine's cores.
  const readers = options.readers ?? 2;
  const target = describeTarget(options.url);
  const pool = createPgPool(options.url, readers, (error) => options.logger.warn({ err: error, database: target }, 'an idle console connection failed; it is replaced'), {
    readOnly: true,
    // How pg_stat_activity tells these connections from intake's ('mail2sms').
    applicationName: CONSOLE_APPLICATION_NAME,
  });
  const gate = createReadGate({ slots: readers, maxWaiting: options.maxWaiting ?? 16 });
  const consoleQuery = createPgConsole(pool);
  const admin = createPgQueueAdmin(pool);
  const read = <T>(what: string, fn: () => Promise<T>) =>
    gate.run(() =>
      fn().catch((error: unknown) => {
        throw new StorageError(`${what}: ${(error as Error).message}`, { cause: error });
      }),
    );
  return {
    consoleQuery: (query) => read(`console ${query.kind}`, () => consoleQuery(query)),
    mailStatus: (queueId) => read('mail status', () => admin.mailStatus(queueId)),
    close: () => pool.end(),
  };
}
