import type { CountryCode } from 'libphonenumber-js/max';
import type { Config } from '../config/load.js';
import { ALL_GROUP, type MainConfig } from '../config/schema.js';
import type { TableRow } from '../core/file-rows.js';
import type { ContactInput } from '../ledger/types.js';
import { isFieldName } from '../message/merge.js';
import { parseRecipientNumber } from '../numbers/parse.js';

/*
 * A contacts file (CSV with a header, or NDJSON) as the CLI import and
 * PUT /contacts read it: `number` required, `id` optional (else the number),
 * `groups` the fixed groups separated by `;`, every other column a merge
 * field. All or nothing: every bad row is reported with its line.
 */

export interface RowProblem {
  line: number;
  message: string;
}

export type ContactRows = { ok: true; contacts: ContactInput[] } | { ok: false; errors: RowProblem[] };

const RESERVED = new Set(['number', 'id', 'groups']);

/**
 * The country of numbers written without a country code: the one given, else
 * the default_country every setup shares (none when they differ).
 */
export function contactCountry(config: Config, given: CountryCode | undefined): CountryCode | undefined {
  if (given) return given;
  const countries = new Set(config.setups.map((s) => s.default_country));
  return countries.size === 1 ? ([...countries][0] as CountryCode) : undefined;
}

function text(value: unknown): string | undefined | { problem: string } {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return { problem: `is ${Array.isArray(value) ? 'a list' : 'an object'}; give text` };
}

function readNumber(raw: string, country: CountryCode | undefined): string | { problem: string } {
  const international = /^(\+|00)/.test(raw.replace(/[\s().-]/g, ''));
  if (!international && !country) return { problem: `number: "${raw}" has no country code; write +<country code><number> or give the country` };
  const parsed = parseRecipientNumber(raw, country ?? 'DK');
  return parsed.ok ? parsed.e164 : { problem: `number: ${parsed.detail}` };
}

function readGroups(raw: string | undefined, declared: MainConfig['groups']): string[] | { problem: string } {
  if (raw === undefined) return [];
  const names = [...new Set(raw.split(';').map((g) => g.trim().toLowerCase()).filter(Boolean))];
  for (const name of names) {
    if (name === ALL_GROUP) return { problem: 'groups: "all" is built in (every contact); list only fixed groups' };
    const group = declared[name];
    if (!Object.hasOwn(declared, name) || !group) {
      const names = Object.keys(declared);
      return { problem: `groups: unknown group "${name}" (declared: ${names.length ? names.join(', ') : 'none'})` };
    }
    if (group.where) return { problem: `groups: "${name}" is a dynamic group (where: ...); its members come from their fields, not from this column` };
  }
  return names;
}

/** One row, or the problem that stops it. */
function readRow(row: TableRow, groupsDeclared: MainConfig['groups'], country: CountryCode | undefined, badNames: Set<string>): ContactInput | string {
  const number = text(row.fields.number);
  if (number === undefined) return 'number: missing';
  if (typeof number !== 'string') return `number ${number.problem}`;
  const e164 = readNumber(number, country);
  if (typeof e164 !== 'string') return e164.problem;
  const id = text(row.fields.id);
  if (id !== undefined && typeof id !== 'string') return `id ${id.problem}`;
  const groupsCell = text(row.fields.groups);
  if (groupsCell !== undefined && typeof groupsCell !== 'string') return `groups ${groupsCell.problem}`;
  const groups = readGroups(groupsCell, groupsDeclared);
  if (!Array.isArray(groups)) return groups.problem;
  const fields: Record<string, string> = {};
  for (const [name, raw] of Object.entries(row.fields)) {
    if (RESERVED.has(name)) continue;
    if (!isFieldName(name)) {
      if (badNames.has(name)) continue;
      badNames.add(name);
      return `column "${name}" is not a field name (letters, digits, _ and -, starting with a letter or _)`;
    }
    const value = text(raw);
    if (value === undefined) continue; // an empty cell keeps no value: the field is missing for this contact
    if (typeof value !== 'string') return `${name} ${value.problem}`;
    fields[name] = value;
  }
  return { id: id ?? e164, number: e164, groups, fields };
}

/** The id of a row that has another problem, when it can be told: its id cell, else its number. */
function idOf(row: TableRow, country: CountryCode | undefined): string | undefined {
  const id = text(row.fields.id);
  if (typeof id === 'string') return id;
  if (id !== undefined) return undefined;
  const number = text(row.fields.number);
  const e164 = typeof number === 'string' ? readNumber(number, country) : undefined;
  return typeof e164 === 'string' ? e164 : undefined;
}

/** Every row checked against the declared groups (config.main.groups); all or nothing. */
export function readContactRows(rows: readonly TableRow[], groups: MainConfig['groups'], country: CountryCode | undefined): ContactRows {
  const contacts: ContactInput[] = [];
  const errors: RowProblem[] = [];
  const firstLine = new Map<string, number>();
  const badNames = new Set<string>();
  for (const row of rows) {
    const read = readRow(row, groups, country, badNames);
    if (typeof read === 'string') errors.push({ line: row.line, message: read });
    // A row with another problem still has its id: a later row with the same one is reported in this pass too.
    const id = typeof read === 'string' ? idOf(row, country) : read.id;
    const twin = id === undefined ? undefined : firstLine.get(id);
    if (twin !== undefined) {
      errors.push({ line: row.line, message: `duplicate id "${id}" (first on line ${twin})${text(row.fields.id) === undefined ? '; without an id column the number is the id' : ''}` });
      continue;
    }
    if (id !== undefined) firstLine.set(id, row.line);
    if (typeof read !== 'string') contacts.push(read);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, contacts };
}
