import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/*
 * Receipt and inbound webhook signatures, Stripe style:
 *
 *   x-mail2sms-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">
 *
 * The timestamp is inside the MAC, so a captured request cannot be replayed
 * after the tolerance window, and cannot be re-dated without the secret.
 * Several v1= entries may be given (a sender rotating secrets); one match is enough.
 */

export const SIGNATURE_HEADER = 'x-mail2sms-signature';

/** How far a signature's timestamp may be from our clock, either way. */
export const DEFAULT_SIGNATURE_TOLERANCE_MS = 300_000;

export type SignatureFailure = 'missing' | 'malformed' | 'bad_signature' | 'too_old' | 'in_future';

export type SignatureCheck = { ok: true } | { ok: false; reason: SignatureFailure };

function mac(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** The header value for `body` signed at `nowMs`. */
export function signBody(secret: string, body: string, nowMs: number): string {
  const t = String(Math.floor(nowMs / 1000));
  return `t=${t},v1=${mac(secret, t, body)}`;
}

/** Checks a signature header on a body at a time (see createSignatureVerifier). */
export type SignatureVerifier = (body: string, header: string | string[] | undefined, nowMs: number, toleranceMs?: number) => SignatureCheck;

/**
 * A checker for one secret, made once per provider: the key is imported once
 * rather than for every receipt, and the MAC is compared as bytes (no hex
 * string made and parsed back per request).
 */
export function createSignatureVerifier(secret: string): SignatureVerifier {
  const key: KeyObject = createSecretKey(Buffer.from(secret, 'utf8'));
  return (body, header, nowMs, toleranceMs = DEFAULT_SIGNATURE_TOLERANCE_MS) => {
    const parsed = parseSignatureHeader(header);
    if ('reason' in parsed) return { ok: false, reason: parsed.reason };
    const expected = createHmac('sha256', key).update(`${parsed.timestamp}.${body}`, 'utf8').digest();
    const matches = parsed.signatures.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected));
    if (!matches) return { ok: false, reason: 'bad_signature' };
    const signedAt = Number(parsed.timestamp) * 1000;
    if (nowMs - signedAt > toleranceMs) return { ok: false, reason: 'too_old' };
    if (signedAt - nowMs > toleranceMs) return { ok: false, reason: 'in_future' };
    return { ok: true };
  };
}

/**
 * Checks a signature header. The MAC is checked before the time, so an
 * unsigned request learns nothing about our clock; the compare is timing-safe.
 */
export function verifySignature(
  secret: string,
  body: string,
  header: string | string[] | undefined,
  nowMs: number,
  toleranceMs: number = DEFAULT_SIGNATURE_TOLERANCE_MS,
): SignatureCheck {
  return createSignatureVerifier(secret)(body, header, nowMs, toleranceMs);
}

/**
 * What is wrong with a signature header on its own (absent, not our format),
 * checked before a webhook's body is read: a request that cannot be signed is
 * refused without reading what it sends. The MAC and the time need the body.
 */
export function signatureHeaderProblem(header: string | string[] | undefined): 'missing' | 'malformed' | undefined {
  const parsed = parseSignatureHeader(header);
  return 'reason' in parsed ? parsed.reason : undefined;
}

/** The header's timestamp and v1 signatures (each 64 hex digits), or why it is not one. */
function parseSignatureHeader(header: string | string[] | undefined): { timestamp: string; signatures: string[] } | { reason: 'missing' | 'malformed' } {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return { reason: 'missing' };
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const item of value.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return { reason: 'malformed' };
    const key = item.slice(0, eq).trim();
    const part = item.slice(eq + 1).trim();
    if (key === 't') timestamp = part;
    else if (key === 'v1') signatures.push(part);
    // Other schemes (v0, future versions) are ignored, as Stripe does.
  }
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0) return { reason: 'malformed' };
  if (signatures.some((s) => !/^[0-9a-f]{64}$/i.test(s))) return { reason: 'malformed' };
  return { timestamp, signatures };
}
