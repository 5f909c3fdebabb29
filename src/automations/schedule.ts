import { compileSchedule, type Schedule } from '../core/cron.js';

/*
 * Which occurrences of an automation are due (the cron itself: core/cron.ts,
 * where config/ can check it too).
 */

export { compileSchedule, scheduleProblem, type Schedule } from '../core/cron.js';

export interface DueRuns {
  /** The occurrence to run now, if any: the latest one, when it is inside catch_up. */
  run?: number;
  /** Occurrences that will not run (older than catch_up, or superseded by a later one): recorded as missed. */
  missed: number[];
  /** Missed occurrences beyond the ones listed (a frequent schedule after a long outage). */
  moreMissed: number;
}

/** At most this many missed occurrences are listed one by one. */
const MAX_LISTED = 100;

/**
 * Occurrences in (handledUntil, now]: the latest runs if it is no older than
 * catch_up; every other one is missed. After downtime only the latest missed
 * run goes, never a burst of old ones.
 */
export function dueRuns(schedule: Schedule, handledUntil: number, now: number, catchUpMs: number): DueRuns {
  const compiled = compileSchedule(schedule);
  const occurrences: number[] = [];
  let more = 0;
  for (let at = compiled.next(handledUntil); at !== undefined && at <= now; at = compiled.next(at)) {
    occurrences.push(at);
    if (occurrences.length > MAX_LISTED + 1) {
      occurrences.shift();
      more++;
    }
  }
  const latest = occurrences.at(-1);
  if (latest === undefined) return { missed: [], moreMissed: 0 };
  if (now - latest <= catchUpMs) return { run: latest, missed: occurrences.slice(0, -1), moreMissed: more };
  return { missed: occurrences, moreMissed: more };
}

const LOOK_BACK_MS = [3_600_000, 86_400_000, 8 * 86_400_000, 32 * 86_400_000, 367 * 86_400_000, 5 * 367 * 86_400_000];

/** The latest occurrence at or before `at` (up to five years back), for `automations run` without --at. */
export function latestOccurrence(schedule: Schedule, at: number): number | undefined {
  const compiled = compileSchedule(schedule);
  for (const window of LOOK_BACK_MS) {
    let latest: number | undefined;
    for (let next = compiled.next(at - window); next !== undefined && next <= at; next = compiled.next(next)) latest = next;
    if (latest !== undefined) return latest;
  }
  return undefined;
}

/** Whether `at` is an occurrence of the schedule. */
export function isOccurrence(schedule: Schedule, at: number): boolean {
  return compileSchedule(schedule).next(at - 1) === at;
}
