import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { logFdOf, type Logger } from '../../core/log.js';
import { StorageError } from '../../core/errors.js';
import { packageRoot } from '../../core/paths.js';
import type { Clock } from '../../core/clock.js';
import { systemClock } from '../../core/clock.js';
import { LEDGER_METHODS, type Ledger } from '../types.js';
import { callFrame, createBatcher, methodIndex, RESULT_OK, RESULT_STORAGE_ERROR, type CallFrame, type CallMethod, type FromLedgerThread, type LedgerThreadOptions } from './thread-protocol.js';

export interface LedgerThread extends Ledger {
  /** Migrations the thread applied when it opened the database. */
  readonly migrations: { applied: string[]; version: number };
  /** Resolves if the thread dies; the daemon cannot store anything after that. */
  readonly failed: Promise<Error>;
}

const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/**
 * Calls whose commit waits for company anyway (the ledger's bookkeeping and
 * final writes: up to bookkeepingDelayMs), so their message may too.
 */
const BOOKKEEPING_CALLS: ReadonlySet<number> = new Set(
  (['recordSent', 'recordRetry', 'releaseClaim', 'recordUnknown', 'recordFailure', 'applyReceipt', 'markReported'] as const).map(methodIndex),
);

/**
 * Runs the SQLite ledger in its own thread and speaks to it through the same
 * Promise interface. Calls made in one turn of the event loop travel as one
 * message; results come back the same way.
 */
export function startLedgerThread(options: LedgerThreadOptions & { logger: Logger; clock?: Clock }): Promise<LedgerThread> {
  const { logger, clock = systemClock, ...threadOptions } = options;
  // Always the compiled file: a worker thread cannot load our TypeScript source.
  const script = join(packageRoot(), 'dist', 'src', 'ledger', 'sqlite', 'thread-entry.js');
  // Where the daemon's log is a file descriptor (stdout), the thread writes its own lines there; a test's in-memory log gets them as messages.
  const logFd = logFdOf(logger);
  const workerData: LedgerThreadOptions = { ...threadOptions, ...(logFd !== undefined ? { logFd } : {}) };
  const worker = new Worker(script, { workerData });

  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  const listeners: ((dueAt: number) => void)[] = [];
  let nextId = 1;
  // Calls made in the same task travel together; bookkeeping waits for the next turn and company.
  const post = createBatcher<CallFrame>((batch) => worker.postMessage(batch), (call) => BOOKKEEPING_CALLS.has(call[1]));
  let dead: Error | undefined;
  let closing = false;
  let markFailed: (error: Error) => void = () => undefined;
  const failed = new Promise<Error>((resolve) => (markFailed = resolve));

  function die(error: Error): void {
    if (dead) return;
    dead = error;
    for (const { reject } of pending.values()) reject(new StorageError(`ledger thread stopped: ${error.message}`, { cause: error }));
    pending.clear();
    if (!closing) markFailed(error);
  }

  function call<T>(method: CallMethod, args: unknown[]): Promise<T> {
    if (dead) return Promise.reject(new StorageError(`ledger thread stopped: ${dead.message}`));
    return new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      post(callFrame(id, method, clock.now(), args));
    });
  }

  return new Promise<LedgerThread>((resolve, reject) => {
    worker.on('message', (message: FromLedgerThread) => {
      switch (message.type) {
        case 'results':
          for (const [id, kind, value] of message.results) {
            const waiter = pending.get(id);
            if (!waiter) continue;
            pending.delete(id);
            if (kind === RESULT_OK) waiter.resolve(value);
            else waiter.reject(kind === RESULT_STORAGE_ERROR ? new StorageError(String(value)) : new Error(String(value)));
          }
          if (message.queued !== null) for (const listener of listeners) listener(message.queued);
          break;
        case 'log': {
          const { level, msg, time: _time, pid: _pid, hostname: _host, ...fields } = JSON.parse(message.line) as Record<string, unknown>;
          logger[LEVELS[level as number] ?? 'info'](fields, String(msg ?? ''));
          break;
        }
        case 'fatal':
          reject(new Error(`cannot open the ledger: ${message.error}`));
          void worker.terminate();
          break;
        case 'ready':
          resolve({
            migrations: { applied: message.applied, version: message.version },
            failed,
            ...proxyMethods(call),
            onQueued: (listener) => void listeners.push(listener),
            async close() {
              if (dead) return;
              closing = true;
              const exited = new Promise<void>((done) => worker.once('exit', () => done()));
              await call('close', []).catch(() => undefined);
              await exited;
            },
          });
          break;
      }
    });
    worker.on('error', (error) => {
      logger.fatal({ err: error }, 'ledger thread crashed');
      die(error);
      reject(error);
    });
    worker.on('exit', (code) => {
      die(new Error(`ledger thread exited (${code})`));
      reject(new Error(`ledger thread exited (${code}) before it was ready`));
    });
  });
}

/** One forwarding function per ledger method, from the one list of them. */
function proxyMethods(call: <T>(method: CallMethod, args: unknown[]) => Promise<T>): Omit<Ledger, 'onQueued' | 'close'> {
  return Object.fromEntries(LEDGER_METHODS.map((method) => [method, (...args: unknown[]) => call(method, args)])) as unknown as Omit<Ledger, 'onQueued' | 'close'>;
}
