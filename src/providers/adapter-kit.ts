import { createHash, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { ReceiptStatus } from '../ledger/types.js';
import type { ReceiptInterim, WebhookRefusal, WebhookRequest } from './types.js';

/*
 * What the named provider adapters (twilio/, vonage/, gatewayapi/, inmobile/)
 * share: their deps, the shape of their status tables, form and query parsing,
 * and constant-time comparison. Each adapter's own contract stays in its folder.
 */

export interface AdapterDeps {
  /** The provider's name in the config (`twilio-us`): names it in logs and reasons. */
  name: string;
  clock: Clock;
  /** Upper bound of concurrent connections to the provider. */
  maxSockets: number;
}

/** Our statuses a provider status maps to: the ledger's final ones, plus `sent` (on its way) and `unknown` (the provider does not know). */
export type OurStatus = ReceiptStatus | 'sent' | 'unknown';

/** One row of an adapter's status table (the docs print these). */
export interface StatusRow {
  /** The provider's status as it sends it. */
  provider: string;
  ours: OurStatus;
  /** What the provider means by it, in a few words. */
  meaning: string;
}

export type StatusTable = readonly StatusRow[];

/** The row for a provider status; exact match first, then case-insensitive. */
export function statusRow(table: StatusTable, providerStatus: string): StatusRow | undefined {
  return table.find((row) => row.provider === providerStatus) ?? table.find((row) => row.provider.toLowerCase() === providerStatus.toLowerCase());
}

/** A callback that changes nothing in the ledger: answered 200 so the provider does not retry it. */
export function interim(ours: 'sent' | 'unknown', reason: string): ReceiptInterim {
  return { ok: false, status: 200, reason, interim: ours };
}

export function refuse<S extends 400 | 403>(status: S, reason: string): { ok: false; status: S; reason: string } {
  return { ok: false, status, reason };
}

/** application/x-www-form-urlencoded (or a query string) as name → every value, in order. */
export function formFields(raw: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(raw)) {
    const values = fields.get(name);
    if (values) values.push(value);
    else fields.set(name, [value]);
  }
  return fields;
}

/** The first value of a form field, undefined when absent or empty. */
export function field(fields: Map<string, string[]>, name: string): string | undefined {
  const value = fields.get(name)?.[0];
  return value === undefined || value === '' ? undefined : value;
}

/** The query string of the URL a webhook came to ('' when there is none). */
export function queryOf(request: WebhookRequest | undefined): string {
  if (!request) return '';
  const at = request.url.indexOf('?');
  return at < 0 ? '' : request.url.slice(at + 1);
}

/** First value of a header (node gives repeated ones as arrays). */
export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/**
 * Constant-time equality of two secrets of any length: their SHA-256 digests
 * are compared, so neither the content nor the length leaks through timing.
 */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** Constant-time equality of two MACs as bytes; false when their lengths differ (a length is no secret). */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `{ ok: false, status: 400, reason }` for a callback this provider is not set up to verify. */
export function notConfigured(what: string): WebhookRefusal {
  return { ok: false, status: 400, reason: what };
}

/** A positive integer from a provider's string or number field. */
export function positiveInt(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** A price from a provider's decimal string or number; undefined when absent, unreadable or without a currency. */
export function priceOf(amount: unknown, currency: unknown): { amount: number; currency: string } | undefined {
  const n = typeof amount === 'number' ? amount : typeof amount === 'string' && amount.trim() !== '' ? Number(amount) : NaN;
  if (!Number.isFinite(n) || typeof currency !== 'string' || !/^[A-Za-z]{3}$/.test(currency)) return undefined;
  return { amount: Math.abs(n), currency: currency.toUpperCase() };
}
