import { OUTCOME_STATUSES, type MailData } from './console-types.js';
import { LAST_EVENT_SQL, rowEventsSql } from './row-events.js';
import { HISTORY_KEY_SQL, historySql } from './history.js';
import { waitingStateSql } from './queue-state.js';

/*
 * The statements of the operations console's pages, in SQLite's text:
 * sqlite/console-queries.ts runs them as they are, postgres/console.ts
 * translates them (@name → $n, strftime, json_object), so both backends show
 * the same pages.
 */

const IN_OUTCOMES = `status IN (${OUTCOME_STATUSES.map((s) => `'${s}'`).join(', ')})`;

const QUEUE_ROW = `SELECT o.id AS outboxId, o.message_id AS queueId, coalesce(o.setup_id, m.setup_id) AS setupId, o.recipient, o.status, o.attempts,
       o.created_at AS createdAt, o.next_attempt_at AS nextAttemptAt, o.lease_until AS leaseUntil, o.reason,
       m.send_at AS sendAt, m.expires_at AS expiresAt,
       ${LAST_EVENT_SQL} AS lastEvent
  FROM outbox o JOIN messages m ON m.id = o.message_id`;

/** An event of a mail's page with where it stands: its id, or for a step read from an outbox row the row's claim_event and the step. */
export type PlacedEvent = MailData['events'][number] & { pos: number; step: number };

/** A mail's events (rowEvents, mailEvents) in the order they happened, as the page shows them. */
export const orderEvents = (events: PlacedEvent[]): MailData['events'] =>
  events.sort((a, b) => a.pos - b.pos || a.step - b.step).map(({ id, at, outboxId, type, detail }) => ({ id, at, outboxId, type, detail }));

/** Every statement the console runs; test/console-ledger.test.ts holds their plans to indexes. */
export const CONSOLE_SQL = {
  // The states of queue-state.ts, counted; the oldest is of the rows due now (what "waiting too long" means).
  // MATERIALIZED: each row's state is worked out once (flattened, SQLite repeated it per sum). It walks the
  // partial index outbox_due_by_setup; only rows not yet due look up their message's send_at, by primary key.
  queuedBySetup: `WITH q AS MATERIALIZED (SELECT o.setup_id AS "setupId", o.created_at AS "createdAt", ${waitingStateSql('@now')} AS state
                FROM outbox o WHERE o.status = 'queued')
     SELECT "setupId", sum(CASE WHEN state = 'queued' THEN 1 ELSE 0 END) AS queued,
            sum(CASE WHEN state = 'scheduled' THEN 1 ELSE 0 END) AS scheduled, sum(CASE WHEN state = 'deferred' THEN 1 ELSE 0 END) AS deferred,
            sum(CASE WHEN state = 'retrying' THEN 1 ELSE 0 END) AS retrying, min(CASE WHEN state = 'queued' THEN "createdAt" END) AS "oldestQueuedAt"
       FROM q GROUP BY "setupId"`,
  sendingBySetup: `SELECT setup_id AS setupId, count(*) AS sending FROM outbox WHERE status = 'sending' GROUP BY setup_id`,
  // The expression and condition repeat outbox_outcome_at's, which is what lets SQLite use it.
  outcomes: `SELECT status, coalesce(reason, '') AS reason, count(*) AS count FROM outbox
      WHERE ${IN_OUTCOMES} AND coalesce(final_at, created_at) >= @since
      GROUP BY status, reason ORDER BY count DESC, status, reason LIMIT 50`,
  sending: `${QUEUE_ROW} WHERE o.status = 'sending' ORDER BY o.lease_until LIMIT @limit`,
  waitingFirst: `${QUEUE_ROW} WHERE o.status = 'queued' ORDER BY o.next_attempt_at, o.id LIMIT @limit`,
  waitingAfter: `${QUEUE_ROW} WHERE o.status = 'queued' AND (o.next_attempt_at > @at OR (o.next_attempt_at = @at AND o.id > @id))
      ORDER BY o.next_attempt_at, o.id LIMIT @limit`,
  message: `SELECT id AS queueId, received_at AS receivedAt, setup_id AS setupId, mail_from AS mailFrom, header_message_id AS headerMessageId,
            subject, sender_name AS senderName, sms_text AS text, encoding, segments, characters, session_ref AS sessionRef,
            send_at AS sendAt, expires_at AS expiresAt, report_mode AS reportMode, report_sent_at AS reportSentAt,
            automation_id AS automationId
       FROM messages WHERE id = ?`,
  rows: `SELECT id, recipient, status, reason, blocked_until AS blockedUntil, attempts, provider_message_id AS providerMessageId, parts,
            provider_error AS providerError, created_at AS createdAt, next_attempt_at AS nextAttemptAt, sent_at AS sentAt, final_at AS finalAt
       FROM outbox WHERE message_id = ? ORDER BY id LIMIT 1000`,
  receipts: `SELECT id, received_at AS receivedAt, provider_message_id AS providerMessageId, status, error_code AS errorCode, outcome, part, parts
       FROM receipts WHERE provider_message_id = ? ORDER BY id LIMIT 100`,
  // A row's events and the steps its outbox row says (row-events.ts); pos and step order them among the mail's (orderEvents).
  rowEvents: `${rowEventsSql('@row')} LIMIT @limit`,
  mailEvents: `SELECT id AS pos, 0 AS step, id, at, outbox_id AS outboxId, type, detail FROM events WHERE message_id = ? AND outbox_id IS NULL ORDER BY id LIMIT 100`,
  // A number's history by key (history.ts): the newest page, the page before a key, and the key an old page number starts after.
  historyFirst: historySql('first'),
  historyBefore: historySql('before'),
  historyKey: HISTORY_KEY_SQL,
  byQueueId: 'SELECT id FROM messages WHERE id = ?',
  bySessionRef: 'SELECT id FROM messages WHERE session_ref = ? ORDER BY received_at LIMIT 100',
} as const;
