import { createHmac } from 'node:crypto';
import { sameBytes } from '../adapter-kit.js';

/*
 * Twilio's request signature (https://www.twilio.com/docs/usage/security#validating-requests):
 *
 *   X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + every POST field's name and value, sorted by name))
 *
 * URL is the full URL Twilio requested, query included. Like Twilio's own
 * validateRequest, the URL is tried as given and with its default port added
 * or removed (Twilio signs https://host/... and https://host:443/... alike).
 * A field sent more than once contributes each distinct value, sorted.
 */

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';
export const TWILIO_SIGNATURE_SETTINGS_HEADER = 'x-twilio-webhooks-signature-settings';

/** A base64 HMAC-SHA1: 20 bytes, 28 characters. */
const SIGNATURE_SHAPE = /^[A-Za-z0-9+/]{27}=$/;

export function twilioSignatureShapeOk(value: string): boolean {
  return SIGNATURE_SHAPE.test(value);
}

/** The bytes Twilio signs for a request: the URL, then name + value of every field sorted by name. */
export function signedText(url: string, fields: ReadonlyMap<string, readonly string[]>): string {
  let text = url;
  for (const name of [...fields.keys()].sort()) {
    for (const value of [...new Set(fields.get(name))].sort()) text += name + value;
  }
  return text;
}

/** `https://h/x` ⇄ `https://h:443/x` (and :80 for http); undefined for another port or a URL we cannot split. */
export function otherPortForm(url: string): string | undefined {
  const match = /^(https?):\/\/([^/?#]*)(.*)$/is.exec(url);
  if (!match) return undefined;
  const [, scheme = '', authority = '', rest = ''] = match;
  const standard = scheme.toLowerCase() === 'https' ? '443' : '80';
  const portAt = authority.lastIndexOf(':');
  const hasPort = portAt > authority.lastIndexOf(']');
  if (!hasPort) return `${scheme}://${authority}:${standard}${rest}`;
  return authority.slice(portAt + 1) === standard ? `${scheme}://${authority.slice(0, portAt)}${rest}` : undefined;
}

/** Whether `signature` is Twilio's for this URL and these fields (constant-time compare of the MAC bytes). */
export function twilioSignatureValid(authToken: string, url: string, fields: ReadonlyMap<string, readonly string[]>, signature: string): boolean {
  if (!twilioSignatureShapeOk(signature)) return false;
  const given = Buffer.from(signature, 'base64');
  const urls = [url, otherPortForm(url)].filter((u): u is string => u !== undefined);
  // Every candidate is computed and compared, so the time does not say which form matched.
  let valid = false;
  for (const candidate of urls) {
    const expected = createHmac('sha1', authToken).update(signedText(candidate, fields), 'utf8').digest();
    if (sameBytes(given, expected)) valid = true;
  }
  return valid;
}
