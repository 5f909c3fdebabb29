/*
 * A row's history is its events plus the steps of its current attempt, read
 * from the outbox row itself (migrations/0009_steps_from_outbox.sql): claimed
 * (claimed_at, attempts), sent (sent_at, provider id, parts) and the receipt
 * that settled it (final_at, status, provider_error). Writing those as event
 * rows too cost a statement and an index entry each per SMS. An attempt that
 * ends any other way is written out as events when it ends (OUTBOX_STEPS with
 * INSERT), so a later attempt cannot overwrite it. SQLite text; PostgreSQL
 * translates it (postgres/console.ts translate) or writes $n for @row.
 */

/** Outbox columns of a row claimed, sent and settled: what the event of each step said. */
const STEPS = [
  { step: 1, at: 'claimed_at', type: `'claimed'`, detail: `'attempt ' || attempts`, when: 'TRUE' },
  {
    step: 2, at: 'sent_at', type: `'sent'`,
    detail: `'provider id ' || provider_message_id || CASE WHEN parts > 1 THEN ' (' || parts || ' parts)' ELSE '' END`,
    // Every other way out of 'sending' clears claim_event: a row past it was sent.
    when: `status != 'sending'`,
  },
  { step: 3, at: 'final_at', type: 'status', detail: 'provider_error', when: `status IN ('delivered', 'failed', 'expired', 'rejected')` },
];

/**
 * The steps of the current attempt of outbox row `row` (a parameter), as
 * event-shaped rows (pos, step, id NULL, at, outbox_id, message_id, type,
 * detail), in order. `onlyStep` 1: just the claim (an attempt that ends unsent).
 */
export function outboxStepsSql(row: string, onlyStep?: number): string {
  return STEPS.filter((s) => onlyStep === undefined || s.step === onlyStep)
    .map((s) => `SELECT claim_event AS pos, ${s.step} AS step, NULL AS id, ${s.at} AS at, id AS outbox_id, message_id, ${s.type} AS type, ${s.detail} AS detail
        FROM outbox WHERE id = ${row} AND claim_event IS NOT NULL AND ${s.when}`)
    .join('\n      UNION ALL ');
}

/**
 * Outbox row `row`'s events and its current attempt's steps, oldest first
 * (pos, step order them; a caller may append LIMIT). One compound SELECT, so
 * each side reads its own index and only their few rows are sorted.
 */
export const rowEventsSql = (row: string) => `SELECT id AS pos, 0 AS step, id, at, outbox_id AS outboxId, message_id, type, detail FROM events WHERE outbox_id = ${row}
      UNION ALL ${outboxStepsSql(row)}
      ORDER BY pos, step`;

/**
 * Writes the current attempt's steps out as events, before the row's next
 * attempt or its retry by hand would overwrite them; `onlyStep` 1: the claim
 * alone; `where`: only when this holds.
 */
export const writeStepsSql = (row: string, options: { onlyStep?: number; where?: string } = {}) =>
  `INSERT INTO events (at, outbox_id, message_id, type, detail) SELECT at, outbox_id, message_id, type, detail
    FROM (${outboxStepsSql(row, options.onlyStep)}) AS steps${options.where ? ` WHERE ${options.where}` : ''} ORDER BY step`;

/** A queue row's last event: a row being sent was last claimed (its steps), any other the newest event row. */
export const LAST_EVENT_SQL = `CASE WHEN o.claim_event IS NOT NULL THEN json_object('at', o.claimed_at, 'type', 'claimed', 'detail', 'attempt ' || o.attempts)
       ELSE (SELECT json_object('at', e.at, 'type', e.type, 'detail', e.detail) FROM events e WHERE e.outbox_id = o.id ORDER BY e.id DESC LIMIT 1) END`;

/**
 * An attempt that ends unsent (retry, held, unknown, failed) written out: its
 * claim, then `type` with `detail` — both only when the row is in one of
 * `statuses` (the ending's own condition), in one statement. The caller's
 * UPDATE then clears claim_event.
 */
export const endAttemptSql = (p: { row: string; now: string; type: string; detail: string; statuses: string }) =>
  `INSERT INTO events (at, outbox_id, message_id, type, detail) SELECT at, outbox_id, message_id, type, detail FROM (
      ${outboxStepsSql(p.row, 1)} AND status IN ${p.statuses}
      UNION ALL SELECT NULL, 4, NULL, ${p.now}, id, NULL, ${p.type}, ${p.detail} FROM outbox WHERE id = ${p.row} AND status IN ${p.statuses}) AS steps
    ORDER BY step`;
