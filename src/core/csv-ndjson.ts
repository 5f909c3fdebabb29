/*
 * Bulk import and export files: CSV (RFC 4180, as spreadsheets write it) and
 * NDJSON. An admin fixing a 100 000-line file needs line numbers that match
 * their editor, so every row and every error carries the physical line on
 * which its record starts. CSV is read by csv-parse and written by
 * csv-stringify; the line numbers come from the byte offsets csv-parse
 * reports per record (its own `info.lines` counts a CRLF inside quotes twice).
 */

import { parse, CsvError } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

export interface TabularError {
  /** 1-based physical line (a record spanning lines is reported at its first). */
  line: number;
  message: string;
}

export interface CsvRow {
  line: number;
  /** Column name → value. A prototype-free object: a column may be called "__proto__". */
  fields: Record<string, string>;
}

export type CsvResult =
  | { ok: true; header: string[]; rows: CsvRow[] }
  | { ok: false; errors: TabularError[] };

export interface NdjsonRow {
  line: number;
  value: Record<string, unknown>;
}

export type NdjsonResult = { ok: true; rows: NdjsonRow[] } | { ok: false; errors: TabularError[] };

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BOM = 0xfeff;

/** Line breaks in bytes[from, to): CRLF, LF and a lone CR each count one. */
function countLineBreaks(bytes: Buffer, from: number, to: number): number {
  let count = 0;
  for (let k = from; k < to; k++) {
    const c = bytes[k];
    if (c === LF || (c === CR && bytes[k + 1] !== LF)) count++;
  }
  return count;
}

/**
 * Where each record starts, in physical lines: csv-parse calls `onRecord` in
 * order with the byte offset just past the record (its delimiter included);
 * the gap before a record holds the empty lines it skipped.
 */
function createLineTracker(bytes: Buffer) {
  let end = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0; // past the BOM, then past the last record
  let line = 1; // the line at `end`
  const firstByteAfter = (offset: number) => {
    let k = offset;
    while (bytes[k] === LF || bytes[k] === CR) k++;
    return k;
  };
  return {
    /** The next record (or the one that failed): its first byte and line. */
    next(): { start: number; line: number } {
      const start = firstByteAfter(end);
      return { start, line: line + countLineBreaks(bytes, end, start) };
    },
    /** The line on which `offset` (not before the next record) lies. */
    lineAt(offset: number): number {
      return line + countLineBreaks(bytes, end, offset);
    },
    advance(to: number): void {
      line += countLineBreaks(bytes, end, to);
      end = to;
    },
  };
}

/**
 * csv-parse runs with relax_quotes so that a quote inside an unquoted field
 * (5" screen) is kept, as spreadsheets do; but that also lets text after a
 * closing quote ("x"y) through as a literal. A record holding a quote is
 * therefore checked against its source: each field must be there verbatim,
 * or quoted and escaped. Returns the 1-based number of the first field that
 * is not, with its byte offset.
 */
function misquotedField(bytes: Buffer, start: number, fields: string[]): { field: number; offset: number } | undefined {
  let pos = start;
  for (let i = 0; i < fields.length; i++) {
    const value = fields[i] as string;
    const source = bytes[pos] === QUOTE ? `"${value.replaceAll('"', '""')}"` : value;
    const length = Buffer.byteLength(source);
    const after = bytes[pos + length];
    const ends = i === fields.length - 1 ? after === undefined || after === LF || after === CR : after === 0x2c;
    if (!ends || bytes.toString('utf8', pos, pos + length) !== source) return { field: i + 1, offset: pos };
    pos += length + 1;
  }
  return undefined;
}

/**
 * Reads CSV records with the line each starts on. Stops at the first
 * structural error (an unclosed quote or text after a closing quote):
 * nothing after it can be trusted to be where the author meant. Empty lines
 * are skipped.
 */
function readRecords(text: string, onRecord: (fields: string[], line: number) => void): TabularError | undefined {
  const bytes = Buffer.from(text, 'utf8');
  const lines = createLineTracker(bytes);
  let structural: TabularError | undefined;
  try {
    parse(bytes, {
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true, // ragged rows are all reported below, not only the first
      relax_quotes: true,
      record_delimiter: ['\r\n', '\n', '\r'], // mixed line ends, as concatenated exports have
      on_record(record: string[], info) {
        if (structural) return null;
        const { start, line } = lines.next();
        const quote = bytes.indexOf(QUOTE, start);
        const misquoted = quote !== -1 && quote < info.bytes ? misquotedField(bytes, start, record) : undefined;
        if (misquoted) {
          structural = { line: lines.lineAt(misquoted.offset), message: `field ${misquoted.field}: text after the closing quote (a quote inside a quoted field is written "")` };
          return null;
        }
        lines.advance(info.bytes);
        onRecord(record, line);
        return null; // nothing is kept by csv-parse: rows are built as they come
      },
    });
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    return structural ?? parseFailure(error, lines);
  }
  return structural;
}

