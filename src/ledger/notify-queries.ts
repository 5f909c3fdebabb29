import type { Db } from './db.js';
import type { DueReport, LastSms, OutboxStatus } from './types.js';

/*
 * The ledger's side of the email notifications (src/notify/): which reports are
 * due, marking them done, and which mail is behind the last SMS to a number.
 * Plain synchronous functions over prepared statements; sqlite.ts decides which
 * run as reads and which go through its group commit.
 */

export interface NotifyQueries {
  /**
   * Messages whose report is due, oldest first, at most `limit`. Due: a report
   * was asked for (report_mode) and not yet sent, no outbox row is queued or
   * being sent, and every row in `sent` was sent at or before `sentBefore`: a
   * provider may never send a receipt, and waiting for one must not hold the
   * report forever.
   */
  dueReports(limit: number, sentBefore: number): DueReport[];
  /** Marks one report done (sent, or given up on) with an event saying which; false if it already was. */
  markReported(queueId: string, note: string, now: number): boolean;
  /** The newest SMS handed to the provider for this number that came from an email, with that email's details. */
  lastSmsTo(recipient: string): LastSms | undefined;
}

// Walks the partial index messages_report_pending in received_at order (the
// WHERE repeats the index's own condition, which is what lets SQLite use it),
// so the cost is the number of reports still pending, not the size of the
// table. A message with rows still in flight is checked and skipped through
// outbox_message. test/notify-ledger.test.ts holds the plan to this.
export const DUE_REPORTS_SQL = `SELECT m.id AS queueId, m.setup_id AS setupId, m.mail_from AS mailFrom, m.header_message_id AS headerMessageId,
       m.subject, m.report_mode AS mode, m.received_at AS receivedAt
  FROM messages m
 WHERE m.report_mode IS NOT NULL AND m.report_sent_at IS NULL
   AND NOT EXISTS (
     SELECT 1 FROM outbox o
      WHERE o.message_id = m.id
        AND (o.status IN ('queued', 'sending') OR (o.status = 'sent' AND o.sent_at > @sentBefore)))
 ORDER BY m.received_at
 LIMIT @limit`;

export function createNotifyQueries(db: Db): NotifyQueries {
  const stmt = {
    due: db.prepare(DUE_REPORTS_SQL),
    outcomes: db.prepare(
      `SELECT recipient, status, reason, coalesce(final_at, sent_at, updated_at) AS at, via_groups AS groups
         FROM outbox WHERE message_id = ? ORDER BY id`,
    ),
    markReported: db.prepare('UPDATE messages SET report_sent_at = ? WHERE id = ? AND report_sent_at IS NULL'),
    insertEvent: db.prepare(`INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES (?, NULL, ?, 'report', ?)`),
    // Only email-borne SMS have someone to forward a reply to (answers to
    // keywords have mail_from ''). outbox_recipient narrows to this number's rows;
    // sorting those by sent_at is small.
    lastSms: db.prepare(
      `SELECT o.message_id AS queueId, o.sent_at AS sentAt, m.setup_id AS setupId, m.mail_from AS mailFrom,
              m.header_message_id AS headerMessageId, m.subject, m.sender_name AS senderName
         FROM outbox o JOIN messages m ON m.id = o.message_id
        WHERE o.recipient = ? AND o.status IN ('sent', 'delivered') AND m.mail_from != ''
        ORDER BY o.sent_at DESC, o.id DESC
        LIMIT 1`,
    ),
  };

  return {
    dueReports(limit, sentBefore) {
      const rows = stmt.due.all({ limit, sentBefore }) as Omit<DueReport, 'outcomes'>[];
      return rows.map((row) => ({
        ...row,
        outcomes: stmt.outcomes.all(row.queueId) as DueReport['outcomes'],
      }));
    },
    markReported(queueId, note, now) {
      if (stmt.markReported.run(now, queueId).changes === 0) return false;
      stmt.insertEvent.run(now, queueId, note);
      return true;
    },
    lastSmsTo(recipient) {
      return stmt.lastSms.get(recipient) as LastSms | undefined;
    },
  };
}
