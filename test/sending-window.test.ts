import { describe, expect, it } from 'vitest';
import { compileSendingWindow, isOpen, nextOpening, sendingWindowSchema, type SendingWindowInput } from '../src/core/sending-window.js';

const window = (overrides: Partial<SendingWindowInput> = {}) =>
  sendingWindowSchema.parse({ timezone: 'Europe/Copenhagen', days: 'mon-fri', hours: '08:00-20:00', ...overrides });
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('sendingWindowSchema', () => {
  it('parses the YAML shape', () => {
    expect(window({ holidays: ['2026-12-25', '2026-12-24'] })).toEqual({
      timezone: 'Europe/Copenhagen',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      start: 480,
      end: 1200,
      holidays: ['2026-12-24', '2026-12-25'],
    });
  });

  it.each<[SendingWindowInput['days'], string[]]>([
    ['mon-fri', ['mon', 'tue', 'wed', 'thu', 'fri']],
    ['sat-sun', ['sat', 'sun']],
    ['fri-mon', ['mon', 'fri', 'sat', 'sun']],
    ['Monday', ['mon']],
    [['wed', 'mon', 'sat-sun'], ['mon', 'wed', 'sat', 'sun']],
    ['mon-sun', ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']],
  ])('days %j', (days, expected) => {
    expect(window({ days }).days).toEqual(expected);
  });

  it.each([
    ['8:00-20:00', 480, 1200],
    ['00:00-24:00', 0, 1440],
    ['08:30-08:31', 510, 511],
  ])('hours %s', (hours, start, end) => {
    expect(window({ hours })).toMatchObject({ start, end });
  });

  it('keeps the canonical zone name', () => {
    expect(window({ timezone: 'UTC' }).timezone).toBe('UTC');
  });

  it.each<[Partial<SendingWindowInput>, (string | number)[], string]>([
    [{ timezone: 'Europe/Copenhagn' }, ['timezone'], '"Europe/Copenhagn" is not an IANA time zone (e.g. Europe/Copenhagen)'],
    [{ timezone: '+01:00' }, ['timezone'], 'is not an IANA time zone'],
    [{ timezone: 'CET; rm -rf' }, ['timezone'], 'is not an IANA time zone'],
    [{ days: 'funday' }, ['days'], '"funday" is not a day or range of days'],
    [{ days: 'mon-fri-sat' }, ['days'], 'is not a day or range of days'],
    [{ days: [] }, ['days'], 'the window would never open'],
    [{ hours: '20:00-08:00' }, ['hours'], 'the end must be after the start'],
    [{ hours: '08:00-08:00' }, ['hours'], 'the end must be after the start'],
    [{ hours: '24:00-24:00' }, ['hours'], 'is not a time range'],
    [{ hours: '08:60-20:00' }, ['hours'], 'is not a time range'],
    [{ hours: '08:00-24:01' }, ['hours'], 'is not a time range'],
    [{ hours: '08:00' }, ['hours'], 'is not a time range'],
    [{ hours: '8-20' }, ['hours'], 'is not a time range'],
    [{ holidays: ['2026-02-30'] }, ['holidays', 0], 'is not a date (use YYYY-MM-DD'],
    [{ holidays: ['24/12/2026'] }, ['holidays', 0], 'is not a date'],
  ])('refuses %j', (overrides, path, message) => {
    const result = sendingWindowSchema.safeParse({ timezone: 'Europe/Copenhagen', days: 'mon-fri', hours: '08:00-20:00', ...overrides });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(path);
    expect(result.error?.issues[0]?.message).toContain(message);
  });

  it('refuses holidays that keep the window shut for more than a year', () => {
    const holidays = Array.from({ length: 400 }, (_, i) => iso(at('2027-01-01T00:00:00Z') + i * 86_400_000).slice(0, 10));
    const result = sendingWindowSchema.safeParse({ timezone: 'UTC', days: 'mon-sun', hours: '08:00-20:00', holidays });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/must open at least once a year/);
    // A long but bounded closure is fine.
    expect(sendingWindowSchema.safeParse({ timezone: 'UTC', days: 'mon-sun', hours: '08:00-20:00', holidays: holidays.slice(0, 300) }).success).toBe(true);
  });
});

