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
 * without waiting for a later turn of the event loop.
 */
export function createBatcher<T>(post: (items: T[]) => void): (item: T) => void {
  let items: T[] = [];
  return (item) => {
    items.push(item);
    if (items.length > 1) return;
    queueMicrotask(() => {
      const batch = items;
      items = [];
      post(batch);
    });
  };
}
