import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { sameBytes } from '../adapter-kit.js';

/*
 * The JWT GatewayAPI puts in X-Gwapi-Signature (RFC 7519, HS256 only):
 * base64url(header).base64url(payload).base64url(HMAC-SHA256(secret, header.payload)).
 * Its payload is the whole webhook, so the verified payload, not the body,
 * is what we read (as GatewayAPI's own PHP library does). Only HS256 is
 * accepted: "none" and the asymmetric algorithms are refused before any
 * MAC is computed, so an attacker cannot choose how we verify.
 */

export const GATEWAYAPI_SIGNATURE_HEADER = 'x-gwapi-signature';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;

export type JwtCheck = { ok: true; claims: Record<string, unknown> } | { ok: false; reason: 'missing' | 'malformed' | 'unsupported_algorithm' | 'bad_signature' | 'expired' };

/** What is wrong with the header on its own, before the body is read. */
export function jwtShapeProblem(token: string | undefined): 'missing' | 'malformed' | undefined {
  if (token === undefined || token === '') return 'missing';
  return JWT_SHAPE.test(token) ? undefined : 'malformed';
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A verifier for one secret (the key imported once). `exp`, when the token has one, is checked against `nowMs`. */
export function createJwtVerifier(secret: string): (token: string | undefined, nowMs: number) => JwtCheck {
  const key: KeyObject = createSecretKey(Buffer.from(secret, 'utf8'));
  return (token, nowMs) => {
    const problem = jwtShapeProblem(token);
    if (problem || token === undefined) return { ok: false, reason: problem ?? 'missing' };
    const [head = '', body = '', mac = ''] = token.split('.');
    const header = decodeJson(head);
    if (!header) return { ok: false, reason: 'malformed' };
    if (header.alg !== 'HS256') return { ok: false, reason: 'unsupported_algorithm' };
    const expected = createHmac('sha256', key).update(`${head}.${body}`).digest();
    if (!sameBytes(Buffer.from(mac, 'base64url'), expected)) return { ok: false, reason: 'bad_signature' };
    const claims = decodeJson(body);
    if (!claims) return { ok: false, reason: 'malformed' };
    if (typeof claims.exp === 'number' && claims.exp * 1000 < nowMs) return { ok: false, reason: 'expired' };
    return { ok: true, claims };
  };
}

/** An HS256 JWT of `claims` (the fakes and tests sign with it; GatewayAPI signs its own). */
export function signJwt(secret: string, claims: Record<string, unknown>): string {
  const head = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'HS256' })).toString('base64url');
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`;
}
