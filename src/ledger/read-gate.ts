import { ReadersBusyError } from '../core/errors.js';
import type { Ledger } from './types.js';

/** What the console reads: on connections of their own (sqlite/readers.ts, postgres/reads.ts), never intake's. */
export type ConsoleReads = Pick<Ledger, 'consoleQuery' | 'mailStatus'>;

export interface LedgerReads extends ConsoleReads {
  close(): Promise<void>;
}

/*
 * Bounded concurrency for the console's reads: at most `slots` run at once
 * (one per reader connection), at most `maxWaiting` more wait their turn, and
 * the next is refused at once (ReadersBusyError, a 503) instead of piling up.
 * Shared by both backends: SQLite's reader threads (readers.ts) and
 * PostgreSQL's console pool (postgres/reads.ts).
 */

export interface ReadGateOptions {
  slots: number;
  maxWaiting: number;
}

export interface ReadGate {
  run<T>(read: () => Promise<T>): Promise<T>;
  /** Reads running and waiting now (for tests and the log). */
  load(): { running: number; waiting: number };
}

export function createReadGate(options: ReadGateOptions): ReadGate {
  let running = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    // The slot passes straight to the next in line: `running` stays as it is.
    if (next) next();
    else running--;
  };
  return {
    async run(read) {
      if (running < options.slots) running++;
      else if (waiting.length < options.maxWaiting) await new Promise<void>((resolve) => waiting.push(resolve));
      else throw new ReadersBusyError(`${running} console reads run and ${waiting.length} wait; try again shortly`);
      try {
        return await read();
      } finally {
        release();
      }
    },
    load: () => ({ running, waiting: waiting.length }),
  };
}
