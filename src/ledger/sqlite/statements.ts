import type { Db } from './db.js';
import { COUNTED_PART, SQLITE_RECEIVED, sqliteReceiveSql } from '../receipt-outcome.js';
import { endAttemptSql, writeStepsSql } from '../row-events.js';

const INSERT_MESSAGE = `INSERT INTO messages (id, received_at, setup_id, mail_from, header_message_id, body_hash, client_ip, session_ref,
    sender_name, sms_text, encoding, segments, characters, cooldown_ms, purpose, sms_text_no_clause,
    subject, expires_at, send_at, sending_window, on_unknown, report_mode)
  VALUES (@id, @receivedAt, @setupId, @mailFrom, @headerMessageId, @bodyHash, @clientIp, @sessionRef,
    @senderName, @text, @encoding, @segments, @characters, @cooldownMs, @purpose, @textNoClause,
    @subject, @expiresAt, @sendAt, @sendingWindow, @onUnknown, @reportMode)`;

/** A receipt for a provider id: decided and stored in one statement (../receipt-outcome.ts). */
const RECEIVE = sqliteReceiveSql({
  now: '@now', pid: '@pid', status: '@status', errorCode: '@errorCode', body: '@body', part: '@part', parts: '@parts', graceMs: '@graceMs',
});

/** What sending a leased row needs from its message (m; o its outbox row). */
const MESSAGE_DETAILS: [string, string][] = [
  ['senderName', 'm.sender_name'],
  ['text', 'CASE WHEN o.stop_clause = 0 AND m.sms_text_no_clause IS NOT NULL THEN m.sms_text_no_clause ELSE m.sms_text END'],
  ['setupId', 'm.setup_id'],
  ['cooldownMs', 'm.cooldown_ms'],
  ['purpose', 'm.purpose'],
  ['expiresAt', 'm.expires_at'],
  ['sendingWindow', 'm.sending_window'],
  ['onUnknown', 'm.on_unknown'],
  ['confirmsOptOut', "(m.setup_id = '(keywords)' AND m.session_ref LIKE 'inbound#%:opt-out')"],
];

/**
 * A claim leases a row (LEASE), then reads it with its message's details
 * (LEASED). No RETURNING: SQLite buffers RETURNING rows in a temporary table,
 * whose fresh memory can cost tens of page faults per statement on a machine
 * where glibc gives the heap's top back after each (measured: ~0.8 ms); the
 * read by primary keys costs a few µs. The claim is an event read from the
 * row (../row-events.ts): claimed_at, and claim_event where it stands among
 * the row's events.
 */
const LEASE = `UPDATE outbox SET status = 'sending', lease_until = @leaseUntil, attempts = attempts + 1, updated_at = @now,
      claimed_at = @now, claim_event = (SELECT coalesce(max(id), 0) FROM events)
    WHERE id = @id`;
const LEASED = `SELECT o.id, o.message_id AS queueId, o.recipient, o.idempotency_key AS idempotencyKey, o.attempts, o.stop_clause AS stopClause,
      o.created_at AS createdAt, o.sms_text AS ownText, o.sms_text_no_clause AS ownTextNoClause,
      ${MESSAGE_DETAILS.map(([alias, column]) => `${column} AS ${alias}`).join(', ')}
    FROM outbox o JOIN messages m ON m.id = o.message_id WHERE o.id = ?`;

