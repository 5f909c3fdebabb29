/*
 * The ledger's own thread. SQLite commits (and their fsync) block whatever
 * thread runs them; here they block only this one. While one commit is on its
 * way to disk, new writes queue up in this thread's message port and the next
 * turn commits them all together: group commit that sizes itself to the disk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { systemClock } from '../clock.js';
import { migrate, openDatabase } from './db.js';
import { createSqliteLedger } from './sqlite.js';
import type { Ledger } from './types.js';
import type { CallRequest, CallResult, FromLedgerThread, LedgerThreadOptions } from './thread-protocol.js';

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
    minCommitIntervalMs: 0,
  });
  ledger.onQueued(() => send({ type: 'queued' }));

  let results: CallResult[] = [];
  let posting = false;
  const reply = (result: CallResult) => {
    results.push(result);
    if (posting) return;
    posting = true;
    // A commit resolves all its writes in one microtask checkpoint: one message back.
    queueMicrotask(() => {
      posting = false;
      const batch = results;
      results = [];
      send({ type: 'results', results: batch });
    });
  };

  const methods = ledger as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  port.on('message', (calls: CallRequest[]) => {
    for (const call of calls) {
      if (call.method === 'close') {
        void ledger.close().then(() => {
          send({ type: 'results', results: [...results, { id: call.id, ok: true, value: undefined }] });
          port.close();
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
