import { asRun, LAST_RUNS_SQL, RUN_COLUMNS, runCounts } from '../automation-runs.js';
import type { AutomationRun, AutomationStore, IntakeMessage, StartRunOutcome } from '../types.js';
import { acceptOn, INSERT_EVENT, intakeLocks } from './intake.js';
import { lockKey, type PgClient } from './pool.js';

/*
 * Automation runs on PostgreSQL, for several daemons on one database: the
 * run's key is claimed by INSERT … ON CONFLICT DO NOTHING in the transaction
 * that writes its outbox rows. A second daemon's INSERT waits for the first
 * transaction and then finds the row: it gets already-ran and writes nothing.
 */

type StartRun = Parameters<AutomationStore['startRun']>[0];

const ONE = `SELECT ${RUN_COLUMNS} FROM automation_runs WHERE automation_id = $1 AND scheduled_at = $2`;

/** The run's own lock besides intake's: both daemons queue on it before taking the members' number locks. */
export function runLocks(run: StartRun, message: IntakeMessage): bigint[] {
  return [lockKey(`automation:${run.automationId}:${run.scheduledAt}`), ...intakeLocks(message)];
}

export async function startRunOn(client: PgClient, run: StartRun, message: IntakeMessage, now: number): Promise<StartRunOutcome> {
  const claimed = await client.query(`INSERT INTO automation_runs (automation_id, scheduled_at, outcome, run_by, recorded_at)
    VALUES ($1, $2, 'ran', $3, $4) ON CONFLICT DO NOTHING`, [run.automationId, run.scheduledAt, run.runBy, now]);
  if (!claimed.rowCount) return { outcome: 'already-ran', run: await oneRun(client, run.automationId, run.scheduledAt) };
  const outcome = await acceptOn(client, message, now);
  const counts = runCounts(outcome);
  await client.query('UPDATE messages SET automation_id = $1 WHERE id = $2', [run.automationId, outcome.queueId]);
  await client.query('UPDATE automation_runs SET message_id = $1, recipients = $2, queued = $3, suppressed = $4 WHERE automation_id = $5 AND scheduled_at = $6',
    [outcome.queueId, counts.recipients, counts.queued, counts.suppressed, run.automationId, run.scheduledAt]);
  return { outcome: 'ran', run: await oneRun(client, run.automationId, run.scheduledAt), decisions: outcome.decisions };
}

export async function recordMissedOn(client: PgClient, automationId: string, scheduledAts: readonly number[], detail: string, now: number): Promise<number[]> {
  const recorded: number[] = [];
  for (const at of scheduledAts) {
    const inserted = await client.query(`INSERT INTO automation_runs (automation_id, scheduled_at, outcome, run_by, recorded_at, detail)
      VALUES ($1, $2, 'missed', 'schedule', $3, $4) ON CONFLICT DO NOTHING`, [automationId, at, now, detail]);
    if (!inserted.rowCount) continue;
    recorded.push(at);
    await client.query(INSERT_EVENT, [now, null, null, 'automation_missed', `automation ${automationId}: run of ${new Date(at).toISOString()} missed (${detail})`]);
  }
  return recorded;
}

async function oneRun(client: PgClient, automationId: string, scheduledAt: number): Promise<AutomationRun> {
  return asRun((await client.query(ONE, [automationId, scheduledAt])).rows[0] as Record<string, unknown>);
}

export const RUN_HISTORY_SQL = `SELECT ${RUN_COLUMNS} FROM automation_runs WHERE automation_id = $1 ORDER BY scheduled_at DESC LIMIT $2`;
export { LAST_RUNS_SQL };
