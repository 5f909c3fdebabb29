import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { TokenScope } from '../config/schema.js';

/*
 * The bearer tokens of http.tokens and what each may do. One list serves
 * POST /sends and the console; a token's scopes decide which. Only digests are
 * configured, so a leaked config file grants nothing.
 */

export interface ApiToken {
  name: string;
  sha256: string;
  scopes?: readonly TokenScope[];
}

/** A token entry that matched, with the scopes it grants. */
export interface Grant {
  name: string;
  sha256: string;
  scopes: ReadonlySet<TokenScope>;
}

/** Absent scopes mean what every token meant before there were scopes: POST /sends only. */
export function scopesOf(token: ApiToken): ReadonlySet<TokenScope> {
  const scopes = new Set<TokenScope>(token.scopes ?? ['sends']);
  // Seeing full numbers is reading the console, with more shown.
  if (scopes.has('console:pii')) scopes.add('console');
  return scopes;
}

/** The entry whose digest matches the secret, or undefined. Compares every digest in constant time. */
export function findToken(secret: string, tokens: readonly ApiToken[]): Grant | undefined {
  const given = createHash('sha256').update(secret).digest();
  let found: ApiToken | undefined;
  for (const token of tokens) {
    if (timingSafeEqual(given, Buffer.from(token.sha256, 'hex'))) found = token;
  }
  return found ? { name: found.name, sha256: found.sha256, scopes: scopesOf(found) } : undefined;
}

/** The grant of the request's `Authorization: Bearer` token, or undefined. */
export function bearerGrant(headers: IncomingHttpHeaders, tokens: readonly ApiToken[]): Grant | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '');
  return match ? findToken(match[1] as string, tokens) : undefined;
}
