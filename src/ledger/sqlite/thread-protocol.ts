/** Messages between the daemon and the ledger thread (thread-entry.ts). */
import { LEDGER_METHODS } from '../types.js';

export interface LedgerThreadOptions {
  path: string;
  bookkeepingDelayMs: number;
  /** How long a receipt for an id not known yet stays parked before the provider is told 404. */
  receiptGraceMs?: number;
  logLevel: string;
  /** The daemon's log file descriptor: the thread logs there itself, rather than posting each line to be parsed and logged again. */
  logFd?: number;
}

/** What a call may name: every ledger method, and closing the thread. */
export const CALL_METHODS = [...LEDGER_METHODS, 'close'] as const;
export type CallMethod = (typeof CALL_METHODS)[number];
const METHOD_INDEX: ReadonlyMap<string, number> = new Map(CALL_METHODS.map((method, i) => [method, i]));

/**
 * One call as it travels: [id, the method's index in CALL_METHODS, the
 * caller's clock when the call was made (tests' clocks reach the thread),
 * the arguments]. An array, not an object: a structured clone writes every
 * object's keys out again, and a batch carries thousands of calls a second.
 */
export type CallFrame = [id: number, method: number, now: number, args: unknown[]];

export const RESULT_OK = 0;
export const RESULT_ERROR = 1;
/** The error was a StorageError (the daemon maps it to a temporary failure). */
export const RESULT_STORAGE_ERROR = 2;
/** One answer: [id, RESULT_OK, value] or [id, RESULT_ERROR | RESULT_STORAGE_ERROR, message]. */
export type ResultFrame = [id: number, kind: typeof RESULT_OK, value: unknown] | [id: number, kind: typeof RESULT_ERROR | typeof RESULT_STORAGE_ERROR, error: string];

export function methodIndex(method: CallMethod): number {
  return METHOD_INDEX.get(method) as number;
}

export function callFrame(id: number, method: CallMethod, now: number, args: unknown[]): CallFrame {
  return [id, methodIndex(method), now, args];
}

/** The method a frame names, or undefined for an index no method has (a newer or older peer). */
export function methodOf(frame: CallFrame): CallMethod | undefined {
  return CALL_METHODS[frame[1]];
}

export type FromLedgerThread =
  | { type: 'ready'; applied: string[]; version: number }
  | { type: 'fatal'; error: string }
  /** Answers of one commit; `queued`: when the earliest SMS it queued is due (dispatch looks for due rows), null if it queued none. */
  | { type: 'results'; results: ResultFrame[]; queued: number | null }
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

/*
 * The console's reader threads (src/ledger/sqlite/reader-thread.ts): each answers
 * one read at a time on a connection of its own, never the ledger thread's.
 */

export interface ReaderThreadOptions {
  path: string;
}

/** The reads a reader thread answers: what the console asks of the ledger. */
export const READER_METHODS = ['consoleQuery', 'mailStatus'] as const;
export type ReaderMethod = (typeof READER_METHODS)[number];

export type ToReaderThread = { id: number; method: ReaderMethod; args: unknown[] } | { id: number; method: 'close' };

export type FromReaderThread =
  | { type: 'ready' }
  | { type: 'fatal'; error: string }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: string };
