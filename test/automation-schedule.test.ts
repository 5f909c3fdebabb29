import { describe, expect, it } from 'vitest';
import { dateMatches, localDate } from '../src/automations/dates.js';
import { compileSchedule, dueRuns, scheduleProblem } from '../src/automations/schedule.js';

/* When automations run (croner, in their own time zone) and which contacts' dates match a run. */

const CPH = 'Europe/Copenhagen';
const daily = (hhmm: string) => ({ cron: `${Number(hhmm.slice(3))} ${Number(hhmm.slice(0, 2))} * * *`, timezone: CPH });
const H = 3_600_000;

describe('schedules in the automation\'s time zone', () => {
  it('10:00 in Copenhagen is 09:00 UTC in winter and 08:00 in summer', () => {
    const s = compileSchedule(daily('10:00'));
    expect(new Date(s.next(Date.UTC(2026, 0, 15))!).toISOString()).toBe('2026-01-15T09:00:00.000Z');
    expect(new Date(s.next(Date.UTC(2026, 6, 15))!).toISOString()).toBe('2026-07-15T08:00:00.000Z');
  });

  it('spring forward: 02:30 does not exist on 29 March; it runs once, at 03:00, and not twice the next day', () => {
    const runs = dueRuns(daily('02:30'), Date.UTC(2026, 2, 28, 12), Date.UTC(2026, 2, 30, 12), 48 * H);
    expect([...runs.missed, runs.run].map((t) => new Date(t!).toISOString())).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
  });

  it('fall back: 02:30 happens twice on 25 October; it runs once', () => {
    const runs = dueRuns(daily('02:30'), Date.UTC(2026, 9, 24, 12), Date.UTC(2026, 9, 25, 12), 48 * H);
    expect(runs).toEqual({ run: Date.UTC(2026, 9, 25, 0, 30), missed: [], moreMissed: 0 });
  });

  it('a run missed by less than catch_up still goes; one missed by more is recorded as missed', () => {
    const tenAm = Date.UTC(2026, 5, 1, 8);
    expect(dueRuns(daily('10:00'), tenAm - 24 * H, tenAm + 5 * H, 6 * H)).toEqual({ run: tenAm, missed: [], moreMissed: 0 });
    expect(dueRuns(daily('10:00'), tenAm - 24 * H, tenAm + 7 * H, 6 * H)).toEqual({ missed: [tenAm], moreMissed: 0 });
  });

  it('after three days down, only the latest run goes (if inside catch_up); the older ones are missed', () => {
    const tenAm = Date.UTC(2026, 5, 4, 8);
    const runs = dueRuns(daily('10:00'), tenAm - 3 * 24 * H - H, tenAm + H, 6 * H);
    expect(runs).toEqual({ run: tenAm, missed: [tenAm - 3 * 24 * H, tenAm - 2 * 24 * H, tenAm - 24 * H], moreMissed: 0 });
  });

  it('nothing is due before the first occurrence, and an occurrence already handled is not due again', () => {
    const tenAm = Date.UTC(2026, 5, 1, 8);
    expect(dueRuns(daily('10:00'), tenAm - H, tenAm - 1, 6 * H)).toEqual({ missed: [], moreMissed: 0 });
    expect(dueRuns(daily('10:00'), tenAm, tenAm + H, 6 * H)).toEqual({ missed: [], moreMissed: 0 });
  });

  it('a minutely schedule after a long outage lists at most 100 missed runs and counts the rest', () => {
    const start = Date.UTC(2026, 5, 1);
    const runs = dueRuns({ cron: '* * * * *', timezone: 'UTC' }, start, start + 1000 * 60_000, 0);
    expect(runs.run).toBe(start + 1000 * 60_000);
    expect(runs.missed).toHaveLength(100);
    expect(runs.missed.length + runs.moreMissed + 1).toBe(1000);
  });

  it.each([
    [{ cron: '0 25 * * *', timezone: CPH }, /is not a cron expression/],
    [{ cron: '0 10 * * *', timezone: 'Europe/Kopenhagen' }, /is not an IANA time zone/],
  ])('says what is wrong with %j', (schedule, problem) => {
    expect(scheduleProblem(schedule)).toMatch(problem);
  });
  it('a valid schedule has no problem', () => expect(scheduleProblem(daily('10:00'))).toBeUndefined());
});

describe('date conditions on the run\'s date', () => {
  it.each([
    ['1990-06-01', '2026-06-01', true],
    ['1990-06-02', '2026-06-01', false],
    ['2000-02-29', '2028-02-29', true], // a leap year: on the day itself
    ['2000-02-29', '2027-02-28', true], // other years: on 28 February
    ['2000-02-29', '2028-02-28', false],
    ['2001-02-28', '2027-02-28', true],
    ['not a date', '2026-06-01', false],
    ['1990-02-30', '2026-03-02', false],
  ])('anniversary: %s on %s → %s', (value, run, expected) => {
    expect(dateMatches(value, { anniversary: true }, run)).toBe(expected);
  });

  it.each([
    ['2026-06-02', 1, true], // within 1d: the day before the date
    ['2026-06-01', 1, false], // today is not "within the next days"
    ['2026-06-08', 7, true],
    ['2026-06-09', 7, false],
    ['2026-05-31', 7, false],
  ])('within: %s, %i day(s) after 2026-06-01 → %s', (value, days, expected) => {
    expect(dateMatches(value, { within: days * 24 * H }, '2026-06-01')).toBe(expected);
  });

  it('ago: exactly that many days before', () => {
    expect(dateMatches('2026-05-02', { ago: 30 * 24 * H }, '2026-06-01')).toBe(true);
    expect(dateMatches('2026-05-03', { ago: 30 * 24 * H }, '2026-06-01')).toBe(false);
  });

  it('the run\'s date is taken in the automation\'s zone: 23:30 UTC on 31 May is 1 June in Copenhagen', () => {
    expect(localDate(Date.UTC(2026, 4, 31, 23, 30), CPH)).toBe('2026-06-01');
    expect(localDate(Date.UTC(2026, 4, 31, 23, 30), 'UTC')).toBe('2026-05-31');
  });
});
