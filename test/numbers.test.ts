import { describe, expect, it } from 'vitest';
import { parseRecipientNumber } from '../src/numbers/parse.js';

describe('recipient numbers (local part → E.164)', () => {
  it.each([
    ['international with +', '+4520123456', 'DK', '+4520123456'],
    ['international with 00', '004520123456', 'DK', '+4520123456'],
    ['national in the default country', '20123456', 'DK', '+4520123456'],
    ['national with separators', '20-12-34-56', 'DK', '+4520123456'],
    ['digits invalid nationally, retried as +digits', '4520123456', 'DK', '+4520123456'],
    ['another country in international form', '+46701234567', 'DK', '+46701234567'],
    ['national Swedish with leading 0', '0701234567', 'SE', '+46701234567'],
  ] as const)('%s: %s (%s) → %s', (_name, local, country, e164) => {
    expect(parseRecipientNumber(local, country)).toMatchObject({ ok: true, e164 });
  });

  it.each([
    ['letters', 'not-a-number', 'not_a_number'],
    ['too short', '12', 'not_a_number'],
    ['a range the number plan does not allocate', '+4530000001', 'invalid_number'],
    ['too long', '+4520123456789', 'invalid_number'],
    ['a plus in the middle', '45+20123456', 'not_a_number'],
  ] as const)('%s: %s is refused as %s', (_name, local, reason) => {
    expect(parseRecipientNumber(local, 'DK')).toMatchObject({ ok: false, reason });
  });
});
