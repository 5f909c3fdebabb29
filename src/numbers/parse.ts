import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

/*
 * We validate against libphonenumber's "max" metadata on purpose: it knows the
 * allocated ranges of each number plan, so a typo like +4530000001 is refused at
 * RCPT TO with 550 5.1.3 rather than paid for and failed at the provider. The
 * price is that a newly opened range needs a libphonenumber-js update.
 */

export type NumberVerdict =
  | { ok: true; e164: string; country: CountryCode | undefined }
  | { ok: false; reason: 'not_a_number' | 'invalid_number'; detail: string };

const SEPARATORS = /[\s().-]/g;

/**
 * Reads the local part of an SMS address: `+4520123456`, `004520123456`, or a
 * national number in the setup's default country. Digits that are not valid
 * nationally are retried as international (`4520123456` → +4520123456).
 */
export function parseRecipientNumber(localPart: string, defaultCountry: CountryCode): NumberVerdict {
  const compact = localPart.replace(SEPARATORS, '');
  if (!/^(\+|00)?\d{3,17}$/.test(compact)) {
    return { ok: false, reason: 'not_a_number', detail: `"${localPart}" is not a phone number` };
  }
  const candidates = compact.startsWith('+')
    ? [compact]
    : compact.startsWith('00')
      ? ['+' + compact.slice(2)]
      : [compact, '+' + compact];
  for (const candidate of candidates) {
    const parsed = candidate.startsWith('+')
      ? parsePhoneNumberFromString(candidate)
      : parsePhoneNumberFromString(candidate, defaultCountry);
    if (parsed?.isValid()) return { ok: true, e164: parsed.number, country: parsed.country };
  }
  return { ok: false, reason: 'invalid_number', detail: `${localPart} is not a valid phone number` };
}

/** The country of an E.164 number (routes match on it); undefined for a range no country owns (+882…). */
export function countryOfE164(e164: string): CountryCode | undefined {
  return parsePhoneNumberFromString(e164)?.country;
}
