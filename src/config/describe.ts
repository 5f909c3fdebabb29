import type { SendingWindow, Weekday } from '../core/sending-window.js';
import type { SenderPattern } from './schema.js';

/*
 * Typed config values in an admin's words, for the console and the CLI: the
 * same phrase wherever a setup is shown (never `[object Object]` or raw JSON).
 */

/** `ops@example.test`, `anyone at example.test`, `anyone at a subdomain of example.test`. */
export function describeSender(pattern: SenderPattern): string {
  switch (pattern.kind) {
    case 'address':
      return pattern.address;
    case 'domain':
      return `anyone at ${pattern.domain}`;
    case 'subdomains':
      return `anyone at a subdomain of ${pattern.domain}`;
  }
}

/** A network as written in the config (`127.0.0.0/8`, `::1/128`). */
export function describeNetwork(network: { text: string }): string {
  return network.text;
}

const DAY_NAMES: Record<Weekday, string> = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };
const WEEK: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** Minutes after midnight as HH:MM (1440 is 24:00). */
function clock(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** Open days as runs: Mon–Fri, Sat; or every day. */
function dayRuns(days: readonly Weekday[]): string {
  if (days.length === 7) return 'every day';
  const open = new Set(days);
  const runs: string[] = [];
  for (let i = 0; i < WEEK.length; i++) {
    if (!open.has(WEEK[i]!)) continue;
    let j = i;
    while (j + 1 < WEEK.length && open.has(WEEK[j + 1]!)) j++;
    runs.push(j === i ? DAY_NAMES[WEEK[i]!] : `${DAY_NAMES[WEEK[i]!]}–${DAY_NAMES[WEEK[j]!]}`);
    i = j;
  }
  return runs.join(', ');
}

/** "Mon–Fri 08:00–20:00 (Europe/Copenhagen), closed on 2026-12-24, 2026-12-25". */
export function describeWindow(window: SendingWindow): string {
  const hours = window.start === 0 && window.end === 1440 ? 'all day' : `${clock(window.start)}–${clock(window.end)}`;
  const closed = window.holidays.length > 0 ? `, closed on ${window.holidays.join(', ')}` : '';
  return `${dayRuns(window.days)} ${hours} (${window.timezone})${closed}`;
}
