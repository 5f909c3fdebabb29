/*
 * Upkeep: ledger growth is bounded by deleting finished rows older than a
 * cutoff. Kept whatever their age: consent events (they are evidence) and the
 * inbound SMS they cite; rows still queued, being sent, or changed since the
 * cutoff; messages whose report is still due; and, per number and marketing
 * purpose, the newest send (it is what keeps an opt-in fresh: stale consent).
 * The cooldown and the daily caps look back at most 24 hours and the shortest
 * cutoff allowed is longer (MIN_RETENTION_MS).
 *
 * The statements are plain SQL that both backends run (@cutoff becomes $1 on
 * PostgreSQL), in this order (foreign keys), in one transaction.
 */

export const MIN_RETENTION_MS = 2 * 86_400_000;

const DOOMED_MESSAGES = `SELECT m.id FROM messages m
  WHERE m.received_at < @cutoff AND (m.report_mode IS NULL OR m.report_sent_at IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id AND (o.status IN ('queued', 'sending') OR o.updated_at >= @cutoff))`;
const DOOMED_OUTBOX = `SELECT id FROM outbox WHERE message_id IN (${DOOMED_MESSAGES})`;
const NEWEST_PER_PURPOSE = `SELECT max(id) FROM sends WHERE state = 'sent' AND purpose IS NOT NULL GROUP BY recipient, purpose`;

export const PURGE_STEPS: readonly { what: string; sql: string; counted: boolean }[] = [
  { what: 'sends kept for stale consent', counted: false, sql: `UPDATE sends SET outbox_id = NULL WHERE outbox_id IN (${DOOMED_OUTBOX}) AND id IN (${NEWEST_PER_PURPOSE})` },
  { what: 'sends', counted: true, sql: `DELETE FROM sends WHERE outbox_id IN (${DOOMED_OUTBOX})` },
  {
    what: 'sends',
    counted: true,
    sql: `DELETE FROM sends WHERE outbox_id IS NULL AND reserved_at < @cutoff AND coalesce(sent_at, reserved_at) < @cutoff
            AND (purpose IS NULL OR state != 'sent' OR id NOT IN (${NEWEST_PER_PURPOSE}))`,
  },
  { what: 'receipt parts', counted: false, sql: `DELETE FROM receipt_parts WHERE outbox_id IN (${DOOMED_OUTBOX})` },
  { what: 'events', counted: true, sql: `DELETE FROM events WHERE outbox_id IN (${DOOMED_OUTBOX}) OR (outbox_id IS NULL AND message_id IN (${DOOMED_MESSAGES}))` },
  { what: 'outbox rows', counted: true, sql: `DELETE FROM outbox WHERE message_id IN (${DOOMED_MESSAGES})` },
  { what: 'messages', counted: true, sql: `DELETE FROM messages WHERE id IN (${DOOMED_MESSAGES}) AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = messages.id)` },
  { what: 'receipts', counted: true, sql: `DELETE FROM receipts WHERE received_at < @cutoff` },
  {
    what: 'inbound SMS',
    counted: true,
    sql: `DELETE FROM inbound_messages WHERE received_at < @cutoff
            AND NOT EXISTS (SELECT 1 FROM consent_events c WHERE c.inbound_id = inbound_messages.id)`,
  },
];

export type PurgeReport = Record<string, number>;

export function addCount(report: PurgeReport, what: string, n: number): void {
  report[what] = (report[what] ?? 0) + n;
}
