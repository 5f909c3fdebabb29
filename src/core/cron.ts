import { Cron } from 'croner';

/*
 * When a cron schedule runs (automations). croner computes occurrences in the automation's
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