describe('nextOpening and isOpen', () => {
  it.each([
    // Europe/Copenhagen is UTC+1 in winter (CET), UTC+2 in summer (CEST).
    ['Friday 20:00 → Monday 08:00', window(), '2026-03-06T19:00:00Z', '2026-03-09T07:00:00Z'],
    ['Saturday → Monday 08:00', window(), '2026-03-07T11:00:00Z', '2026-03-09T07:00:00Z'],
    ['Sunday 23:59 → Monday 08:00', window(), '2026-03-08T22:59:00Z', '2026-03-09T07:00:00Z'],
    ['Monday before the start → 08:00 the same day', window(), '2026-03-09T06:15:00Z', '2026-03-09T07:00:00Z'],
    ['already open: the same instant', window(), '2026-03-09T09:00:00Z', '2026-03-09T09:00:00Z'],
    ['the start is inclusive', window(), '2026-03-09T07:00:00Z', '2026-03-09T07:00:00Z'],
    ['one ms before the end is open', window(), '2026-03-09T18:59:59.999Z', '2026-03-09T18:59:59.999Z'],
    ['the end is exclusive → next day 08:00', window(), '2026-03-09T19:00:00Z', '2026-03-10T07:00:00Z'],
    ['holidays skipped (Christmas Eve and Day, then the weekend)', window({ holidays: ['2026-12-24', '2026-12-25'] }), '2026-12-23T19:30:00Z', '2026-12-28T07:00:00Z'],
    ['a holiday today, before the start', window({ holidays: ['2026-03-09'] }), '2026-03-09T06:00:00Z', '2026-03-10T07:00:00Z'],
    ['the holiday is the local date, not the UTC one', window({ holidays: ['2026-03-10'] }), '2026-03-09T23:30:00Z', '2026-03-11T07:00:00Z'],
    // Spring forward: 2026-03-29 02:00 CET → 03:00 CEST.
    ['DST spring: Saturday evening → Sunday 08:00 CEST', window({ days: 'mon-sun' }), '2026-03-28T19:30:00Z', '2026-03-29T06:00:00Z'],
    ['DST spring: Friday 20:00 CET → Monday 08:00 CEST', window(), '2026-03-27T19:00:00Z', '2026-03-30T06:00:00Z'],
    ['DST spring: a start inside the gap opens when the clock jumps', window({ days: 'mon-sun', hours: '02:30-04:00' }), '2026-03-29T00:00:00Z', '2026-03-29T01:00:00Z'],
    ['DST spring: a window wholly inside the gap skips the day', window({ days: 'mon-sun', hours: '02:00-02:45' }), '2026-03-28T23:00:00Z', '2026-03-30T00:00:00Z'],
    // Fall back: 2026-10-25 03:00 CEST → 02:00 CET.
    ['DST autumn: Saturday evening → Sunday 08:00 CET', window({ days: 'mon-sun' }), '2026-10-24T18:30:00Z', '2026-10-25T07:00:00Z'],
    ['DST autumn: Friday 20:00 CEST → Monday 08:00 CET', window(), '2026-10-23T18:00:00Z', '2026-10-26T07:00:00Z'],
    ['DST autumn: the repeated hour opens again on its second pass', window({ days: 'mon-sun', hours: '02:00-02:45' }), '2026-10-25T00:50:00Z', '2026-10-25T01:00:00Z'],
    ['DST autumn: a start in the repeated hour opens on its first pass', window({ days: 'mon-sun', hours: '02:30-04:00' }), '2026-10-24T23:00:00Z', '2026-10-25T00:30:00Z'],
    ['24:00 as the end: Friday 23:59 open', window({ hours: '00:00-24:00' }), '2026-03-06T22:59:00Z', '2026-03-06T22:59:00Z'],
    ['24:00 as the end: Saturday 00:00 closed → Monday 00:00', window({ hours: '00:00-24:00' }), '2026-03-06T23:00:00Z', '2026-03-08T23:00:00Z'],
    // West of UTC, and its own DST date (2026-03-08 02:00 EST → 03:00 EDT).
    ['New York: Friday 20:00 EST → Monday 08:00 EDT', window({ timezone: 'America/New_York' }), '2026-03-07T01:00:00Z', '2026-03-09T12:00:00Z'],
    ['UTC: Friday 20:00 → Monday 08:00', window({ timezone: 'UTC' }), '2026-03-06T20:00:00Z', '2026-03-09T08:00:00Z'],
  ])('%s', (_name, win, from, expected) => {
    const next = nextOpening(win, at(from));
    expect(iso(next)).toBe(new Date(expected).toISOString());
    expect(isOpen(win, next)).toBe(true);
    expect(isOpen(win, at(from))).toBe(from === expected);
    // The compiled form (one formatter for many questions) gives the same answers.
    const compiled = compileSendingWindow(win);
    expect(iso(compiled.nextOpening(at(from)))).toBe(new Date(expected).toISOString());
    expect(compiled.isOpen(at(from))).toBe(from === expected);
  });

  it('nothing between the instant and the next opening is open (checked minute by minute)', () => {
    const win = window({ holidays: ['2026-03-30'] });
    const from = at('2026-03-27T19:00:00Z');
    const next = nextOpening(win, from);
    expect(iso(next)).toBe('2026-03-31T06:00:00.000Z');
    const compiled = compileSendingWindow(win);
    for (let t = from; t < next; t += 60_000) if (compiled.isOpen(t)) throw new Error(`open at ${iso(t)}`);
    expect(compiled.isOpen(next - 1)).toBe(false);
  });
});
