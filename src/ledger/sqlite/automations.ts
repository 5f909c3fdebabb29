import type { Db } from './db.js';
import { asRun, LAST_RUNS_SQL, RUN_COLUMNS, runCounts } from '../automation-runs.js';
import type { AutomationRun, AutomationStore, IntakeMessage, IntakeOutcome, StartRunOutcome } from '../types.js';

/*
 * Automation runs on SQLite. startRun claims the run's key and decides its
 * recipients in one transaction (a savepoint inside the group commit's batch):
 * the key exists only if the outbox rows do, and the other way round.
 */

type StartRun = Parameters<AutomationStore['startRun']>[0];

export function createAutomationRuns(db: Db, accept: (message: IntakeMessage, now: number) => IntakeOutcome) {
  const stmt = {
    claim: db.prepare(`INSERT INTO automation_runs (automation_id, scheduled_at, outcome, run_by, recorded_at)
      VALUES (?, ?, 'ran', ?, ?) ON CONFLICT DO NOTHING`),
    finish: db.prepare('UPDATE automation_runs SET message_id = ?, recipients = ?, queued = ?, suppressed = ? WHERE automation_id = ? AND scheduled_at = ?'),
    nameMessage: db.prepare('UPDATE messages SET automation_id = ? WHERE id = ?'),
    missed: db.prepare(`INSERT INTO automation_runs (automation_id, scheduled_at, outcome, run_by, recorded_at, detail)
      VALUES (?, ?, 'missed', 'schedule', ?, ?) ON CONFLICT DO NOTHING`),
    missedEvent: db.prepare(`INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES (?, NULL, NULL, 'automation_missed', ?)`),
    one: db.prepare(`SELECT ${RUN_COLUMNS} FROM automation_runs WHERE automation_id = ? AND scheduled_at = ?`),
    history: db.prepare(`SELECT ${RUN_COLUMNS} FROM automation_runs WHERE automation_id = ? ORDER BY scheduled_at DESC LIMIT ?`),
    last: db.prepare(LAST_RUNS_SQL),
  };
  const one = (id: string, at: number) => asRun(stmt.one.get(id, at) as Record<string, unknown>);

  const start = db.transaction((run: StartRun, message: IntakeMessage, now: number): StartRunOutcome => {
    if (stmt.claim.run(run.automationId, run.scheduledAt, run.runBy, now).changes === 0) return { outcome: 'already-ran', run: one(run.automationId, run.scheduledAt) };
    const outcome = accept(message, now);
    const counts = runCounts(outcome);
    stmt.nameMessage.run(run.automationId, outcome.queueId);
    stmt.finish.run(outcome.queueId, counts.recipients, counts.queued, counts.suppressed, run.automationId, run.scheduledAt);
    return { outcome: 'ran', run: one(run.automationId, run.scheduledAt), decisions: outcome.decisions };
  });

  const missed = db.transaction((automationId: string, scheduledAts: readonly number[], detail: string, now: number): number[] => {
    const recorded = scheduledAts.filter((at) => stmt.missed.run(automationId, at, now, detail).changes > 0);
    for (const at of recorded) stmt.missedEvent.run(now, `automation ${automationId}: run of ${new Date(at).toISOString()} missed (${detail})`);
    return recorded;
  });

  return {
    start,
    missed,
    history: (automationId: string, limit: number) => (stmt.history.all(automationId, limit) as Record<string, unknown>[]).map(asRun),
    last: (): AutomationRun[] => (stmt.last.all() as Record<string, unknown>[]).map(asRun),
  };
}
