/** Messages between the daemon and the ledger thread (src/ledger/thread-main.ts). */

export interface LedgerThreadOptions {
  path: string;
  bookkeepingDelayMs: number;
  logLevel: string;
}

export interface CallRequest {
  id: number;
  method: string;
  args: unknown[];
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
