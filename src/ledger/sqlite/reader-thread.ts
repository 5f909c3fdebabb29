/*
 * One of the console's reader threads (wiring, like ledger-thread.ts). It
 * reads the ledger file on a connection of its own: a deep console page takes
 * this thread's time and no one else's, while the ledger thread goes on
 * committing mail (WAL lets readers and the writer work at once). One read at
 * a time; src/ledger/readers.ts hands out the reads and bounds how many wait.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createConsoleQueries } from './console-queries.js';
import { openReadConnection } from './db.js';
import { createQueueAdmin } from './admin.js';
import type { ConsoleQuery } from '../console-types.js';
import type { FromReaderThread, ReaderMethod, ReaderThreadOptions, ToReaderThread } from './thread-protocol.js';

const port = parentPort;
if (!port) throw new Error('reader-thread must run as a worker thread');
const options = workerData as ReaderThreadOptions;
const send = (message: FromReaderThread) => port.postMessage(message);

try {
  const db = openReadConnection(options.path);
  const consoleQueries = createConsoleQueries(db);
  const admin = createQueueAdmin(db);
  const reads: Record<ReaderMethod, (...args: unknown[]) => unknown> = {
    consoleQuery: (query) => consoleQueries.run(query as ConsoleQuery),
    mailStatus: (queueId) => admin.mailStatus(queueId as string),
  };
  port.on('message', (call: ToReaderThread) => {
    if (call.method === 'close') {
      db.close();
      send({ type: 'result', id: call.id, ok: true, value: undefined });
      port.close();
      return;
    }
    const read = Object.hasOwn(reads, call.method) ? reads[call.method] : undefined;
    try {
      if (!read) throw new Error(`unknown read ${String(call.method)}`);
      send({ type: 'result', id: call.id, ok: true, value: read(...call.args) });
    } catch (error) {
      send({ type: 'result', id: call.id, ok: false, error: (error as Error).message });
    }
  });
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'fatal', error: (error as Error).message });
}
