import { hash } from 'node:crypto';
import { newQueueId } from '../queue-id.js';
import { continuesConversation, type ForwardedReply } from '../conversation.js';
import type { IntakeMessage, IntakeOutcome, PersonalRecipient, RecipientDecision } from '../types.js';
import { lockKey, numberKey, type PgClient } from './pool.js';
import { evaluateOn } from './rules.js';

export const RETRY_WINDOW_MS = 24 * 3_600_000;

export const INSERT_MESSAGE = `INSERT INTO messages (id, received_at, setup_id, mail_from, header_message_id, body_hash, client_ip, session_ref,
    sender_name, sms_text, encoding, segments, characters, cooldown_ms, purpose, sms_text_no_clause,
    subject, expires_at, send_at, sending_window, on_unknown, report_mode)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`;

export const INSERT_OUTBOX = `INSERT INTO outbox (message_id, recipient, status, reason, blocked_until, dedup_key, idempotency_key,
    created_at, updated_at, next_attempt_at, stop_clause, setup_id, sms_text, sms_text_no_clause, encoding, segments, characters, via_groups)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id`;

/** A row's own text (merge fields filled) and the groups it came through, as INSERT_OUTBOX's last six parameters; all null for a plain mail. */
export function ownTextParams(personal: PersonalRecipient | undefined): unknown[] {
  if (!personal) return [null, null, null, null, null, null];
  const sms = personal.sms;
  return [sms?.text ?? null, sms?.textNoClause ?? null, sms?.measure.encoding ?? null, sms?.measure.segments ?? null, sms?.measure.characters ?? null,
    personal.groups.length > 0 ? personal.groups.join(',') : null];
}

export const INSERT_RESERVATION = `INSERT INTO sends (recipient, channel, outbox_id, setup_id, state, reserved_at, purpose, due_at)
  VALUES ($1, $2, $3, $4, 'reserved', $5, $6, $7)`;

// A queued row and its reservation in one statement (one round trip).
export const INSERT_QUEUED = `WITH o AS (
    INSERT INTO outbox (message_id, recipient, status, dedup_key, idempotency_key, created_at, updated_at, next_attempt_at, stop_clause, setup_id,
      sms_text, sms_text_no_clause, encoding, segments, characters, via_groups)
    VALUES ($1, $2, 'queued', $3, $4, $5, $5, $6, $7, $8, $11, $12, $13, $14, $15, $16) RETURNING id)
  INSERT INTO sends (recipient, channel, outbox_id, setup_id, state, reserved_at, purpose, due_at)
  SELECT $2, 'email', o.id, $8, 'reserved', $5, $9, $10 FROM o RETURNING outbox_id AS id`;

/** Whether the number got an SMS with the STOP clause since $2 (the clause need reach it once per period). */
export const HAD_STOP_CLAUSE = `SELECT 1 FROM outbox WHERE recipient = $1 AND stop_clause = 1 AND created_at > $2
  AND status NOT IN ('suppressed', 'failed', 'expired', 'rejected') LIMIT 1`;

export const INSERT_EVENT = 'INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES ($1, $2, $3, $4, $5)';

export function dedupKey(message: IntakeMessage, recipient: string): string | null {
  if (!message.headerMessageId) return null;
  return hash('sha256', [message.mailFrom, message.headerMessageId, message.bodyHash, recipient].join('\0'), 'hex');
}

/** The advisory locks intake holds: each recipient's number, and the setup when it has a daily cap (a cap counts across numbers). */
export function intakeLocks(message: IntakeMessage): bigint[] {
  const keys = message.recipients.map(numberKey);
  if (message.rules.dailyLimit !== null) keys.push(lockKey(`setup:${message.setupId}`));
  return keys;
}

/**
 * Intake's write on PostgreSQL, inside the caller's transaction, which holds
 * intakeLocks (so fifty mails to one number on three daemons take turns): the
 * same steps as the SQLite writer: a retried mail finds its queue id, each
 * recipient is decided by the rules and reserved in the same transaction.
 */
export async function acceptOn(client: PgClient, message: IntakeMessage, now: number): Promise<IntakeOutcome> {
  const queueId = newQueueId(now);
  const decisions: RecipientDecision[] = [];
  let originalQueueId: string | undefined;
  const fresh: { recipient: string; key: string | null; personal: PersonalRecipient | undefined }[] = [];
  for (const [position, recipient] of message.recipients.entries()) {
    const key = dedupKey(message, recipient);
    const original = key
      ? (await client.query<{ queueId: string }>('SELECT message_id AS "queueId" FROM outbox WHERE dedup_key = $1 AND created_at > $2 LIMIT 1', [key, now - RETRY_WINDOW_MS])).rows[0]
      : undefined;
    if (original) {
      originalQueueId ??= original.queueId;
      decisions.push({ recipient, outcome: 'duplicate' });
    } else {
      fresh.push({ recipient, key, personal: message.personal?.[position] });
    }
  }
  if (fresh.length === 0 && originalQueueId) return { queueId: originalQueueId, duplicate: true, decisions };
  const talk = await conversation(client, message, now);
  if (talk) message = { ...message, rules: { ...message.rules, cooldownMs: null } };

  await client.query(INSERT_MESSAGE, messageParams(message, queueId, now));
  for (const [index, { recipient, key, personal }] of fresh.entries()) {
    decisions.push(await decideRecipient(client, message, { queueId, recipient, key, index, talk, personal }, now));
  }
  return { queueId, duplicate: false, decisions };
}

