/*
 * Sending windows: marketing and automations may only send on some days,
 * between some hours, in the recipients' time zone ("mon-fri 08:00-20:00
 * Europe/Copenhagen, not on Christmas Eve"). Everything is computed on the
 * zone's wall clock through Intl (the ICU time zone data Node ships), so a
 * day with a DST change still opens at 08:00 local time.
 */
import { z } from 'zod';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const FULL_NAMES = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

export interface SendingWindow {
  /** Canonical IANA name, e.g. "Europe/Copenhagen". */
  readonly timezone: string;
  /** Open days, in week order. */
  readonly days: readonly Weekday[];
  /** Minutes after local midnight: open from `start` (inclusive) to `end` (exclusive; 1440 = 24:00). */
  readonly start: number;
  readonly end: number;
  /** Closed dates (YYYY-MM-DD, local), sorted. */
  readonly holidays: readonly string[];
}

const DAY_MS = 86_400_000;
/** How far ahead nextOpening looks; the schema refuses windows that could stay shut longer. */
const SEARCH_DAYS = 400;

function dayIndex(name: string): number {
  const lower = name.trim().toLowerCase();
  const short = WEEKDAYS.indexOf(lower as Weekday);
  return short >= 0 ? short : FULL_NAMES.indexOf(lower);
}

/** "mon-fri", "sat", "fri-mon" (wraps) → week indexes (0 = Monday); undefined when malformed. */
function parseDays(spec: string): number[] | undefined {
  const parts = spec.split('-');
  if (parts.length === 1) {
    const day = dayIndex(spec);
    return day >= 0 ? [day] : undefined;
  }
  if (parts.length !== 2) return undefined;
  const from = dayIndex(parts[0] as string);
  const to = dayIndex(parts[1] as string);
  if (from < 0 || to < 0) return undefined;
  const out: number[] = [];
  for (let day = from; ; day = (day + 1) % 7) {
    out.push(day);
    if (day === to) return out;
  }
}

function parseClock(text: string, allow24: boolean): number | undefined {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!match) return undefined;
  const hours = Number(match[1]);
  const minutes = Number(match[2]);
  if (minutes > 59) return undefined;
  if (hours === 24 && minutes === 0 && allow24) return 1440;
  return hours <= 23 ? hours * 60 + minutes : undefined;
}

function isDate(text: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(2000, month - 1, day));
  date.setUTCFullYear(year);
  return month >= 1 && month <= 12 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** The canonical name, or undefined when Intl does not know the zone (or it is a bare offset, which has no DST rules). */
function canonicalZone(name: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(name)) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

const dayName = (index: number) => WEEKDAYS[index] as Weekday;

/**
 * The `sending_window:` block:
 * `{ timezone: Europe/Copenhagen, days: mon-fri, hours: "08:00-20:00", holidays: [2026-12-24] }`.
 * `days` is a range ("mon-fri", "sat-sun", "fri-mon" wraps), one day, or a list of days and ranges.
 * Windows over midnight are not supported: write the end as 24:00 and open the next day at 00:00.
 */
export const sendingWindowSchema = z
  .strictObject({
    timezone: z.string().transform((value, ctx) => {
      const zone = canonicalZone(value.trim());
      if (zone === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not an IANA time zone (e.g. Europe/Copenhagen)` });
        return z.NEVER;
      }
      return zone;
    }).meta({ description: 'IANA time zone the window is read in, e.g. Europe/Copenhagen (correct across DST changes).' }),
    days: z.union([z.string(), z.array(z.string()).min(1, 'is an empty list: the window would never open')]).transform((value, ctx) => {
      const open = new Set<number>();
      for (const spec of Array.isArray(value) ? value : [value]) {
        const days = parseDays(spec);
        if (!days) {
          ctx.addIssue({ code: 'custom', message: `"${spec}" is not a day or range of days (use e.g. mon-fri, sat-sun, or a list [mon, wed, fri])` });
          return z.NEVER;
        }
        for (const day of days) open.add(day);
      }
      return [...open].sort((a, b) => a - b).map(dayName);
    }).meta({ description: 'A range (mon-fri, sat-sun; fri-mon wraps), one day, or a list of days and ranges.' }),
    hours: z.string().transform((value, ctx) => {
      const [from = '', to, extra] = value.split('-');
      const start = parseClock(from, false);
      const end = to === undefined ? undefined : parseClock(to, true);
      if (extra !== undefined || start === undefined || end === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a time range (use HH:MM-HH:MM, e.g. 08:00-20:00; 24:00 is allowed as the end)` });
        return z.NEVER;
      }
      if (end <= start) {
        ctx.addIssue({ code: 'custom', message: `"${value}": the end must be after the start (a window over midnight is two days: end at 24:00 and start at 00:00)` });
        return z.NEVER;
      }
      return { start, end };
    }).meta({ description: 'HH:MM-HH:MM, e.g. 08:00-20:00; 24:00 is allowed as the end. Over midnight: end at 24:00 and open the next day at 00:00.' }),
    holidays: z
      .array(z.string().refine(isDate, { message: 'is not a date (use YYYY-MM-DD, e.g. 2026-12-24)' }))
      .default([])
      .meta({ description: 'Dates (YYYY-MM-DD) the window stays closed.' }),
  })
  .transform((input): SendingWindow => ({
    timezone: input.timezone,
    days: input.days,
    start: input.hours.start,
    end: input.hours.end,
    holidays: [...new Set(input.holidays)].sort(),
  }))
  .superRefine((window, ctx) => {
    // Holidays are finite, so every window opens eventually; but nextOpening only looks SEARCH_DAYS ahead.
    const longest = longestClosedRun(window);
    if (longest >= SEARCH_DAYS - 7) {
      ctx.addIssue({ code: 'custom', path: ['holidays'], message: `close the window for ${longest} days in a row: a sending window must open at least once a year` });
    }
  });

