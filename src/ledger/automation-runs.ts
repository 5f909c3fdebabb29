import type { AutomationRun, IntakeOutcome } from './types.js';

/*
 * What both backends share about automation runs: the columns as the
 * AutomationRun shape, and the counts a run's decisions give.
 */

/** SELECT list of automation_runs as AutomationRun (quoted aliases: PostgreSQL folds unquoted ones). */
export const RUN_COLUMNS = `automation_id AS "automationId", scheduled_at AS "scheduledAt", outcome, run_by AS "runBy", recorded_at AS "recordedAt",
    message_id AS "queueId", recipients, queued, suppressed, detail`;

/** The newest row per automation, by occurrence. */
export const LAST_RUNS_SQL = `SELECT ${RUN_COLUMNS} FROM automation_runs r
  WHERE scheduled_at = (SELECT max(scheduled_at) FROM automation_runs x WHERE x.automation_id = r.automation_id) ORDER BY automation_id`;

export function runCounts(outcome: IntakeOutcome): { recipients: number; queued: number; suppressed: number } {
  const queued = outcome.decisions.filter((d) => d.outcome === 'queued').length;
  const suppressed = outcome.decisions.filter((d) => d.outcome === 'suppressed').length;
  return { recipients: outcome.decisions.length, queued, suppressed };
}

/** Rows as read (PostgreSQL's INTEGER counts arrive as numbers, BIGINT times too: pool.ts parses int8). */
export function asRun(row: Record<string, unknown>): AutomationRun {
  return row as unknown as AutomationRun;
}
