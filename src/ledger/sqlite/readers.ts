import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { StorageError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { packageRoot } from '../../core/paths.js';
import { createReadGate, type ReadGate } from '../read-gate.js';
import type { FromReaderThread, ReaderMethod, ReaderThreadOptions, ToReaderThread } from './thread-protocol.js';
import type { ConsoleReads, LedgerReads } from '../read-gate.js';

/*
 * The console's reads on SQLite, off the ledger thread. A console page used
 * to run in the ledger thread between group commits, so four readers of a
 * deep page held every DATA's commit behind them (issue 25: 18.9–25.2 s).
 * Here each read runs in a reader thread on its own connection (WAL: readers
 * never wait for the writer, nor it for them); the gate bounds how many run
 * and wait, and refuses the rest with a 503. Threads start on the first page
 * asked for, so a daemon whose console is off never starts one.
 */

export interface LedgerReadersOptions {
  path: string;
  logger: Logger;
  /** Reader threads (and reads at once); default 2, or 1 on a machine of two cores (one stays free for intake). */
  readers?: number;
  /** Reads that may wait for a reader; the next is refused (503). Default 16. */
  maxWaiting?: number;
}

interface Reader {
  call(method: ReaderMethod, args: unknown[]): Promise<unknown>;
  alive(): boolean;
  close(): Promise<void>;
}

export function startLedgerReaders(options: LedgerReadersOptions): LedgerReads {
  const gate: ReadGate = createReadGate({ slots: options.readers ?? defaultReaders(), maxWaiting: options.maxWaiting ?? 16 });
  const idle: Reader[] = [];
  const started: Promise<Reader>[] = [];
  let closed = false;

  // The gate lets no more reads through than there are readers, so a read finds one idle or starts one.
  function take(): Promise<Reader> {
    const reader = idle.pop();
    if (reader) return Promise.resolve(reader);
    const starting = startReader(options.path, options.logger);
    started.push(starting);
    return starting;
  }

  function read<T>(method: ReaderMethod, args: unknown[]): Promise<T> {
    if (closed) return Promise.reject(new StorageError('the console readers are closed'));
    return gate.run(async () => {
      const reader = await take();
      try {
        return (await reader.call(method, args)) as T;
      } finally {
        // A reader that died is left behind; the next read starts another.
        if (reader.alive() && !closed) idle.push(reader);
      }
    });
  }

  return {
    consoleQuery: (query) => read('consoleQuery', [query]),
    mailStatus: (queueId) => read('mailStatus', [queueId]),
    async close() {
      closed = true;
      const readers = await Promise.allSettled(started);
      await Promise.all(readers.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
    },
  };
}

/** Two readers, but never so many that they and the ledger thread could take every core from SMTP intake. */
export const defaultReaders = () => Math.max(1, Math.min(2, availableParallelism() - 1));

/** One reader thread, ready to read. */
function startReader(path: string, logger: Logger): Promise<Reader> {
  // Always the compiled file: a worker thread cannot load our TypeScript source.
  const script = join(packageRoot(), 'dist', 'src', 'ledger', 'sqlite', 'reader-thread.js');
  const workerData: ReaderThreadOptions = { path };
  const worker = new Worker(script, { workerData });
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextId = 1;
  let dead: Error | undefined;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));

  function stop(error: Error): void {
    dead ??= error;
    for (const waiter of pending.values()) waiter.reject(new StorageError(`console reader stopped: ${error.message}`, { cause: error }));
    pending.clear();
  }

  function post(message: ToReaderThread): Promise<unknown> {
    if (dead) return Promise.reject(new StorageError(`console reader stopped: ${dead.message}`));
    return new Promise((resolve, reject) => {
      pending.set(message.id, { resolve, reject });
      worker.postMessage(message);
    });
  }

  const reader: Reader = {
    call: (method, args) => post({ id: nextId++, method, args }),
    alive: () => dead === undefined,
    async close() {
      // The thread closes its connection and ends itself: terminating it mid-read could abort the process (better-sqlite3 on Node 24).
      await post({ id: nextId++, method: 'close' }).catch(() => undefined);
      await exited;
    },
  };

  return new Promise<Reader>((resolve, reject) => {
    worker.on('message', (message: FromReaderThread) => {
      if (message.type === 'ready') return resolve(reader);
      if (message.type === 'fatal') {
        stop(new Error(message.error));
        reject(new StorageError(`cannot open a console reader on the ledger: ${message.error}`));
        return void worker.terminate();
      }
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.ok) waiter?.resolve(message.value);
      else waiter?.reject(new StorageError(message.error));
    });
    worker.on('error', (error) => {
      logger.error({ err: error }, 'console reader thread crashed; the next page starts another');
      stop(error);
      reject(error);
    });
    worker.on('exit', (code) => {
      stop(new Error(`reader thread exited (${code})`));
      reject(new StorageError(`console reader exited (${code}) before it was ready`));
    });
  });
}
