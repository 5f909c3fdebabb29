import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../core/paths.js';
import type { RowProblem } from '../intake/contact-rows.js';
import type { TabularError } from '../core/csv-ndjson.js';

/*
 * PUT /contacts parses its body in a worker thread (src/http/contacts-thread.ts),
 * so 100 000 rows do not stall SMTP sessions on the main event loop. One
 * worker per import; the endpoint runs one import at a time, which bounds the
 * memory to one body and its parse.
 */

export interface ContactsParseInput {
  raw: string;
  format: 'csv' | 'ndjson';
  /** config.main.groups: the groups a row may name. */
  groups: Readonly<Record<string, unknown>>;
  /** The country of numbers written without a country code, if any. */
  country: string | undefined;
  /** Problems sent back at most (their count is always given). */
  maxErrors: number;
}

export type ContactsParseResult =
  | { ok: true; count: number; encoded: Uint8Array }
  | { ok: false; kind: 'table'; count: number; errors: TabularError[] }
  | { ok: false; kind: 'rows'; count: number; errors: RowProblem[] };

/** Parses and checks a contacts body off the main thread; a parse that takes longer than `timeoutMs` is stopped. */
export function parseContactsOffThread(input: ContactsParseInput, timeoutMs = 300_000): Promise<ContactsParseResult> {
  // Always the compiled file: a worker thread cannot load our TypeScript source.
  const worker = new Worker(join(packageRoot(), 'dist', 'src', 'http', 'contacts-thread.js'), { workerData: input });
  return new Promise<ContactsParseResult>((resolve, reject) => {
    const timer = setTimeout(() => settle(() => reject(new Error(`parsing the contacts took longer than ${timeoutMs / 1000} s; stopped`))), timeoutMs);
    const settle = (then: () => void) => {
      clearTimeout(timer);
      void worker.terminate();
      then();
    };
    worker.once('message', (result: ContactsParseResult) => settle(() => resolve(result)));
    worker.once('error', (error) => settle(() => reject(error)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the contacts parser exited (${code}) without an answer`))));
  });
}
