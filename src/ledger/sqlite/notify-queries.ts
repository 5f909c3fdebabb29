import type { Db } from './db.js';
import type { ForwardedReply } from '../conversation.js';
import { DUE_REPORTS_SQL, FORWARDED_REPLY_SQL, LAST_SMS_SQL, NOTE_REPLY_FORWARD_SQL } from '../notify-sql.js';
import type { DueReport, LastSms, OutboxStatus, ReplyForwardNote } from '../types.js';

/*
 * The ledger's side of the email notifications (src/notify/): which reports are
 * due, marking them done, and which mail is behind the last SMS to a number.
 * Plain synchronous functions over prepared statements; ledger.ts decides which
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
