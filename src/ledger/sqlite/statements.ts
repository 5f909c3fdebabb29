import type { Db } from '../db.js';
import { COUNTED_PART, insertReceiptSql } from '../receipt-outcome.js';
import { endAttemptSql, writeStepsSql } from '../row-events.js';

const INSERT_MESSAGE = `INSERT INTO messages (id, received_at, setup_id, mail_from, header_message_id, body_hash, client_ip, session_ref,
    sender_name, sms_text, encoding, segments, characters, cooldown_ms, purpose, sms_text_no_clause,
    subject, expires_at, send_at, sending_window, on_unknown, report_mode)
  VALUES (@id, @receivedAt, @setupId, @mailFrom, @headerMessageId, @bodyHash, @clientIp, @sessionRef,
    @senderName, @text, @encoding, @segments, @characters, @cooldownMs, @purpose, @textNoClause,
    @subject, @expiresAt, @sendAt, @sendingWindow, @onUnknown, @reportMode)`;

/** A receipt for a provider id: its row, decided and stored in one statement (../receipt-outcome.ts). */
const RECEIVE = insertReceiptSql(
  { now: '@now', pid: '@pid', status: '@status', errorCode: '@errorCode', body: '@body', part: '@part', parts: '@parts', graceMs: '@graceMs' },
  '(SELECT id, status, parts FROM outbox WHERE provider_message_id = @pid)',
  (column) => `(SELECT ${column} FROM outbox WHERE provider_message_id = @pid)`,
);

/** What sending a leased row needs from its message: one primary-key probe each, inside the lease's RETURNING. */
const MESSAGE_DETAILS: [string, string][] = [
  ['senderName', 'sender_name'],
  ['text', 'CASE WHEN outbox.stop_clause = 0 AND m.sms_text_no_clause IS NOT NULL THEN m.sms_text_no_clause ELSE m.sms_text END'],
  ['setupId', 'setup_id'],
  ['cooldownMs', 'cooldown_ms'],
  ['purpose', 'purpose'],
  ['expiresAt', 'expires_at'],
  ['sendingWindow', 'sending_window'],
  ['onUnknown', 'on_unknown'],
  ['confirmsOptOut', "(setup_id = '(keywords)' AND session_ref LIKE 'inbound#%:opt-out')"],
];

/**
 * Leases the rows `pick` selects (ids) and returns each with its message's
 * details. The claim is an event read from the row (../row-events.ts):
 * claimed_at, and claim_event where it stands among the row's events. Two scans rather than one with OR: each walks its partial index in
 * order and stops at the limit, where an OR would collect every due row and
 * sort them. The rows come back in no set order: dueAt sorts them.
 */
const leaseSql = (pick: string) =>
  `UPDATE outbox SET status = 'sending', lease_until = @leaseUntil, attempts = attempts + 1, updated_at = @now,
      claimed_at = @now, claim_event = (SELECT coalesce(max(id), 0) FROM events)
    WHERE id IN (${pick})
    RETURNING id, message_id AS queueId, recipient, idempotency_key AS idempotencyKey, attempts, stop_clause AS stopClause,
      created_at AS createdAt, next_attempt_at AS dueAt, sms_text AS ownText, sms_text_no_clause AS ownTextNoClause,
      ${MESSAGE_DETAILS.map(([alias, column]) => `(SELECT ${column} FROM messages m WHERE m.id = outbox.message_id) AS ${alias}`).join(', ')}`;

