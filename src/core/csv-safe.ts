/*
 * CSV injection (OWASP "CSV Injection"): a cell a spreadsheet would read as a
 * formula (starting with =, +, -, @, a tab or a carriage return) is written
 * with a leading single quote, so it shows as text and never runs. A value
 * that is only a number (an E.164 number such as +4520123456, a count) is no
 * formula and is left as it is.
 */

const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?\d+(\.\d+)?$/;

export function csvSafe<T>(value: T): T | string {
  if (typeof value !== 'string' || !FORMULA_START.test(value) || PLAIN_NUMBER.test(value)) return value;
  return `'${value}`;
}

/** Every string field of an export record made safe for a spreadsheet. */
export function csvSafeRecord<T extends Record<string, unknown>>(record: T): T {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, csvSafe(value)])) as T;
}
