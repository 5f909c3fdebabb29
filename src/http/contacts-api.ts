import type { IncomingHttpHeaders } from 'node:http';
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js/max';
import type { Config } from '../config/load.js';
import { contactCountry } from '../intake/contact-rows.js';
import type { Ledger } from '../ledger/types.js';
import { bearerGrant } from './tokens.js';
import { parseContactsOffThread } from './contacts-parse.js';

/*
 * PUT /contacts?source=members[&country=DK]: a full sync of one source from a
 * members' system, as CSV (text/csv) or NDJSON (application/x-ndjson). The body
 * is the whole truth for that source: contacts not in it are removed. Bearer
 * token as for POST /sends (scope `sends`); all or nothing, with the line of the first 100 bad rows
 * and their count. One import at a time: a second gets 409.
 */

const SOURCE = /^[\w.@:-]{1,100}$/;
/** Problems listed in a 400 (their count is always given). */
const MAX_ERRORS = 100;
const BUSY: [number, Record<string, unknown>] = [409, { error: 'another contacts import is running; send this one when it has finished' }];

/**
 * The endpoint and its gate: one import at a time (a second gets 409, before
 * its body is read when it can be told then), its body parsed off the main
 * thread (src/http/contacts-parse.ts) and handed to the ledger as one buffer.
 */
export function createContactsEndpoint(deps: { ledger: Pick<Ledger, 'importContacts'>; getConfig(): Config; parse?: typeof parseContactsOffThread }) {
  const parse = deps.parse ?? parseContactsOffThread;
  let importing = false;

  const handle = async (headers: IncomingHttpHeaders, raw: string, query: URLSearchParams): Promise<[number, Record<string, unknown>]> => {
    const config = deps.getConfig();
    const tokens = config.main.http.tokens;
    if (tokens.length === 0) return [403, { error: 'no API tokens are configured (http.tokens)' }];
    const grant = bearerGrant(headers, tokens);
    if (!grant) return [401, { error: 'missing or unknown bearer token' }];
    // The same tokens as POST /sends: a token without scopes means "sends", and a console-only token may not write.
    if (!grant.scopes.has('sends')) return [403, { error: `token ${grant.name} has no "sends" scope` }];
    const source = query.get('source') ?? 'default';
    if (!SOURCE.test(source)) return [400, { error: `source "${source}" must be 1-100 letters, digits or . _ @ : -` }];
    const countryParam = query.get('country')?.toUpperCase();
    if (countryParam !== undefined && !isSupportedCountry(countryParam)) return [400, { error: `country "${countryParam}" is not an ISO 3166 country code` }];
    const type = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const format = type === 'text/csv' ? 'csv' : type === 'application/x-ndjson' || type === 'application/ndjson' ? 'ndjson' : undefined;
    if (!format) return [415, { error: 'send text/csv (with a header row) or application/x-ndjson' }];
    if (importing) return BUSY;
    importing = true;
    try {
      const country = contactCountry(config, countryParam as CountryCode | undefined);
      const parsed = await parse({ raw, format, groups: config.main.groups, country, maxErrors: MAX_ERRORS });
      if (!parsed.ok && parsed.kind === 'table') return [400, { error: `invalid ${format === 'csv' ? 'CSV' : 'NDJSON'}; nothing was imported`, errors: parsed.errors }];
      if (!parsed.ok) return [400, { error: `${parsed.count} invalid row(s); nothing was imported`, errors: parsed.errors }];
      const result = await deps.ledger.importContacts(source, { encoded: parsed.encoded }, true);
      return [200, { source, ...result, client: grant.name }];
    } finally {
      importing = false;
    }
  };

  return {
    handle,
    /** For the route's authorize step: a second import is refused before its body is read. */
    busy: (): [number, Record<string, unknown>] | undefined => (importing ? BUSY : undefined),
  };
}
