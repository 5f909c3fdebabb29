/*
 * The `X-SMS-Send-At` header: send this SMS later. Only RFC 3339 with an
 * explicit offset is accepted ("09:00" in whose zone? "next Tuesday"?), and a
 * time that does not exist (month 13, 30 February) is refused rather than
 * rolled over the way Date.parse would, because a silently moved send time is
 * worse than a clear 5xx the sender can fix.
 */

export type SendAtResult =
  | { ok: true; at: number }
  | { ok: false; reason: 'malformed' | 'past' | 'too_far'; message: string };

/** A send time this much in the past is clock skew between the sender and us, not a mistake: send now. */
export const PAST_TOLERANCE_MS = 60_000;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const HEADER = 'X-SMS-Send-At';

/** The value as it may appear in a one-line SMTP reply: no control characters, not too long. */
function quoted(value: string): string {
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return `"${clean.length > 64 ? `${clean.slice(0, 61)}...` : clean}"`;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** 90_000 → "90s"; 30 days → "30d"; 36 h → "1d12h". For messages only. */
function humanDuration(ms: number): string {
  const units: [number, string][] = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1000, 's']];
  let rest = Math.max(0, Math.round(ms / 1000) * 1000);
  let out = '';
  for (const [size, unit] of units) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out || '0s';
}

/** Parses RFC 3339 to epoch ms, or explains what is wrong with it. */
function parseRfc3339(value: string): number | string {
  const match = RFC3339.exec(value);
  if (!match) return 'is not an RFC 3339 date-time with an offset (use e.g. 2026-11-22T09:00:00+01:00 or 2026-11-22T08:00:00Z)';
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12) return `has no month ${month}`;
  if (day < 1 || day > daysInMonth(year, month)) return `is not a date: ${match[1]}-${match[2]} has no day ${day}`;
  if (hour > 23 || minute > 59 || second > 59) return `is not a time of day (${match[4]}:${match[5]}:${match[6]})`;
  let offsetMinutes = 0;
  if (match[9] !== undefined) {
    const offsetHours = Number(match[10]);
    const offsetMins = Number(match[11]);
    if (offsetHours > 23 || offsetMins > 59) return `has an impossible UTC offset (${match[9]}${match[10]}:${match[11]})`;
    offsetMinutes = (match[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  // Date.UTC maps years 0–99 to 1900–1999; set the year on its own.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, Math.floor(Number(`0${match[7] ?? ''}`) * 1000)));
  date.setUTCFullYear(year);
  return date.getTime() - offsetMinutes * 60_000;
}

/**
 * The `X-SMS-Send-At` header → when to send. RFC 3339 only (a `T` or a
 * space between date and time, fractional seconds allowed, `Z` or `±hh:mm`
 * required). Earlier than `nowMs` by more than PAST_TOLERANCE_MS is `past`;
 * later than `nowMs + maxHorizonMs` is `too_far`. `message` is written for
 * the SMTP reply.
 */
export function parseSendAt(headerValue: string, nowMs: number, maxHorizonMs: number): SendAtResult {
  // A folded header keeps its line break; RFC 3339 has no spaces at the ends.
  const value = headerValue.replace(/\r?\n[ \t]+/g, ' ').trim();
  const at = parseRfc3339(value);
  if (typeof at === 'string') return { ok: false, reason: 'malformed', message: `${HEADER} ${quoted(value)} ${at}` };
  if (at < nowMs - PAST_TOLERANCE_MS) {
    return { ok: false, reason: 'past', message: `${HEADER} ${quoted(value)} is in the past (${humanDuration(nowMs - at)} ago)` };
  }
  if (at > nowMs + maxHorizonMs) {
    return {
      ok: false,
      reason: 'too_far',
      message: `${HEADER} ${quoted(value)} is too far ahead: at most ${humanDuration(maxHorizonMs)} from now (${new Date(nowMs + maxHorizonMs).toISOString()})`,
    };
  }
  return { ok: true, at };
}
