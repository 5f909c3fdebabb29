import { parseCsv, parseNdjson, type TabularError } from './csv-ndjson.js';

/** A record of a CSV or NDJSON file with its line, for messages that must name it. */
export interface TableRow {
  line: number;
  fields: Record<string, unknown>;
}

export type TableResult = { ok: true; rows: TableRow[] } | { ok: false; errors: TabularError[] };

/** CSV (header row) or NDJSON (one object per line) into the same rows. */
export function parseTable(text: string, format: 'csv' | 'ndjson'): TableResult {
  if (format === 'csv') return parseCsv(text);
  const parsed = parseNdjson(text);
  return parsed.ok ? { ok: true, rows: parsed.rows.map((row) => ({ line: row.line, fields: row.value })) } : parsed;
}
