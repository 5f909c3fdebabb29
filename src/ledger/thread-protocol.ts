/** Messages between the daemon and the ledger thread (src/threads/ledger-thread.ts). */

export interface LedgerThreadOptions {
  path: string;
  bookkeepingDelayMs: number;
  /** How long a receipt for an id not known yet stays parked before the provider is told 404. */
  receiptGraceMs?: number;
  logLevel: string;
  /** The daemon's log file descriptor: the thread logs there itself, rather than posting each line to be parsed and logged again. */
  logFd?: number;
}

export interface CallRequest {
  id: number;
  method: string;
  args: unknown[];
  /** The caller's clock when the call was made: tests' clocks reach the thread. */
  now: number;
}

export type CallResult =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string; storage: boolean };

export type FromLedgerThread =
  | { type: 'ready'; applied: string[]; version: number }
  | { type: 'fatal'; error: string }
  | { type: 'results'; results: CallResult[] }
  | { type: 'queued' }
  | { type: 'log'; line: string };

/**
 * Collects items pushed during one task and hands them over as one array at
 * the end of it (a microtask): one message per task instead of one per item,
 * without waiting for a later turn of the event loop. Items nobody waits on at
 * once (`lazy`: bookkeeping whose commit waits for company anyway) wait for
 * the next turn instead, so those of many tasks (each receipt is its own HTTP
 * request) share one message; an urgent item takes them along sooner.
 */
export function createBatcher<T>(post: (items: T[]) => void, lazy: (item: T) => boolean = () => false): (item: T) => void {
  let items: T[] = [];
  let soon = false;
  let later = false;
  const flush = () => {
    soon = false;
    if (items.length === 0) return;
    const batch = items;
    items = [];
    post(batch);
  };
  return (item) => {
    items.push(item);
    if (soon) return;
    if (!lazy(item)) {
      soon = true;
      queueMicrotask(flush);
    } else if (!later) {
      later = true;
      setImmediate(() => {
        later = false;
        flush();
      });
    }
  };
}
