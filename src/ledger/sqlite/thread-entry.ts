/*
 * The SQLite ledger thread's entry (startLedgerThread in thread.ts loads its
 * compiled file; it is wiring, like daemon.ts, and the one ledger file that
 * imports a stage: dispatch's claim policy, which cannot cross to a thread as
 * a function). SQLite commits (and their
 * fsync) block whatever thread runs them; here they block only this one.
 * While one commit is on its way to disk, new writes queue up in this thread's
 * message port and the next turn commits them all together: group commit that
 * sizes itself to the disk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import type { Clock } from '../../core/clock.js';
import { createLogger, flushLogSync } from '../../core/log.js';
import { createClaimPolicy } from '../../dispatch/claim-policy.js';
import { migrate, openDatabase } from './db.js';
import { createSqliteLedger } from './ledger.js';
import { LEDGER_METHODS, type Ledger } from '../types.js';
import {
  createBatcher,
  methodOf,
  RESULT_ERROR,
  RESULT_OK,
  RESULT_STORAGE_ERROR,
  type CallFrame,
  type FromLedgerThread,
  type LedgerThreadOptions,
  type ResultFrame,
} from './thread-protocol.js';

const port = parentPort;
if (!port) throw new Error('ledger-thread must run as a worker thread');
const options = workerData as LedgerThreadOptions;

const send = (message: FromLedgerThread) => port.postMessage(message);
const logger =
  options.logFd !== undefined
    ? // Few lines, and none on the hot path: each is written as it comes (no minLength), flushed when the ledger closes.
      createLogger({ level: options.logLevel, fd: options.logFd, bindings: { stage: 'ledger' }, minLength: 0 })
    : pino({ level: options.logLevel, base: { stage: 'ledger' } }, { write: (line: string) => send({ type: 'log', line }) });

// The daemon's clock, carried with each call: the ledger reads it while the call is made.
let callTime = Date.now();
const callClock: Clock = { now: () => callTime };
const methods = new Set<string>(LEDGER_METHODS);

function serve(ledger: Ledger): void {
  // A commit resolves all its writes in one microtask checkpoint: one message back, which also says whether it queued SMS (and when due).
  let queued: number | null = null;
  const reply = createBatcher<ResultFrame>((results) => {
    send({ type: 'results', results, queued });
    queued = null;
  });
  ledger.onQueued((dueAt) => {
    queued = Math.min(queued ?? dueAt, dueAt);
    // Its answers go out in this turn's microtasks and carry the news; a commit that answered none says it on its own.
    setImmediate(() => {
      if (queued === null) return;
      send({ type: 'results', results: [], queued });
      queued = null;
    });
  });
  const table = ledger as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  port!.on('message', (calls: CallFrame[]) => {
    for (const call of calls) {
      const [id, , now, args] = call;
      const method = methodOf(call);
      if (method === 'close') {
        void ledger.close().then(() => {
          flushLogSync(logger);
          reply([id, RESULT_OK, undefined]);
          // After every queued reply (they go out in microtasks) has been posted.
          setImmediate(() => port!.close());
        });
        return;
      }
      if (method === undefined || !methods.has(method)) {
        reply([id, RESULT_ERROR, `unknown ledger method ${method ?? `#${call[1]}`}`]);
        continue;
      }
      callTime = now;
      (table[method] as (...args: unknown[]) => Promise<unknown>).apply(ledger, args).then(
        (value) => reply([id, RESULT_OK, value]),
        (error: Error) => reply([id, error.name === 'StorageError' ? RESULT_STORAGE_ERROR : RESULT_ERROR, error.message]),
      );
    }
  });
}

try {
  const db = openDatabase(options.path);
  const report = migrate(db);
  const ledger = createSqliteLedger({
    db,
    clock: callClock,
    logger,
    claimPolicy: createClaimPolicy(),
    bookkeepingDelayMs: options.bookkeepingDelayMs,
    ...(options.receiptGraceMs !== undefined ? { receiptGraceMs: options.receiptGraceMs } : {}),
  });
  serve(ledger);
  send({ type: 'ready', applied: report.applied, version: report.version });
} catch (error) {
  send({ type: 'fatal', error: (error as Error).message });
}