export type SendingWindowInput = z.input<typeof sendingWindowSchema>;

/** The most consecutive closed days the holidays cause (between the first and the last holiday). */
function longestClosedRun(window: SendingWindow): number {
  if (window.holidays.length === 0) return 0;
  const holidays = new Set(window.holidays);
  const first = Date.parse(`${window.holidays[0]}T00:00:00Z`);
  const last = Date.parse(`${window.holidays[window.holidays.length - 1]}T00:00:00Z`);
  let run = 0;
  let longest = 0;
  for (let day = first; day <= last + 7 * DAY_MS; day += DAY_MS) {
    const date = new Date(day);
    const closed = !window.days.includes(dayName((date.getUTCDay() + 6) % 7)) || holidays.has(date.toISOString().slice(0, 10));
    run = closed ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  return longest;
}

interface WallClock {
  /** The local date as a UTC midnight (for calendar arithmetic). */
  dayMs: number;
  /** Milliseconds since local midnight. */
  msOfDay: number;
}

/** One zone's wall clock; built once per call (Intl formatters are costly to create, cheap to use). */
function clockFor(timezone: string) {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  /** The zone's offset from UTC at an instant, in ms. */
  const offsetAt = (atMs: number): number => {
    const second = Math.floor(atMs / 1000) * 1000;
    const parts: Record<string, number> = {};
    for (const part of format.formatToParts(second)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
    const date = new Date(Date.UTC(2000, (parts.month as number) - 1, parts.day, parts.hour, parts.minute, parts.second));
    date.setUTCFullYear(parts.year as number);
    return date.getTime() - second;
  };
  const wallClock = (atMs: number): WallClock => {
    const local = atMs + offsetAt(atMs);
    const dayMs = Math.floor(local / DAY_MS) * DAY_MS;
    return { dayMs, msOfDay: local - dayMs };
  };
  /**
   * The instants at which the local clock reaches `msOfDay` on `dayMs`, in
   * order: two when the time occurs twice (autumn), one otherwise; when it
   * does not occur at all (spring), the instant the clock jumps past it.
   */
  const instantsOf = (dayMs: number, msOfDay: number): number[] => {
    const wall = dayMs + msOfDay;
    // At most one offset change within a day either side of any wall time (true of every real zone).
    const offsets = [...new Set([offsetAt(wall - DAY_MS), offsetAt(wall + DAY_MS)])];
    const exact = offsets.map((offset) => wall - offset).filter((at) => offsetAt(at) === wall - at);
    if (exact.length > 0) return exact.sort((a, b) => a - b);
    // In a gap: before it the clock shows less than `wall`, after it more. Find the change.
    let lo = Math.min(...offsets.map((offset) => wall - offset));
    let hi = Math.max(...offsets.map((offset) => wall - offset));
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (mid + offsetAt(mid) >= wall) hi = mid;
      else lo = mid;
    }
    return [hi];
  };
  return { wallClock, instantsOf };
}

function isOpenDay(window: SendingWindow, dayMs: number): boolean {
  const weekday = dayName((new Date(dayMs).getUTCDay() + 6) % 7);
  return window.days.includes(weekday) && !window.holidays.includes(new Date(dayMs).toISOString().slice(0, 10));
}

function openAt(window: SendingWindow, clock: WallClock): boolean {
  return isOpenDay(window, clock.dayMs) && clock.msOfDay >= window.start * 60_000 && clock.msOfDay < window.end * 60_000;
}

export interface CompiledWindow {
  isOpen(atMs: number): boolean;
  nextOpening(atMs: number): number;
}

/**
 * The window with its zone's formatter built once: creating an
 * Intl.DateTimeFormat costs ~50 µs, using one a few. For callers that ask
 * about many instants (dispatch claiming a batch); the result holds no state
 * that changes.
 */
export function compileSendingWindow(window: SendingWindow): CompiledWindow {
  const { wallClock, instantsOf } = clockFor(window.timezone);
  return {
    isOpen: (atMs) => openAt(window, wallClock(atMs)),
    nextOpening: (atMs) => {
      const now = wallClock(atMs);
      if (openAt(window, now)) return atMs;
      for (let i = 0; i <= SEARCH_DAYS; i++) {
        const dayMs = now.dayMs + i * DAY_MS;
        if (!isOpenDay(window, dayMs)) continue;
        for (const opening of instantsOf(dayMs, window.start * 60_000)) {
          // Today's opening may be past already (we are after the end); and when
          // the whole window lies in a spring gap, the day has no open time at all.
          if (opening > atMs && openAt(window, wallClock(opening))) return opening;
        }
      }
      throw new Error(`sending window never opens within ${SEARCH_DAYS} days of ${new Date(atMs).toISOString()}`);
    },
  };
}

/** Whether a message may be sent at `atMs` (the end of the hours is exclusive). */
export function isOpen(window: SendingWindow, atMs: number): boolean {
  return compileSendingWindow(window).isOpen(atMs);
}

/**
 * `atMs` itself when the window is open then, else the epoch ms of its next
 * opening (local start time on the next open day that is not a holiday). On a
 * day whose start time falls in a DST gap, the window opens when the clock
 * jumps past it; on a day with a repeated hour, a start inside it opens on
 * both passes.
 */
export function nextOpening(window: SendingWindow, atMs: number): number {
  return compileSendingWindow(window).nextOpening(atMs);
}
