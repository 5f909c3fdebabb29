import type { Db } from './db.js';
import type { ForwardedReply } from '../conversation.js';
import type { DueReport, LastSms, OutboxStatus, ReplyForwardNote } from '../types.js';

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
  /** The newest SMS handed to the provider for this number that came from an email or an automation, with that mail's details. */
  lastSmsTo(recipient: string): LastSms | undefined;
  noteReplyForward(inboundId: number, forward: ReplyForwardNote): void;
  forwardedReply(inboundId: number): ForwardedReply | undefined;
}

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

export function createNotifyQueries(db: Db): NotifyQueries {
  const stmt = {
    due: db.prepare(DUE_REPORTS_SQL),
    outcomes: db.prepare(
      `SELECT recipient, status, reason, coalesce(final_at, sent_at, updated_at) AS at, via_groups AS groups
         FROM outbox WHERE message_id = ? ORDER BY id`,
    ),
    markReported: db.prepare('UPDATE messages SET report_sent_at = ? WHERE id = ? AND report_sent_at IS NULL'),
    insertEvent: db.prepare(`INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES (?, NULL, ?, 'report', ?)`),
    lastSms: db.prepare(LAST_SMS_SQL),
    forwardedReply: db.prepare(FORWARDED_REPLY_SQL),
    noteReplyForward: db.prepare(NOTE_REPLY_FORWARD_SQL),
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
    noteReplyForward(inboundId, forward) {
      stmt.noteReplyForward.run(forward.token, forward.mailTo, forward.setupId, inboundId);
    },
    forwardedReply(inboundId) {
      return stmt.forwardedReply.get(inboundId) as ForwardedReply | undefined;
    },
  };
}

/** The shared SQL above in PostgreSQL's parameter style: its n-th ? becomes $n. */
export function postgresParams(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