/** csv-parse's error, with the line an editor shows for it. */
function parseFailure(error: CsvError, lines: ReturnType<typeof createLineTracker>): TabularError {
  if (error.code === 'CSV_QUOTE_NOT_CLOSED') {
    // csv-parse names the end of the file; the author needs where the quote opened.
    const column = typeof error.column === 'number' ? error.column : 0;
    const record = lines.next();
    // Past the first field, `bytes` is the comma before the field that is still open.
    const opened = column === 0 ? record.line : lines.lineAt(error.bytes as number);
    return { line: opened, message: `field ${column + 1}: the quoted field opened on line ${opened} is never closed` };
  }
  return { line: typeof error.lines === 'number' ? error.lines : lines.next().line, message: error.message };
}

/**
 * RFC 4180 CSV with a header line: quoted fields, doubled quotes, CRLF or LF,
 * line breaks inside quotes (the row keeps the line it starts on), a leading
 * BOM ignored, empty lines skipped. Header names are trimmed and must be
 * unique and non-empty. Every row with the wrong number of fields is
 * reported, not only the first.
 */
export function parseCsv(text: string): CsvResult {
  let header: string[] | undefined;
  const rows: CsvRow[] = [];
  const errors: TabularError[] = [];
  const structural = readRecords(text, (fields, line) => {
    if (!header) {
      header = fields.map((name) => name.trim());
      const seen = new Set<string>();
      header.forEach((name, i) => {
        if (!name) errors.push({ line, message: `column ${i + 1} has no name in the header` });
        else if (seen.has(name)) errors.push({ line, message: `column "${name}" appears twice in the header` });
        seen.add(name);
      });
      return;
    }
    if (fields.length !== header.length) {
      errors.push({ line, message: `${fields.length} field${fields.length === 1 ? '' : 's'}, but the header has ${header.length}` });
      return;
    }
    const record: Record<string, string> = Object.create(null);
    for (let k = 0; k < fields.length; k++) record[header[k] as string] = fields[k] as string;
    rows.push({ line, fields: record });
  });
  if (structural) errors.push(structural);
  if (!header) return { ok: false, errors: [{ line: 1, message: 'the file is empty: expected a header line' }] };
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, header, rows };
}

/**
 * Newline-delimited JSON: one object per line, blank lines skipped, CRLF and
 * a leading BOM accepted. Every bad line is reported.
 */
export function parseNdjson(text: string): NdjsonResult {
  const rows: NdjsonRow[] = [];
  const errors: TabularError[] = [];
  const n = text.length;
  let i = text.charCodeAt(0) === BOM ? 1 : 0;
  for (let line = 1; i < n; line++) {
    let end = text.indexOf('\n', i);
    if (end === -1) end = n;
    const raw = text.slice(i, end);
    i = end + 1;
    const source = raw.trim();
    if (!source) continue;
    let value: unknown;
    try {
      value = JSON.parse(source);
    } catch (error) {
      errors.push({ line, message: `not JSON: ${(error as Error).message}` });
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      errors.push({ line, message: `expected a JSON object, found ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}` });
      continue;
    }
    rows.push({ line, value: value as Record<string, unknown> });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, rows };
}

/**
 * CSV for exports (RFC 4180: CRLF line ends, quotes only where needed, and
 * around values with leading or trailing spaces so spreadsheets keep them).
 * A row's missing keys are empty fields; keys not in the header are left out.
 */
export function toCsv(header: readonly string[], rows: Iterable<Readonly<Record<string, string | number | boolean | null | undefined>>>): string {
  const text = (value: string | number | boolean | null | undefined) => (value === null || value === undefined ? '' : String(value));
  const records = [[...header]];
  for (const row of rows) records.push(header.map((name) => text(Object.hasOwn(row, name) ? row[name] : undefined)));
  return stringify(records, {
    record_delimiter: '\r\n',
    quoted_match: /^\s|\s$/,
    // An empty line would be skipped on reading: a one-column file writes an empty value as "".
    quoted_empty: header.length === 1,
  });
}
