import type { IncomingHttpHeaders } from 'node:http';
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js/max';
import type { Config } from '../config/load.js';
import { parseTable } from '../core/file-rows.js';
import { contactCountry, readContactRows } from '../intake/contact-rows.js';
import type { Ledger } from '../ledger/types.js';
import { bearerGrant } from './tokens.js';

/*
 * PUT /contacts?source=members[&country=DK]: a full sync of one source from a
 * members' system, as CSV (text/csv) or NDJSON (application/x-ndjson). The body
 * is the whole truth for that source: contacts not in it are removed. Bearer
 * token as for POST /sends (scope `sends`); all or nothing, with the line of every bad row.
 */

const SOURCE = /^[\w.@:-]{1,100}$/;

export function createContactsEndpoint(deps: { ledger: Pick<Ledger, 'importContacts'>; getConfig(): Config }) {
  return async (headers: IncomingHttpHeaders, raw: string, query: URLSearchParams): Promise<[number, Record<string, unknown>]> => {
    const config = deps.getConfig();
    const tokens = config.main.http.tokens;
    if (tokens.length === 0) return [403, { error: 'no API tokens are configured (http.tokens)' }];
    const grant = bearerGrant(headers, tokens);
    if (!grant) return [401, { error: 'missing or unknown bearer token' }];
    // The same tokens as POST /sends: a token without scopes means "sends", and a console-only token may not write.
    if (!grant.scopes.has('sends')) return [403, { error: `token ${grant.name} has no "sends" scope` }];
    const client = grant.name;
    const source = query.get('source') ?? 'default';
    if (!SOURCE.test(source)) return [400, { error: `source "${source}" must be 1-100 letters, digits or . _ @ : -` }];
    const countryParam = query.get('country')?.toUpperCase();
    if (countryParam !== undefined && !isSupportedCountry(countryParam)) return [400, { error: `country "${countryParam}" is not an ISO 3166 country code` }];

    const type = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const format = type === 'text/csv' ? 'csv' : type === 'application/x-ndjson' || type === 'application/ndjson' ? 'ndjson' : undefined;
    if (!format) return [415, { error: 'send text/csv (with a header row) or application/x-ndjson' }];
    const table = parseTable(raw, format);
    if (!table.ok) return [400, { error: `invalid ${format === 'csv' ? 'CSV' : 'NDJSON'}; nothing was imported`, errors: table.errors.slice(0, 100) }];
    const rows = readContactRows(table.rows, config, contactCountry(config, countryParam as CountryCode | undefined));
    if (!rows.ok) return [400, { error: `${rows.errors.length} invalid row(s); nothing was imported`, errors: rows.errors.slice(0, 100) }];
    const result = await deps.ledger.importContacts(source, rows.contacts, true);
    return [200, { source, ...result, client }];
  };
}
