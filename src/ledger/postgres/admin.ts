import type { MailStatus, OutboxStatus, QueueEntry, QueueFilter, Requester } from '../types.js';
import { inTransaction, type PgClient, type PgPool } from './pool.js';
import { rowEventsSql, writeStepsSql } from '../row-events.js';
import { waitingStateSql } from '../queue-state.js';

/*
 * ../sqlite/admin.ts on PostgreSQL: one mail, the queue, and the two hand
 * repairs. The repairs lock the rows they change (FOR UPDATE), so a claim by
 * another daemon and a cancel do not both win.
 */

type Row = { id: number; recipient: string; status: OutboxStatus };

/** Why a queued row waits (../queue-state.ts: one rule for the CLI and the console). */
const WAITING = waitingStateSql('$1');

const WRITE_FAILED_STEPS = writeStepsSql('$1', { where: `EXISTS (SELECT 1 FROM outbox WHERE id = $1 AND status = 'failed')` });

export function createPgQueueAdmin(pool: PgPool) {
  async function mailStatus(queueId: string): Promise<MailStatus | undefined> {
    const [message] = (await pool.query<Omit<MailStatus, 'recipients'>>(
      `SELECT id AS "queueId", setup_id AS "setupId", mail_from AS "mailFrom", received_at AS "receivedAt", subject, sms_text AS text,
              send_at AS "sendAt", expires_at AS "expiresAt" FROM messages WHERE id = $1`, [queueId])).rows;
    if (!message) return undefined;
    const rows = (await pool.query<Omit<MailStatus['recipients'][number], 'receipts' | 'events'>>(
      `SELECT id AS "outboxId", recipient, status, reason, attempts, provider_message_id AS "providerMessageId", sent_at AS "sentAt", final_at AS "finalAt"
         FROM outbox WHERE message_id = $1 ORDER BY id`, [queueId])).rows;
    const recipients: MailStatus['recipients'] = [];
    for (const row of rows) {
      const receipts = row.providerMessageId
        ? (await pool.query(`SELECT received_at AS at, status, error_code AS "errorCode", part, outcome FROM receipts WHERE provider_message_id = $1 ORDER BY id`,
            [row.providerMessageId])).rows
        : [];
      // Its events and the steps its outbox row says (../row-events.ts).
      const events = (await pool.query<MailStatus['recipients'][number]['events'][number]>(rowEventsSql('$1'), [row.outboxId])).rows
        .map(({ at, type, detail }) => ({ at, type, detail }));
      recipients.push({ ...row, receipts, events } as MailStatus['recipients'][number]);
    }
    return { ...message, recipients };
  }

  async function listQueue(filter: QueueFilter, now: number): Promise<QueueEntry[]> {
    const statuses = filter.state === 'failed' ? `o.status = 'failed'` : `o.status IN ('queued', 'sending')`;
    return (await pool.query<QueueEntry>(
      `SELECT * FROM (
         SELECT o.message_id AS "queueId", o.id AS "outboxId", o.recipient, o.setup_id AS "setupId", ${WAITING} AS state, o.reason, o.attempts,
                o.created_at AS "createdAt", CASE WHEN o.status = 'queued' THEN o.next_attempt_at END AS "nextAttemptAt"
         FROM outbox o JOIN messages m ON m.id = o.message_id
         WHERE ${statuses} AND ($2::text IS NULL OR o.setup_id = $2)) q
       WHERE ($3::text IS NULL OR state = $3) ORDER BY "createdAt", "outboxId" LIMIT $4`,
      [now, filter.setupId ?? null, filter.state ?? null, filter.limit],
    )).rows;
  }

  const rowsOf = async (client: PgClient, queueId: string, recipient: string | undefined) =>
    (await client.query<Row>('SELECT id, recipient, status FROM outbox WHERE message_id = $1 AND ($2::text IS NULL OR recipient = $2) ORDER BY id FOR UPDATE',
      [queueId, recipient ?? null])).rows;

  const cancel = (queueId: string, recipient: string | undefined, by: Requester, now: number) =>
    inTransaction(pool, async (client) => {
      const cancelled: string[] = [];
      const notCancelled: { recipient: string; status: OutboxStatus }[] = [];
      for (const row of await rowsOf(client, queueId, recipient)) {
        const ended = await client.query(
          `UPDATE outbox SET status = 'suppressed', reason = 'cancelled', final_at = $2, updated_at = $2, lease_until = NULL WHERE id = $1 AND status = 'queued'`,
          [row.id, now]);
        // A row being sent is not cancelled: the provider may already have it.
        if (!ended.rowCount) {
          notCancelled.push({ recipient: row.recipient, status: row.status });
          continue;
        }
        await client.query(`UPDATE sends SET state = 'released', released_at = $1 WHERE outbox_id = $2 AND state = 'reserved'`, [now, row.id]);
        await client.query(`INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES ($1, $2, $3, 'cancelled', $4)`, [now, row.id, queueId, `by ${by.who}: ${by.why}`]);
        cancelled.push(row.recipient);
      }
      return { cancelled, notCancelled };
    });

  const retryFailed = (queueId: string, recipient: string | undefined, by: Requester, now: number) =>
    inTransaction(pool, async (client, tx) => {
      const retried: string[] = [];
      const notRetried: { recipient: string; status: OutboxStatus }[] = [];
      for (const row of await rowsOf(client, queueId, recipient)) {
        // A row failed by a receipt was sent: that attempt's steps are written out before the next one overwrites them.
        await client.query(WRITE_FAILED_STEPS, [row.id]);
        const requeued = await client.query(
          `UPDATE outbox SET status = 'queued', next_attempt_at = $2, final_at = NULL, updated_at = $2, lease_until = NULL, claim_event = NULL
            WHERE id = $1 AND status = 'failed'`,
          [row.id, now]);
        if (!requeued.rowCount) {
          notRetried.push({ recipient: row.recipient, status: row.status });
          continue;
        }
        // The same row and idempotency key: a provider that took the first try deduplicates this one.
        await client.query(`UPDATE sends SET state = 'reserved', released_at = NULL, reserved_at = $1 WHERE outbox_id = $2`, [now, row.id]);
        await client.query(`INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES ($1, $2, $3, 'retry requested', $4)`, [now, row.id, queueId, `by ${by.who}: ${by.why}`]);
        retried.push(row.recipient);
      }
      if (retried.length > 0) tx.notifyOnCommit('mail2sms_queued');
      return { retried, notRetried };
    });

  return { mailStatus, listQueue, cancel, retryFailed };
}
