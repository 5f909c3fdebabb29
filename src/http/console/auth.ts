import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../../core/clock.js';
import { createRateCounter } from '../../core/rate-counter.js';
import { bearerGrant, findToken, scopesOf, type ApiToken, type Grant } from '../tokens.js';

/*
 * Who is reading the console: a bearer token, or a browser session made by
 * the login form from the same token list. A session remembers only which
 * token (its digest) logged in; every request looks the token up again, so
 * removing a token from http.tokens (and reloading) ends its sessions, and
 * changing its scopes applies at once. Sessions live in memory: a restart
 * logs everyone out, which is the safe direction.
 *
 * Logins are limited per client address and per token (a minute's window),
 * and a token's sessions are capped: a flood of logins with one token
 * replaces that token's oldest sessions, never another token's (issue 25:
 * a console-only token used to evict every other user's session).
 */

export const SESSION_COOKIE = 'mail2sms_console';

export interface ConsoleAuth {
  /** The reader's grant, from the Authorization header or the session cookie. */
  grantOf(headers: IncomingHttpHeaders): Grant | undefined;
  /** Checks a token typed into the login form from `client` (its address); the session id to set as a cookie, or why not. */
  login(secret: string, client: string): LoginOutcome;
  /** The Set-Cookie value for a new session. */
  cookie(sessionId: string): string;
}

export type LoginOutcome =
  | { ok: true; sessionId: string; grant: Grant }
  | { ok: false; status: 401 | 403; error: string }
  /** Too many logins from this address or with this token this minute, or no room for a session: try again after `retryAfterS`. */
  | { ok: false; status: 429; error: string; retryAfterS: number };

export interface ConsoleAuthDeps {
  tokens(): readonly ApiToken[];
  clock: Clock;
  /** Set the Secure attribute: the console is reached over HTTPS (http.public_url). */
  secure(): boolean;
  ttlMs?: number;
  /** Sessions of all tokens together (default 1000). */
  maxSessions?: number;
  /** Sessions of one token; its oldest goes when it logs in once more (default 50). */
  maxSessionsPerToken?: number;
  /** Login attempts (right or wrong) from one address per minute (default 10). */
  loginsPerAddress?: number;
  /** Logins with one token per minute, from any address (default 10). */
  loginsPerToken?: number;
}

const LOGIN_WINDOW_MS = 60_000;

export function cookieValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  for (const part of (headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

export function createConsoleAuth(deps: ConsoleAuthDeps): ConsoleAuth {
  const ttlMs = deps.ttlMs ?? 8 * 3_600_000;
  const limits = {
    sessions: deps.maxSessions ?? 1000, perToken: deps.maxSessionsPerToken ?? 50,
    perAddress: deps.loginsPerAddress ?? 10, loginsPerToken: deps.loginsPerToken ?? 10,
  };
  // Insertion order is age order: a token's oldest session is the first of its own in the map.
  const sessions = new Map<string, { sha256: string; expires: number }>();
  const attemptsByAddress = createRateCounter(LOGIN_WINDOW_MS);
  const loginsByToken = createRateCounter(LOGIN_WINDOW_MS);
  const tooMany = (error: string) => ({ ok: false as const, status: 429 as const, error, retryAfterS: LOGIN_WINDOW_MS / 1000 });

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

  /** Room for one more session of `sha256`: its own oldest goes, expired ones go; false when only others' live sessions fill the table. */
  function makeRoom(sha256: string, now: number): boolean {
    const own = [...sessions].filter(([, s]) => s.sha256 === sha256).map(([id]) => id);
    if (own.length >= limits.perToken) sessions.delete(own[0] as string);
    if (sessions.size < limits.sessions) return true;
    for (const [id, s] of sessions) if (s.expires <= now) sessions.delete(id);
    if (sessions.size < limits.sessions) return true;
    if (own.length === 0) return false;
    sessions.delete(own.find((id) => sessions.has(id)) as string);
    return true;
  }

  return {
    grantOf: (headers) => (headers.authorization ? bearerGrant(headers, deps.tokens()) : fromSession(headers)),
    login(secret, client) {
      const now = deps.clock.now();
      // Every attempt counts, right or wrong: guessing tokens is as limited as flooding with one.
      if (attemptsByAddress.hit(client, now) > limits.perAddress) return tooMany('too many logins from this address; wait a minute');
      const grant = secret ? findToken(secret.trim(), deps.tokens()) : undefined;
      if (!grant) return { ok: false, status: 401, error: 'unknown token' };
      if (!grant.scopes.has('console')) return { ok: false, status: 403, error: `token ${grant.name} has no console scope` };
      if (loginsByToken.hit(grant.sha256, now) > limits.loginsPerToken) return tooMany(`too many logins with token ${grant.name}; wait a minute`);
      if (!makeRoom(grant.sha256, now)) return tooMany('too many console sessions; wait for some to expire');
      const sessionId = randomBytes(32).toString('base64url');
      sessions.set(sessionId, { sha256: grant.sha256, expires: now + ttlMs });
      return { ok: true, sessionId, grant };
    },
    cookie(sessionId) {
      return `${SESSION_COOKIE}=${sessionId}; Path=/console; HttpOnly; SameSite=Strict${deps.secure() ? '; Secure' : ''}`;
    },
  };
}
