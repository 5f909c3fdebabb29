import { Cron } from 'croner';

/*
 * When an automation runs. croner computes occurrences in the automation's
 * own time zone and handles daylight saving the way people expect: a time
 * that does not exist (02:30 on the spring-forward night) runs once at the
 * next valid time, and a time that exists twice (fall-back) runs once.
 * (node-cron, the other common choice, schedules timers and cannot list
 * past occurrences, which catch-up needs.)
 */

export interface Schedule {
  cron: string;
  /** IANA zone, e.g. Europe/Copenhagen. */
  timezone: string;
}

/** A parsed schedule: the occurrences after a time. Throws on an invalid cron or zone (config validation reports it). */
export function compileSchedule(schedule: Schedule): { next(after: number): number | undefined } {
  const cron = new Cron(schedule.cron, { timezone: schedule.timezone, paused: true, legacyMode: false });
  return {
    next(after) {
      const next = cron.nextRun(new Date(after));
      return next ? next.getTime() : undefined;
    },
  };
}

/** The problem with a cron expression or time zone, in an admin's words; undefined when it is valid. */
export function scheduleProblem(schedule: Schedule): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: schedule.timezone });
  } catch {
    return `"${schedule.timezone}" is not an IANA time zone (e.g. Europe/Copenhagen)`;
  }
  try {
    if (compileSchedule(schedule).next(Date.UTC(2000, 0, 1)) === undefined) return `"${schedule.cron}" never runs`;
  } catch (error) {
    return `"${schedule.cron}" is not a cron expression: ${(error as Error).message}`;
  }
  return undefined;
}

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
