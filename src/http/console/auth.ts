import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../../core/clock.js';
import { bearerGrant, findToken, scopesOf, type ApiToken, type Grant } from '../tokens.js';

/*
 * Who is reading the console: a bearer token, or a browser session made by
 * the login form from the same token list. A session remembers only which
 * token (its digest) logged in; every request looks the token up again, so
 * removing a token from http.tokens (and reloading) ends its sessions, and
 * changing its scopes applies at once. Sessions live in memory: a restart
 * logs everyone out, which is the safe direction.
 */

export const SESSION_COOKIE = 'mail2sms_console';

export interface ConsoleAuth {
  /** The reader's grant, from the Authorization header or the session cookie. */
  grantOf(headers: IncomingHttpHeaders): Grant | undefined;
  /** Checks a token typed into the login form; the session id to set as a cookie, or why not. */
  login(secret: string): { ok: true; sessionId: string; grant: Grant } | { ok: false; status: 401 | 403; error: string };
  /** The Set-Cookie value for a new session. */
  cookie(sessionId: string): string;
}

export interface ConsoleAuthDeps {
  tokens(): readonly ApiToken[];
  clock: Clock;
  /** Set the Secure attribute: the console is reached over HTTPS (http.public_url). */
  secure(): boolean;
  ttlMs?: number;
  maxSessions?: number;
}

export function cookieValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  for (const part of (headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

export function createConsoleAuth(deps: ConsoleAuthDeps): ConsoleAuth {
  const ttlMs = deps.ttlMs ?? 8 * 3_600_000;
  const maxSessions = deps.maxSessions ?? 1000;
  // Insertion order is age order: the oldest goes first when the map is full.
  const sessions = new Map<string, { sha256: string; expires: number }>();

  function fromSession(headers: IncomingHttpHeaders): Grant | undefined {
    const id = cookieValue(headers, SESSION_COOKIE);
    const session = id ? sessions.get(id) : undefined;
    if (!id || !session) return undefined;
    if (session.expires <= deps.clock.now()) {
      sessions.delete(id);
      return undefined;
    }
    const token = deps.tokens().find((t) => t.sha256 === session.sha256);
    return token ? { name: token.name, sha256: token.sha256, scopes: scopesOf(token) } : undefined;
  }

  return {
    grantOf: (headers) => (headers.authorization ? bearerGrant(headers, deps.tokens()) : fromSession(headers)),
    login(secret) {
      const grant = secret ? findToken(secret.trim(), deps.tokens()) : undefined;
      if (!grant) return { ok: false, status: 401, error: 'unknown token' };
      if (!grant.scopes.has('console')) return { ok: false, status: 403, error: `token ${grant.name} has no console scope` };
      if (sessions.size >= maxSessions) sessions.delete(sessions.keys().next().value as string);
      const sessionId = randomBytes(32).toString('base64url');
      sessions.set(sessionId, { sha256: grant.sha256, expires: deps.clock.now() + ttlMs });
      return { ok: true, sessionId, grant };
    },
    cookie(sessionId) {
      return `${SESSION_COOKIE}=${sessionId}; Path=/console; HttpOnly; SameSite=Strict${deps.secure() ? '; Secure' : ''}`;
    },
  };
}
