import type { Db } from './db.js';
import { rowEventsSql, writeStepsSql } from '../row-events.js';
import type { MailStatus, OutboxStatus, QueueEntry, QueueFilter, Requester } from '../types.js';
import { waitingStateSql } from '../queue-state.js';

/*
 * Looking up one mail and the queue, and the two hand repairs (cancel,
 * retry). Rarely run, so statements are prepared per call; every query walks
 * an index (outbox_queued, outbox by message, events_outbox).
 */

type Row = { id: number; recipient: string; status: OutboxStatus };

/** Why a queued row waits (../queue-state.ts: one rule for the CLI and the console). */
const WAITING = waitingStateSql('@now');

export function createQueueAdmin(db: Db) {
  function mailStatus(queueId: string): MailStatus | undefined {
    const message = db
      .prepare(`SELECT id AS queueId, setup_id AS setupId, mail_from AS mailFrom, received_at AS receivedAt, subject, sms_text AS text,
                send_at AS sendAt, expires_at AS expiresAt FROM messages WHERE id = ?`)
      .get(queueId) as Omit<MailStatus, 'recipients'> | undefined;
    if (!message) return undefined;
    const rows = db
      .prepare(`SELECT id AS outboxId, recipient, status, reason, attempts, provider_message_id AS providerMessageId, sent_at AS sentAt, final_at AS finalAt
                FROM outbox WHERE message_id = ? ORDER BY id`)
      .all(queueId) as Omit<MailStatus['recipients'][number], 'receipts' | 'events'>[];
    const receipts = db.prepare(
      `SELECT received_at AS at, status, error_code AS errorCode, part, outcome FROM receipts WHERE provider_message_id = ? ORDER BY id`,
    );
    // Its events and the steps its outbox row says (../row-events.ts).
    const events = db.prepare(rowEventsSql('@row'));
    return {
      ...message,
      recipients: rows.map((row) => ({
        ...row,
        receipts: row.providerMessageId ? (receipts.all(row.providerMessageId) as MailStatus['recipients'][number]['receipts']) : [],
        events: (events.all({ row: row.outboxId }) as MailStatus['recipients'][number]['events']).map(({ at, type, detail }) => ({ at, type, detail })),
      })),
    };
  }

  function listQueue(filter: QueueFilter, now: number): QueueEntry[] {
    const statuses = filter.state === 'failed' ? `o.status = 'failed'` : `o.status IN ('queued', 'sending')`;
    return db
      .prepare(
        `SELECT * FROM (
           SELECT o.message_id AS queueId, o.id AS outboxId, o.recipient, o.setup_id AS setupId, ${WAITING} AS state, o.reason, o.attempts,
                  o.created_at AS createdAt, CASE WHEN o.status = 'queued' THEN o.next_attempt_at END AS nextAttemptAt
           FROM outbox o JOIN messages m ON m.id = o.message_id
           WHERE ${statuses} AND (@setupId IS NULL OR o.setup_id = @setupId))
         WHERE (@state IS NULL OR state = @state) ORDER BY createdAt, outboxId LIMIT @limit`,
      )
      .all({ now, setupId: filter.setupId ?? null, state: filter.state ?? null, limit: filter.limit }) as QueueEntry[];
  }

  function rowsOf(queueId: string, recipient: string | undefined): Row[] {
    return db
      .prepare('SELECT id, recipient, status FROM outbox WHERE message_id = @queueId AND (@recipient IS NULL OR recipient = @recipient) ORDER BY id')
      .all({ queueId, recipient: recipient ?? null }) as Row[];
  }

  function cancel(queueId: string, recipient: string | undefined, by: Requester, now: number) {
    const end = db.prepare(
      `UPDATE outbox SET status = 'suppressed', reason = 'cancelled', final_at = @now, updated_at = @now, lease_until = NULL WHERE id = @id AND status = 'queued'`,
    );
    const release = db.prepare(`UPDATE sends SET state = 'released', released_at = ? WHERE outbox_id = ? AND state = 'reserved'`);
    const event = db.prepare(`INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES (?, ?, ?, 'cancelled', ?)`);
    const cancelled: string[] = [];
    const notCancelled: { recipient: string; status: OutboxStatus }[] = [];
    for (const row of rowsOf(queueId, recipient)) {
      // A row being sent is not cancelled: the provider may already have it.
      if (end.run({ id: row.id, now }).changes === 0) {
        notCancelled.push({ recipient: row.recipient, status: row.status });
        continue;
      }
      release.run(now, row.id);
      event.run(now, row.id, queueId, `by ${by.who}: ${by.why}`);
      cancelled.push(row.recipient);
    }
    return { cancelled, notCancelled };
  }

  function retryFailed(queueId: string, recipient: string | undefined, by: Requester, now: number) {
    // A row failed by a receipt was sent: that attempt's steps (../row-events.ts) are written out before the next one overwrites them.
    const writeSteps = db.prepare(writeStepsSql('@id', { where: `EXISTS (SELECT 1 FROM outbox WHERE id = @id AND status = 'failed')` }));
    const requeue = db.prepare(
      `UPDATE outbox SET status = 'queued', next_attempt_at = @now, final_at = NULL, updated_at = @now, lease_until = NULL, claim_event = NULL
        WHERE id = @id AND status = 'failed'`,
    );
    const reserve = db.prepare(`UPDATE sends SET state = 'reserved', released_at = NULL, reserved_at = ? WHERE outbox_id = ?`);
    const event = db.prepare(`INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES (?, ?, ?, 'retry requested', ?)`);
    const retried: string[] = [];
    const notRetried: { recipient: string; status: OutboxStatus }[] = [];
    for (const row of rowsOf(queueId, recipient)) {
      writeSteps.run({ id: row.id });
      if (requeue.run({ id: row.id, now }).changes === 0) {
        notRetried.push({ recipient: row.recipient, status: row.status });
        continue;
      }
      // The same row and idempotency key: a provider that took the first try deduplicates this one.
      reserve.run(now, row.id);
      event.run(now, row.id, queueId, `by ${by.who}: ${by.why}`);
      retried.push(row.recipient);
    }
    return { retried, notRetried };
  }

  return { mailStatus, listQueue, cancel, retryFailed };
}
