/*
 * The ledger's own thread. SQLite commits (and their fsync) block whatever
 * thread runs them; here they block only this one. While one commit is on its
 * way to disk, new writes queue up in this thread's message port and the next
 * turn commits them all together: group commit that sizes itself to the disk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { systemClock } from '../core/clock.js';
import { migrate, openDatabase } from './db.js';
import { createSqliteLedger } from './sqlite.js';
import type { Ledger } from './types.js';
import { createBatcher, type CallRequest, type CallResult, type FromLedgerThread, type LedgerThreadOptions } from './thread-protocol.js';

const port = parentPort;
if (!port) throw new Error('thread-main must run as a worker thread');
const options = workerData as LedgerThreadOptions;

const send = (message: FromLedgerThread) => port.postMessage(message);
const logger = pino({ level: options.logLevel, base: { stage: 'ledger' } }, { write: (line: string) => send({ type: 'log', line }) });

try {
  const db = openDatabase(options.path);
  const report = migrate(db);
  const ledger = createSqliteLedger({
    db,
    clock: systemClock,
    logger,
    bookkeepingDelayMs: options.bookkeepingDelayMs,
    ...(options.receiptGraceMs !== undefined ? { receiptGraceMs: options.receiptGraceMs } : {}),
  });
  ledger.onQueued(() => send({ type: 'queued' }));

  // A commit resolves all its writes in one microtask checkpoint: one message back.
  const reply = createBatcher<CallResult>((results) => send({ type: 'results', results }));

  const methods = ledger as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  port.on('message', (calls: CallRequest[]) => {
    for (const call of calls) {
      if (call.method === 'close') {
        void ledger.close().then(() => {
          reply({ id: call.id, ok: true, value: undefined });
          // After every queued reply (they go out in microtasks) has been posted.
          setImmediate(() => port.close());
        });
        return;
      }
      const method = methods[call.method];
      if (typeof method !== 'function' || call.method === 'onQueued') {
        reply({ id: call.id, ok: false, error: `unknown ledger method ${call.method}`, storage: false });
        continue;
      }
      method.apply(ledger, call.args).then(
        (value) => reply({ id: call.id, ok: true, value }),
        (error: Error) => reply({ id: call.id, ok: false, error: error.message, storage: error.name === 'StorageError' }),
      );
    }
  });
  send({ type: 'ready', applied: report.applied, version: report.version });
} catch (error) {
  send({ type: 'fatal', error: (error as Error).message });
}
