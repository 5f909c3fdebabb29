/*
 * Bulk import and export files: CSV (RFC 4180, as spreadsheets write it) and
 * NDJSON. An admin fixing a 100 000-line file needs line numbers that match
 * their editor, so every row and every error carries the physical line on
 * which its record starts. One pass over the text with charCodeAt and
 * indexOf; no regular expression runs per character.
 */

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

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const BOM = 0xfeff;

/** Line breaks in text[from, to): CRLF, LF and a lone CR each count one. */
function countLineBreaks(text: string, from: number, to: number): number {
  let count = 0;
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c === LF || (c === CR && text.charCodeAt(k + 1) !== LF)) count++;
  }
  return count;
}

/**
 * Splits CSV text into records. Stops at the first structural error (an
 * unclosed quote or text after a closing quote): nothing after it can be
 * trusted to be where the author meant. Empty lines are skipped.
 */
function readRecords(text: string, onRecord: (fields: string[], line: number) => void): TabularError | undefined {
  const n = text.length;
  let i = text.charCodeAt(0) === BOM ? 1 : 0;
  let line = 1;
  while (i < n) {
    const first = text.charCodeAt(i);
    if (first === LF || first === CR) {
      i += first === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
      line++;
      continue;
    }
    const recordLine = line;
    const fields: string[] = [];
    for (;;) {
      if (i < n && text.charCodeAt(i) === QUOTE) {
        const fieldLine = line;
        let value = '';
        let start = ++i;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q === -1) return { line: fieldLine, message: `field ${fields.length + 1}: the quoted field opened on line ${fieldLine} is never closed` };
          line += countLineBreaks(text, i, q);
          if (text.charCodeAt(q + 1) === QUOTE) {
            value += text.slice(start, q + 1); // a doubled quote is one quote
            i = start = q + 2;
            continue;
          }
          value += text.slice(start, q);
          i = q + 1;
          break;
        }
        fields.push(value);
        const next = text.charCodeAt(i); // NaN at the end
        if (next === COMMA) {
          i++;
          continue;
        }
        if (i < n && next !== LF && next !== CR) {
          return { line, message: `field ${fields.length}: text after the closing quote (a quote inside a quoted field is written "")` };
        }
      } else {
        let j = i;
        while (j < n) {
          const c = text.charCodeAt(j);
          if (c === COMMA || c === LF || c === CR) break;
          j++;
        }
        // A quote inside an unquoted field (5" screen) is kept as it is, as spreadsheets do.
        fields.push(text.slice(i, j));
        i = j;
        if (text.charCodeAt(i) === COMMA) {
          i++;
          continue;
        }
      }
      // End of record: a line break or the end of the text.
      if (i < n) {
        i += text.charCodeAt(i) === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
        line++;
      }
      break;
    }
    onRecord(fields, recordLine);
  }
  return undefined;
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

const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

function cell(value: string | number | boolean | null | undefined, onlyColumn: boolean): string {
  const text = value === null || value === undefined ? '' : String(value);
  // An empty line would be skipped on reading: a one-column file writes an empty value as "".
  if (NEEDS_QUOTES.test(text) || (onlyColumn && text === '')) return `"${text.replaceAll('"', '""')}"`;
  return text;
}

/**
 * CSV for exports (RFC 4180: CRLF line ends, quotes only where needed, and
 * around values with leading or trailing spaces so spreadsheets keep them).
 * A row's missing keys are empty fields; keys not in the header are left out.
 */
export function toCsv(header: readonly string[], rows: Iterable<Readonly<Record<string, string | number | boolean | null | undefined>>>): string {
  const onlyColumn = header.length === 1;
  const lines = [header.map((name) => cell(name, onlyColumn)).join(',')];
  for (const row of rows) lines.push(header.map((name) => cell(Object.hasOwn(row, name) ? row[name] : undefined, onlyColumn)).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
