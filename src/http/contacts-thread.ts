/*
 * Parses and checks one PUT /contacts body in its own thread (wiring, like
 * ledger-thread.ts): CSV or NDJSON parsing and a libphonenumber parse per row
 * cost seconds for 100 000 rows, which on the daemon's main thread would stall
 * every SMTP session meanwhile. The contacts go back as one UTF-8 JSON buffer
 * (transferred, not cloned object by object), the problems as the first 100.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CountryCode } from 'libphonenumber-js/max';
import type { MainConfig } from '../config/schema.js';
import { parseTable } from '../core/file-rows.js';
import { readContactRows } from '../intake/contact-rows.js';
import type { ContactsParseInput, ContactsParseResult } from '../http/contacts-parse.js';

const port = parentPort;
if (!port) throw new Error('contacts-thread must run as a worker thread');
const input = workerData as ContactsParseInput;

function parse(): ContactsParseResult {
  const table = parseTable(input.raw, input.format);
  if (!table.ok) return { ok: false, kind: 'table', count: table.errors.length, errors: table.errors.slice(0, input.maxErrors) };
  const rows = readContactRows(table.rows, input.groups as MainConfig['groups'], input.country as CountryCode | undefined);
  if (!rows.ok) return { ok: false, kind: 'rows', count: rows.errors.length, errors: rows.errors.slice(0, input.maxErrors) };
  // Its own ArrayBuffer (a small Buffer would share Node's pool, which cannot be transferred).
  return { ok: true, count: rows.contacts.length, encoded: new TextEncoder().encode(JSON.stringify(rows.contacts)) };
}

const result = parse();
port.postMessage(result, result.ok ? [result.encoded.buffer as ArrayBuffer] : []);
