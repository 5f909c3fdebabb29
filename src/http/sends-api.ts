import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type { ExternalSend, ReportedChannel } from '../ledger/consent.js';
import { REPORTED_CHANNELS } from '../ledger/consent.js';
import type { Ledger } from '../ledger/types.js';
import { parseRecipientNumber } from '../numbers/parse.js';
import { parseInstant } from '../core/units.js';
import { parseTable, type TableRow } from '../core/file-rows.js';
import { bearerGrant, type ApiToken } from './tokens.js';

/*
 * POST /sends: other systems (a campaign tool, an automation) report the SMS
 * they sent, so the organisation-wide cooldown and caps count them. Bearer
 * token from http.tokens; JSON (one object or an array), NDJSON or CSV; all
 * or nothing, with the line of every bad row.
 */

const sendRecord = z.strictObject({
  number: z.string().min(1),
  at: z.union([z.string(), z.number()]).optional(),
  channel: z.enum(REPORTED_CHANNELS).optional(),
  ref: z.string().min(1).max(200).optional(),
  purpose: z.string().min(1).max(64).optional(),
});

/** How far ahead of our clock a reported send may be (config limits.clock_skew). */
export const DEFAULT_MAX_SKEW_MS = 5 * 60_000;

function readAt(value: string | number | undefined, now: number, maxSkewMs: number): number | string {
  if (value === undefined || value === '') return now;
  const at = parseInstant(value);
  if (at === undefined) return `"${value}" is not an RFC 3339 time with a zone`;
  // A send "in 2030" would silence alerts to the number for years.
  if (at > now + maxSkewMs) return `"${value}" is in the future (more than ${Math.round(maxSkewMs / 1000)} s ahead of this server's clock); report sends when they happen`;
  return at;
}

export type SendsResult = [number, Record<string, unknown>];

/** The token check of POST /sends from the headers alone, so a caller without one never gets a body byte read. */
export function authorizeSends(tokens: () => readonly ApiToken[]) {
  return (headers: IncomingHttpHeaders): SendsResult | undefined => {
    const configured = tokens();
    if (configured.length === 0) return [403, { error: 'no API tokens are configured (http.tokens)' }];
    const grant = bearerGrant(headers, configured);
    if (!grant) return [401, { error: 'missing or unknown bearer token' }];
    if (!grant.scopes.has('sends')) return [403, { error: `token ${grant.name} has no "sends" scope` }];
    return undefined;
  };
}

export function createSendsEndpoint(deps: { ledger: Ledger; tokens(): readonly ApiToken[]; now(): number; maxSkewMs?: number }) {
  return async (headers: IncomingHttpHeaders, raw: string): Promise<SendsResult> => {
    const tokens = deps.tokens();
    if (tokens.length === 0) return [403, { error: 'no API tokens are configured (http.tokens)' }];
    const grant = bearerGrant(headers, tokens);
    if (!grant) return [401, { error: 'missing or unknown bearer token' }];
    if (!grant.scopes.has('sends')) return [403, { error: `token ${grant.name} has no "sends" scope` }];
    const client = grant.name;

    const type = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    let rows: TableRow[];
    if (type === 'text/csv' || type === 'application/x-ndjson' || type === 'application/ndjson') {
      const parsed = parseTable(raw, type === 'text/csv' ? 'csv' : 'ndjson');
      if (!parsed.ok) return [400, { error: `invalid ${type === 'text/csv' ? 'CSV' : 'NDJSON'}`, errors: parsed.errors.slice(0, 100) }];
      rows = parsed.rows;
    } else if (type === 'application/json') {
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        return [400, { error: 'body is not JSON' }];
      }
      const list: unknown[] = Array.isArray(body) ? body : [body];
      const notObject = list.findIndex((fields) => typeof fields !== 'object' || fields === null || Array.isArray(fields));
      if (notObject !== -1) return [400, { error: `record ${notObject + 1} is ${JSON.stringify(list[notObject])}, not an object; nothing was recorded` }];
      rows = list.map((fields, i) => ({ line: i + 1, fields: fields as Record<string, unknown> }));
    } else {
      return [415, { error: 'send application/json, application/x-ndjson or text/csv' }];
    }

    const now = deps.now();
    const sends: ExternalSend[] = [];
    const errors: { line: number; message: string }[] = [];
    for (const row of rows) {
      // CSV cells are strings; an empty optional cell means "not given".
      const fields = Object.fromEntries(Object.entries(row.fields).filter(([, v]) => v !== '' && v !== null));
      const parsed = sendRecord.safeParse(fields);
      if (!parsed.success) {
        errors.push({ line: row.line, message: parsed.error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; ') });
        continue;
      }
      const record = parsed.data;
      const number = record.number.replace(/[\s().-]/g, '');
      const e164 = /^(\+|00)/.test(number) ? parseRecipientNumber(number, 'DK') : undefined;
      if (!e164?.ok) {
        errors.push({ line: row.line, message: `number: "${record.number}" is not an international number (+<country code><number>)` });
        continue;
      }
      const at = readAt(record.at, now, deps.maxSkewMs ?? DEFAULT_MAX_SKEW_MS);
      if (typeof at === 'string') {
        errors.push({ line: row.line, message: `at: ${at}` });
        continue;
      }
      sends.push({
        recipient: e164.e164,
        at,
        channel: (record.channel ?? 'api') as ReportedChannel,
        ...(record.ref ? { ref: record.ref } : {}),
        ...(record.purpose ? { purpose: record.purpose } : {}),
      });
    }
    if (errors.length > 0) return [400, { error: `${errors.length} invalid record(s); nothing was recorded`, errors: errors.slice(0, 100) }];
    const result = await deps.ledger.recordExternalSends(sends);
    return [200, { ...result, client }];
  };
}