/** Intake's statements: a mail's message, outbox rows and reservations; inbound SMS. */
function intakeStatements(db: Db) {
  return {
    insertMessage: db.prepare(INSERT_MESSAGE),
    // Intake's insert also answers "is this a retried mail?": the rows of the
    // last 24 hours with the mail's dedup key, as JSON [[key, queue id], …].
    // One statement where a lookup per recipient used to precede the insert.
    // One recipient (the usual mail) compares its key (@key, NULL without a
    // Message-ID); more go as a JSON array (@keys) through json_each, which
    // costs a parse and a virtual table per mail.
    insertMessageOnce: db.prepare(
      `${INSERT_MESSAGE}
       RETURNING CASE WHEN @key IS NOT NULL THEN
         (SELECT json_group_array(json_array(dedup_key, message_id)) FROM outbox WHERE dedup_key = @key AND created_at > @since) END AS retried`,
    ),
    insertMessageOnceMany: db.prepare(
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
    inboundById: db.prepare(
      `SELECT sender, received_at AS receivedAt, forward_token AS forwardToken, forward_mail_to AS forwardMailTo, forward_setup AS forwardSetup
         FROM inbound_messages WHERE id = ?`,
    ),
  };
}

/** The queue's statements: claims, sends, retries and ends of a row. */
function queueStatements(db: Db) {
  return {
    suppressClaimed: db.prepare(
      `UPDATE outbox SET status = 'suppressed', reason = ?, blocked_until = ?, final_at = ?, updated_at = ?, lease_until = NULL, claim_event = NULL
        WHERE id = ? AND status = 'sending'`,
    ),
    // An attempt that ended unsent: its claim and its end as events (../row-events.ts); @queued: a queued row may end too (a failure).
    endAttempt: db.prepare(
      endAttemptSql({ row: '@id', now: '@now', type: '@type', detail: '@detail', statuses: `('sending', CASE WHEN @queued THEN 'queued' END)` }),
    ),
    insertEvent: db.prepare('INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
    // Rows whose lease ran out (expired 1) and due rows, each walking its
    // partial index in order up to the limit: one statement, two scans, where
    // an OR would collect every due row and sort them.
    pick: db.prepare(
      `SELECT id, 1 AS expired FROM (SELECT id FROM outbox WHERE status = 'sending' AND lease_until <= @now ORDER BY lease_until LIMIT @limit)
       UNION ALL
       SELECT id, 0 FROM (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= @now ORDER BY next_attempt_at LIMIT @limit)`,
    ),
    expiredLeases: db.prepare(`SELECT id FROM outbox WHERE status = 'sending' AND lease_until <= @now ORDER BY lease_until LIMIT @limit`).pluck(),
    // A row whose lease ran out: its earlier claim is written out as an event before it is leased again.
    writeClaim: db.prepare(writeStepsSql('@id', { onlyStep: 1 })),
    lease: db.prepare(LEASE),
    leased: db.prepare(LEASED),
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
    nextDue: db.prepare(
      `SELECT min(t) AS t FROM (
         SELECT min(next_attempt_at) AS t FROM outbox WHERE status = 'queued'
         UNION ALL SELECT min(lease_until) FROM outbox WHERE status = 'sending')`,
    ),
    markSent: db.prepare(
      // A retry's reason is history now (events keep it): a sent row carries none.
      `UPDATE outbox SET status = 'sent', reason = NULL, provider_message_id = @pid, parts = @parts, sent_at = @now, updated_at = @now, lease_until = NULL
        WHERE id = @id AND status = 'sending'`,
    ),
    // Whether receipts beat the send's answer; a read of its own, not RETURNING (see LEASE).
    hasParked: db.prepare(`SELECT EXISTS (SELECT 1 FROM receipts WHERE provider_message_id = ? AND outcome = 'parked')`).pluck(),
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
    countQueued: db.prepare(`SELECT count(*) AS n FROM outbox WHERE status = 'queued'`),
    countSending: db.prepare(`SELECT count(*) AS n FROM outbox WHERE status = 'sending'`),
  };
}

/** Receipts' statements: a receipt's facts, parking, and the row it settles. */
function receiptStatements(db: Db) {
  return {
    // Everything a receipt is decided on, in one read: its row (all NULL when
    // the provider id is not known yet), the parts counted so far (when it
    // names a part: the receipts that counted one, see COUNTED_PART), whether
    // this very receipt came before (@body NULL: not asked), and since when
    // receipts for an unknown id have been parked.
    receiptFacts: db.prepare(
      `SELECT o.id, o.status, o.message_id AS queueId, o.parts, o.claim_event IS NOT NULL AS stepped,
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
    finish: db.prepare(
      `UPDATE outbox SET status = @status, final_at = @now, updated_at = @now, provider_error = @errorCode,
         reason = CASE WHEN @status != 'delivered' THEN 'provider: ' || @status || coalesce(' (' || @errorCode || ')', '') END
        WHERE id = @id`,
    ),
    receive: db.prepare(RECEIVE),
    received: db.prepare(SQLITE_RECEIVED),
  };
}

/** Every statement the SQLite ledger runs, prepared once per database. */
export function prepareStatements(db: Db) {
  return { ...intakeStatements(db), ...queueStatements(db), ...receiptStatements(db) };
}

export type Statements = ReturnType<typeof prepareStatements>;