/**
 * A mail answering a forwarded SMS reply continues the conversation the phone
 * started (../sqlite/intake.ts): to that number alone, within the window, the
 * setup's cooldown does not hold it back.
 */
/** INSERT_MESSAGE's parameters. */
export function messageParams(message: IntakeMessage, queueId: string, now: number): unknown[] {
  return [
    queueId, now, message.setupId, message.mailFrom, message.headerMessageId ?? null, message.bodyHash, message.clientIp ?? null, message.sessionRef,
    message.senderName, message.text, message.measure.encoding, message.measure.segments, message.measure.characters, message.rules.cooldownMs,
    message.rules.purpose?.name ?? null, message.stopClauseOnce?.text ?? null, message.subject ?? null, message.expiresAt ?? null, message.sendAt ?? null,
    message.sendingWindow ? JSON.stringify(message.sendingWindow) : null, message.onUnknown ?? 'retry', message.reportMode ?? null,
  ];
}

async function conversation(client: PgClient, message: IntakeMessage, now: number): Promise<{ inboundId: number } | undefined> {
  const thread = message.answersThread;
  if (thread === undefined || message.recipients.length !== 1) return undefined;
  const { rows } = await client.query<ForwardedReply>(
    `SELECT sender, received_at AS "receivedAt", forward_token AS "forwardToken", forward_mail_to AS "forwardMailTo", forward_setup AS "forwardSetup"
       FROM inbound_messages WHERE id = $1`, [thread.inboundId]);
  return continuesConversation(rows[0], { thread, ...message }, now) ? { inboundId: thread.inboundId } : undefined;
}

async function decideRecipient(
  client: PgClient,
  message: IntakeMessage,
  row: { queueId: string; recipient: string; key: string | null; index: number; talk: { inboundId: number } | undefined; personal: PersonalRecipient | undefined },
  now: number,
): Promise<RecipientDecision> {
  const { queueId, recipient, personal } = row;
  const own = ownTextParams(personal);
  if (personal?.suppress) {
    // Intake itself ruled it out (a merge field missing, a country): recorded like any suppression, no reservation.
    const why = personal.suppress;
    const inserted = await client.query<{ id: number }>(INSERT_OUTBOX, [
      queueId, recipient, 'suppressed', why.reason, null, row.key, `${queueId}.${row.index}`, now, null, 0, message.setupId, ...own,
    ]);
    await client.query(INSERT_EVENT, [now, inserted.rows[0]!.id, queueId, 'suppressed', `${why.reason}: ${why.detail}`]);
    return { recipient, outcome: 'suppressed', reason: why.reason, detail: why.detail };
  }
  // A row never blocks itself: the check runs before this row's reservation exists.
  const verdict = await evaluateOn(client, recipient, message.rules, now);
  const blockedUntil = verdict.allowed ? null : (verdict.until ?? null);
  const appended = personal?.sms ? personal.sms.stopClauseAppended : message.stopClauseAppended;
  const withoutClause = personal?.sms ? personal.sms.textNoClause !== undefined : message.stopClauseOnce !== undefined;
  let stopClause = appended ? 1 : 0;
  if (stopClause && withoutClause && message.stopClauseOnce) {
    const had = await client.query(HAD_STOP_CLAUSE, [recipient, now - message.stopClauseOnce.periodMs]);
    if (had.rowCount) stopClause = 0;
  }
  if (verdict.allowed) {
    const dueAt = message.sendAt !== undefined && message.sendAt > now ? message.sendAt : null;
    const queued = await client.query<{ id: number }>(INSERT_QUEUED, [
      queueId, recipient, row.key, `${queueId}.${row.index}`, now, Math.max(now, message.sendAt ?? now), stopClause, message.setupId,
      message.rules.purpose?.name ?? null, dueAt, ...own,
    ]);
    if (row.talk) await client.query(INSERT_EVENT, [now, queued.rows[0]!.id, queueId, 'conversation', `answers inbound SMS #${row.talk.inboundId}: the cooldown does not apply`]);
    // No 'queued' event: the outbox row itself records it (created_at), as on SQLite.
    return { recipient, outcome: 'queued' };
  }
  const inserted = await client.query<{ id: number }>(INSERT_OUTBOX, [
    queueId, recipient, 'suppressed', verdict.reason, blockedUntil, row.key, `${queueId}.${row.index}`, now, null, 0, message.setupId, ...own,
  ]);
  const outboxId = inserted.rows[0]!.id;
  if (row.talk) await client.query(INSERT_EVENT, [now, outboxId, queueId, 'conversation', `answers inbound SMS #${row.talk.inboundId}: the cooldown does not apply`]);
  await client.query(INSERT_EVENT, [now, outboxId, queueId, 'suppressed', `${verdict.reason}: ${verdict.detail}`]);
  return { recipient, outcome: 'suppressed', reason: verdict.reason, detail: verdict.detail, ...(blockedUntil ? { blockedUntil } : {}) };
}
