import { createHash, createHmac } from 'node:crypto';
import { DEFAULT_SIGNATURE_TOLERANCE_MS } from '../../core/signing.js';
import { sameBytes } from '../adapter-kit.js';

/*
 * Vonage's signed SMS API webhooks (delivery receipts and inbound SMS):
 * https://developer.vonage.com/en/getting-started/concepts/signing-messages
 *
 * The webhook's parameters carry `timestamp` (unix seconds), `nonce` and
 * `sig`. The signed text is every parameter but `sig`, sorted by name, as
 * `&name=value` with any `&` or `=` in a value replaced by `_`. Then
 *   md5hash:              hex MD5 of (text + signature secret)   (the dashboard's default)
 *   md5/sha1/sha256/sha512: hex HMAC of text keyed by the signature secret
 * Vonage's libraries print the HMACs in upper case and md5hash in lower, so
 * the hex is compared case-insensitively (as bytes). The timestamp is inside
 * the signature: one older (or newer) than the tolerance is refused, which is
 * what stops a captured webhook being replayed later.
 */

export type VonageSignatureMethod = 'md5hash' | 'md5' | 'sha1' | 'sha256' | 'sha512';

export type VonageSignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'bad_signature' | 'too_old' | 'in_future' };

/** The text Vonage signs: `&name=value` for every parameter but sig, sorted by name. */
export function vonageSignedText(params: ReadonlyMap<string, string>): string {
  let text = '';
  for (const name of [...params.keys()].sort()) {
    if (name === 'sig') continue;
    text += `&${name}=${(params.get(name) ?? '').replace(/[&=]/g, '_')}`;
  }
  return text;
}

/** The signature of these parameters, as hex (lower case). */
export function vonageSignature(method: VonageSignatureMethod, secret: string, params: ReadonlyMap<string, string>): string {
  const text = vonageSignedText(params);
  if (method === 'md5hash') return createHash('md5').update(text + secret, 'utf8').digest('hex');
  return createHmac(method, secret).update(text, 'utf8').digest('hex');
}

/** Checks `sig` (constant time) and then `timestamp` against `nowMs`. */
export function verifyVonageSignature(
  method: VonageSignatureMethod,
  secret: string,
  params: ReadonlyMap<string, string>,
  nowMs: number,
  toleranceMs: number = DEFAULT_SIGNATURE_TOLERANCE_MS,
): VonageSignatureCheck {
  const sig = params.get('sig');
  const timestamp = params.get('timestamp');
  if (!sig) return { ok: false, reason: 'missing' };
  if (!/^[0-9a-f]+$/i.test(sig) || !timestamp || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed' };
  const expected = Buffer.from(vonageSignature(method, secret, params), 'hex');
  if (!sameBytes(Buffer.from(sig.length % 2 === 0 ? sig : '', 'hex'), expected)) return { ok: false, reason: 'bad_signature' };
  const signedAt = Number(timestamp) * 1000;
  if (nowMs - signedAt > toleranceMs) return { ok: false, reason: 'too_old' };
  if (signedAt - nowMs > toleranceMs) return { ok: false, reason: 'in_future' };
  return { ok: true };
}
