import { readFileSync } from 'node:fs';
import { CliFailure } from './common.js';
import { EXIT } from './exit.js';

/** A CSV or NDJSON file given on the command line ('-' = standard input): its text, and which of the two it is. */
export function readInputFile(file: string): { text: string; format: 'csv' | 'ndjson' } {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new CliFailure(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, EXIT.dataErr);
  }
  return { text, format: /\.(nd)?jsonl?$/i.test(file) || /^\s*\{/.test(text) ? 'ndjson' : 'csv' };
}
