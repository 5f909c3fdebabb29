/*
 * Date conditions on contacts' fields (birthday, renewal date), evaluated on
 * the run's date in the automation's time zone. Dates are calendar dates
 * (YYYY-MM-DD); no time of day, no zone.
 */

export type DateCondition = { anniversary: true } | { within: number } | { ago: number };

const DAY_MS = 86_400_000;

/** YYYY-MM-DD as a day number (days since 1970-01-01), or undefined when it is not a real date. */
export function dayNumber(value: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(year, month - 1, day);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) return undefined;
  return ms / DAY_MS;
}

/** The calendar date of an instant in a time zone, as YYYY-MM-DD. */
export function localDate(at: number, timezone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/**
 * Whether a contact's date field meets the condition on the run's date.
 * anniversary: same month and day (29 February falls on 28 February in other
 * years); within: the date lies in the next N days (tomorrow up to N days
 * ahead, so `within: 1d` is "the day before"); ago: exactly N days before.
 */
export function dateMatches(value: string, condition: DateCondition, runDate: string): boolean {
  const day = dayNumber(value);
  const today = dayNumber(runDate);
  if (day === undefined || today === undefined) return false;
  if ('anniversary' in condition) {
    const [, month, date] = value.trim().split('-');
    const [year, runMonth, runDay] = runDate.split('-');
    if (month === '02' && date === '29' && !isLeap(Number(year))) return runMonth === '02' && runDay === '28';
    return month === runMonth && date === runDay;
  }
  if ('within' in condition) return day > today && day <= today + Math.round(condition.within / DAY_MS);
  return day === today - Math.round(condition.ago / DAY_MS);
}
