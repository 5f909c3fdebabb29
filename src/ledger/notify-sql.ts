/*
 * The statements of the ledger's side of the email notifications, in SQL both
 * backends run: sqlite/notify-queries.ts as written, postgres/ledger.ts through
 * postgresParams.
 */

/**
 * The newest SMS to a number that someone is behind: an email's, or an
 * automation's run (answers to keywords have mail_from '' and no run). A reply
 * goes with the newest of them, so an answer to a newer automation SMS is never
 * threaded under an older, unrelated mail. automation_runs is one row per
 * scheduled occurrence, and the lookup runs for the one message found.
 */
export const LAST_SMS_SQL = `SELECT o.message_id AS "queueId", o.sent_at AS "sentAt", m.setup_id AS "setupId", m.mail_from AS "mailFrom",
       m.header_message_id AS "headerMessageId", m.subject, m.sender_name AS "senderName",
       (SELECT r.automation_id FROM automation_runs r WHERE r.message_id = m.id LIMIT 1) AS "automationId"
  FROM outbox o JOIN messages m ON m.id = o.message_id
 WHERE o.recipient = ? AND o.status IN ('sent', 'delivered')
   AND (m.mail_from != '' OR EXISTS (SELECT 1 FROM automation_runs r WHERE r.message_id = m.id))
 ORDER BY o.sent_at DESC, o.id DESC LIMIT 1`;

export const FORWARDED_REPLY_SQL = `SELECT sender, received_at AS "receivedAt", forward_token AS "forwardToken",
       forward_mail_to AS "forwardMailTo", forward_setup AS "forwardSetup"
  FROM inbound_messages WHERE id = ?`;

export const NOTE_REPLY_FORWARD_SQL = 'UPDATE inbound_messages SET forward_token = ?, forward_mail_to = ?, forward_setup = ? WHERE id = ?';

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

/** This file's SQL in PostgreSQL's parameter style: its n-th ? becomes $n. */
export function postgresParams(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
