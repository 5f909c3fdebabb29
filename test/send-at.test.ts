import { describe, expect, it } from 'vitest';
import { parseSendAt } from '../src/message/send-at.js';

const NOW = Date.parse('2026-11-20T12:00:00Z');
const DAY = 86_400_000;
const HORIZON = 30 * DAY;

describe('parseSendAt: accepted', () => {
  it.each([
    ['2026-11-22T09:00:00Z', '2026-11-22T09:00:00.000Z'],
    ['2026-11-22T09:00:00+01:00', '2026-11-22T08:00:00.000Z'],
    ['2026-11-22T09:00:00-05:30', '2026-11-22T14:30:00.000Z'],
    ['2026-11-22T09:00:00.5Z', '2026-11-22T09:00:00.500Z'],
    ['2026-11-22T09:00:00.123456789+00:00', '2026-11-22T09:00:00.123Z'],
    ['2026-11-22t09:00:00z', '2026-11-22T09:00:00.000Z'],
    ['2026-11-22 09:00:00Z', '2026-11-22T09:00:00.000Z'], // RFC 3339 §5.6 allows a space
    ['  2026-11-22T09:00:00Z\r\n', '2026-11-22T09:00:00.000Z'],
    ['2026-11-20T11:59:30Z', '2026-11-20T11:59:30.000Z'], // 30 s ago: clock skew, within the tolerance
    ['2026-11-20T11:59:00Z', '2026-11-20T11:59:00.000Z'], // exactly the tolerance
    ['2026-12-20T12:00:00Z', '2026-12-20T12:00:00.000Z'], // exactly the horizon
    ['2028-02-29T00:00:00Z', '2028-02-29T00:00:00.000Z'], // a leap day
  ])('%j → %s', (value, expected) => {
    const horizon = value.startsWith('2028') ? 3 * 365 * DAY : HORIZON;
    const result = parseSendAt(value, NOW, horizon);
    expect(result).toEqual({ ok: true, at: Date.parse(expected) });
  });
});

describe('parseSendAt: refused', () => {
  it.each<[string, 'malformed' | 'past' | 'too_far', string]>([
    ['2026-11-22', 'malformed', 'X-SMS-Send-At "2026-11-22" is not an RFC 3339 date-time with an offset'],
    ['2026-11-22T09:00:00', 'malformed', 'is not an RFC 3339 date-time with an offset'],
    ['2026-11-22T09:00Z', 'malformed', 'is not an RFC 3339'],
    ['2026-11-22T09:00:00+0100', 'malformed', 'is not an RFC 3339'],
    ['2026-11-22T09:00:00.Z', 'malformed', 'is not an RFC 3339'],
    ['22 Nov 2026 09:00:00 +0100', 'malformed', 'is not an RFC 3339'],
    ['tomorrow', 'malformed', 'X-SMS-Send-At "tomorrow" is not an RFC 3339'],
    ['', 'malformed', 'X-SMS-Send-At "" is not an RFC 3339'],
    ['２026-11-22T09:00:00Z', 'malformed', 'is not an RFC 3339'],
    ['2026-13-01T09:00:00Z', 'malformed', 'X-SMS-Send-At "2026-13-01T09:00:00Z" has no month 13'],
    ['2026-00-01T09:00:00Z', 'malformed', 'has no month 0'],
    ['2026-02-30T09:00:00Z', 'malformed', 'is not a date: 2026-02 has no day 30'],
    ['2026-02-29T09:00:00Z', 'malformed', 'is not a date: 2026-02 has no day 29'],
    ['2026-04-31T09:00:00Z', 'malformed', '2026-04 has no day 31'],
    ['2026-11-00T09:00:00Z', 'malformed', 'has no day 0'],
    ['2026-11-22T24:00:00Z', 'malformed', 'is not a time of day (24:00:00)'],
    ['2026-11-22T09:60:00Z', 'malformed', 'is not a time of day'],
    ['2026-11-22T09:00:60Z', 'malformed', 'is not a time of day'],
    ['2026-11-22T09:00:00+24:00', 'malformed', 'has an impossible UTC offset (+24:00)'],
    ['2026-11-22T09:00:00+01:60', 'malformed', 'has an impossible UTC offset'],
    ['2026-11-20T11:58:59Z', 'past', 'X-SMS-Send-At "2026-11-20T11:58:59Z" is in the past (1m1s ago)'],
    ['2026-11-20T12:00:00+01:00', 'past', 'is in the past (1h ago)'],
    ['2025-11-22T09:00:00Z', 'past', 'is in the past'],
    ['2026-11-21T00:30:00+14:00', 'past', 'is in the past (1h30m ago)'], // tomorrow's date in Kiribati, 90 minutes ago
    ['0001-01-01T00:00:00Z', 'past', 'is in the past'],
    ['2026-12-20T12:00:00.001Z', 'too_far', 'X-SMS-Send-At "2026-12-20T12:00:00.001Z" is too far ahead: at most 30d from now (2026-12-20T12:00:00.000Z)'],
    ['2027-11-22T09:00:00Z', 'too_far', 'is too far ahead'],
  ])('%j → %s', (value, reason, message) => {
    const result = parseSendAt(value, NOW, HORIZON);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toBe(reason);
    expect(result.message).toContain(message);
  });

  it('a year below 100 is that year, not 19xx', () => {
    const result = parseSendAt('0050-01-01T00:00:00Z', Date.parse('0049-12-31T23:00:00Z'), DAY);
    expect(result).toEqual({ ok: true, at: Date.parse('0050-01-01T00:00:00Z') });
  });

  it('keeps the reply to one short line whatever the header holds', () => {
    const result = parseSendAt(`2026-11-22T09:00:00Z\r\nRCPT TO:<x>${'x'.repeat(200)}`, NOW, HORIZON);
    if (result.ok) throw new Error('expected a refusal');
    expect(result.message).not.toMatch(/[\r\n]/);
    expect(result.message.length).toBeLessThan(200);
  });

  it('unfolds a folded header', () => {
    expect(parseSendAt('\r\n 2026-11-22T09:00:00Z', NOW, HORIZON)).toEqual({ ok: true, at: Date.parse('2026-11-22T09:00:00Z') });
  });
});