/** Every statement the SQLite ledger runs, prepared once per database. */
export function prepareStatements(db: Db) {
  return {
    insertMessage: db.prepare(INSERT_MESSAGE),
    // Intake's insert also answers "is this a retried mail?": the rows of the
    // last 24 hours with any of the mail's dedup keys (@keys, a JSON array;
    // NULL without a Message-ID), as JSON [[key, queue id], …]. One statement
    // where a lookup per recipient used to precede the insert.
    insertMessageOnce: db.prepare(
      `${INSERT_MESSAGE}
       RETURNING CASE WHEN @keys IS NOT NULL THEN
         (SELECT json_group_array(json_array(dedup_key, message_id)) FROM outbox
           WHERE dedup_key IN (SELECT value FROM json_each(@keys)) AND created_at > @since) END AS retried`,
    ),
    deleteMessage: db.prepare('DELETE FROM messages WHERE id = ?'),
    insertOutbox: db.prepare(
      `INSERT INTO outbox (message_id, recipient, status, reason, blocked_until, dedup_key, idempotency_key,
         created_at, updated_at, next_attempt_at, stop_clause, setup_id, sms_text, sms_text_no_clause, encoding, segments, characters, via_groups)
       VALUES (@queueId, @recipient, @status, @reason, @blockedUntil, @dedupKey, @idempotencyKey, @now, @now, @nextAttemptAt, @stopClause, @setupId,
         @text, @textNoClause, @encoding, @segments, @characters, @viaGroups)`,
    ),
    insertReservation: db.prepare(
      `INSERT INTO sends (recipient, channel, outbox_id, setup_id, state, reserved_at, purpose, due_at) VALUES (?, ?, ?, ?, 'reserved', ?, ?, ?)`,
    ),
    deferReservation: db.prepare(`UPDATE sends SET due_at = @at WHERE outbox_id = @id AND state = 'reserved'`),
    hadStopClause: db.prepare(
      `SELECT 1 FROM outbox WHERE recipient = ? AND stop_clause = 1 AND created_at > ? AND status NOT IN ('suppressed', 'failed', 'expired', 'rejected') LIMIT 1`,
    ).pluck(),
    insertInbound: db.prepare(
      `INSERT INTO inbound_messages (received_at, provider_id, sender, recipient, text, keyword, action)
       VALUES (@receivedAt, @providerId, @from, @to, @text, @kind, @action)
       ON CONFLICT (provider_id) DO NOTHING`,
    ),
    inboundByProviderId: db.prepare('SELECT id, action FROM inbound_messages WHERE provider_id = ?'),
    inboundById: db.prepare('SELECT sender, received_at AS receivedAt FROM inbound_messages WHERE id = ?'),
    suppressClaimed: db.prepare(
      `UPDATE outbox SET status = 'suppressed', reason = ?, blocked_until = ?, final_at = ?, updated_at = ?, lease_until = NULL, claim_event = NULL
        WHERE id = ? AND status = 'sending'`,
    ),
    // An attempt that ended unsent: its claim and its end as events (../row-events.ts); @queued: a queued row may end too (a failure).
    endAttempt: db.prepare(
      endAttemptSql({ row: '@id', now: '@now', type: '@type', detail: '@detail', statuses: `('sending', CASE WHEN @queued THEN 'queued' END)` }),
    ),
    insertEvent: db.prepare('INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
    // A claim leases its rows and reads what sending them needs in one
    // statement per kind of pick: rows whose lease ran out, due rows, or the
    // rows picked in turns between setups (@ids, a JSON array).
    // Rows whose lease ran out: their earlier claim is written out as an event before they are leased again (leasePicked).
    expiredLeases: db.prepare(`SELECT id FROM outbox WHERE status = 'sending' AND lease_until <= @now ORDER BY lease_until LIMIT @limit`).pluck(),
    writeClaim: db.prepare(writeStepsSql('@id', { onlyStep: 1 })),
    leaseDue: db.prepare(leaseSql(`SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= @now ORDER BY next_attempt_at LIMIT @limit`)),
    leasePicked: db.prepare(leaseSql('SELECT value FROM json_each(@ids)')),
    dueForSetup: db.prepare(
      `SELECT id FROM outbox WHERE status = 'queued' AND setup_id = @setupId AND next_attempt_at <= @now ORDER BY next_attempt_at LIMIT @limit`,
    ),
    queuedSetups: db.prepare(`SELECT DISTINCT setup_id AS setupId FROM outbox WHERE status = 'queued'`).pluck(),
    defer: db.prepare(
      `UPDATE outbox SET status = 'queued', next_attempt_at = @at, attempts = attempts - 1, lease_until = NULL, updated_at = @now, claim_event = NULL
        WHERE id = @id AND status = 'sending'`,
    ),
    expire: db.prepare(
      `UPDATE outbox SET status = 'expired', reason = @reason, final_at = @now, updated_at = @now, lease_until = NULL, claim_event = NULL
        WHERE id = @id AND status IN ('queued', 'sending')`,
    ),
    markUnknown: db.prepare(
      `UPDATE outbox SET status = 'unknown', reason = ?, final_at = ?, updated_at = ?, lease_until = NULL, claim_event = NULL WHERE id = ? AND status = 'sending'`,
    ),
    // Everything a receipt is decided on, in one read: its row (all NULL when
    // the provider id is not known yet), the parts counted so far (when it
    // names a part: the receipts that counted one, see COUNTED_PART), whether
    // this very receipt came before (@body NULL: not asked), and since when
    // receipts for an unknown id have been parked.
    receiptFacts: db.prepare(
      `SELECT o.id, o.status, o.message_id AS queueId, o.parts,
              CASE WHEN @part IS NOT NULL AND o.id IS NOT NULL THEN
                (SELECT json_group_array(json_array(part, status, error_code)) FROM receipts
                  WHERE provider_message_id = @pid AND part IS NOT NULL AND outcome IN ${COUNTED_PART}) END AS seenParts,
              EXISTS (SELECT 1 FROM receipts WHERE provider_message_id = @pid AND status = @status AND part IS @part AND body = @body) AS replay,
              CASE WHEN o.id IS NULL THEN
                (SELECT min(received_at) FROM receipts WHERE provider_message_id = @pid AND outcome = 'parked') END AS parkedSince
         FROM (SELECT 1) LEFT JOIN outbox o ON o.provider_message_id = @pid`,
    ),
    parked: db.prepare(
      `SELECT id, status, error_code AS errorCode, part, parts, body FROM receipts WHERE provider_message_id = ? AND outcome = 'parked' ORDER BY id`,
    ),
    unpark: db.prepare('UPDATE receipts SET outcome = ? WHERE id = ?'),
    nextDue: db.prepare(
      `SELECT min(t) AS t FROM (
         SELECT min(next_attempt_at) AS t FROM outbox WHERE status = 'queued'
         UNION ALL SELECT min(lease_until) FROM outbox WHERE status = 'sending')`,
    ),
    markSent: db.prepare(
      // A retry's reason is history now (events keep it): a sent row carries none.
      // RETURNING says whether receipts beat this answer (parked): no second read when none did.
      `UPDATE outbox SET status = 'sent', reason = NULL, provider_message_id = @pid, parts = @parts, sent_at = @now, updated_at = @now, lease_until = NULL
        WHERE id = @id AND status = 'sending'
        RETURNING EXISTS (SELECT 1 FROM receipts WHERE provider_message_id = @pid AND outcome = 'parked') AS parked`,
    ),
    sendsSent: db.prepare(`UPDATE sends SET state = 'sent', sent_at = ? WHERE outbox_id = ? AND state = 'reserved'`),
    markRetry: db.prepare(
      `UPDATE outbox SET status = 'queued', reason = ?, next_attempt_at = ?, updated_at = ?, lease_until = NULL, claim_event = NULL
        WHERE id = ? AND status = 'sending'`,
    ),
    markFailed: db.prepare(
      `UPDATE outbox SET status = 'failed', reason = ?, final_at = ?, updated_at = ?, lease_until = NULL, claim_event = NULL
        WHERE id = ? AND status IN ('queued', 'sending')`,
    ),
    release: db.prepare(`UPDATE sends SET state = 'released', released_at = ? WHERE outbox_id = ? AND state != 'released'`),
    finish: db.prepare(
      `UPDATE outbox SET status = @status, final_at = @now, updated_at = @now, provider_error = @errorCode,
         reason = CASE WHEN @status != 'delivered' THEN 'provider: ' || @status || coalesce(' (' || @errorCode || ')', '') END
        WHERE id = @id
        RETURNING claim_event IS NOT NULL AS stepped`,
    ),
    countQueued: db.prepare(`SELECT count(*) AS n FROM outbox WHERE status = 'queued'`),
    countSending: db.prepare(`SELECT count(*) AS n FROM outbox WHERE status = 'sending'`),
    receive: db.prepare(RECEIVE),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
