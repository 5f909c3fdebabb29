import { hash } from 'node:crypto';
import { continuesConversation, type ForwardedReply } from '../conversation.js';
import type { RuleReader } from '../rules.js';
import type { IntakeMessage, IntakeOutcome, PersonalRecipient, RecipientDecision } from '../types.js';
import type { Statements } from './statements.js';

const RETRY_WINDOW_MS = 24 * 3_600_000;

/** Outbox columns of a row that uses its message's text (no merge fields, no group). */
export const NO_OWN_TEXT = { text: null, textNoClause: null, encoding: null, segments: null, characters: null, viaGroups: null } as const;

function ownText(personal: PersonalRecipient | undefined) {
  if (!personal) return NO_OWN_TEXT;
  const sms = personal.sms;
  return {
    text: sms?.text ?? null,
    textNoClause: sms?.textNoClause ?? null,
    encoding: sms?.measure.encoding ?? null,
    segments: sms?.measure.segments ?? null,
    characters: sms?.measure.characters ?? null,
    viaGroups: personal.groups.length > 0 ? personal.groups.join(',') : null,
  };
}

export { newQueueId } from '../queue-id.js';

function dedupKey(message: IntakeMessage, recipient: string): string | null {
  if (!message.headerMessageId) return null;
  // One-shot hash: ~1.8 µs where createHash().update().digest() took ~5 (the same digest).
  return hash('sha256', [message.mailFrom, message.headerMessageId, message.bodyHash, recipient].join('\0'), 'hex');
}

/** The recipients' dedup keys as a JSON array, or null when none has one (no Message-ID). */
function keysJson(keys: (string | null)[]): string | null {
  const present = keys.filter((key): key is string => key !== null);
  return present.length > 0 ? JSON.stringify(present) : null;
}

/**
 * INSERT_MESSAGE's parameters (statements.ts), the mail's dedup key(s) and the start of the retry window.
 * One literal of one shape, both keys always present (the statement that does not name one ignores it):
 * written as `{ ...dedup, id, ... }`, V8 (Node 20) gave every such object a hidden class of its own
 * (%HaveSameMap is false for two calls with the same input): ~11 KB of heap per mail, held by the
 * transition tree until a full GC, so the ledger thread's scavenges copied MBs and paused 15–45 ms
 * while every waiting client's 250 waited (issue 17, p99).
 */
function messageParams(message: IntakeMessage, queueId: string, now: number, dedup: { key: string | null; keys: string | null }) {
  return {
    key: dedup.key,
    keys: dedup.keys,
    id: queueId,
    receivedAt: now,
    setupId: message.setupId,
    mailFrom: message.mailFrom,
    headerMessageId: message.headerMessageId ?? null,
    bodyHash: message.bodyHash,
    clientIp: message.clientIp ?? null,
    sessionRef: message.sessionRef,
    senderName: message.senderName,
    text: message.text,
    encoding: message.measure.encoding,
    segments: message.measure.segments,
    characters: message.measure.characters,
    cooldownMs: message.rules.cooldownMs,
    purpose: message.rules.purpose?.name ?? null,
    textNoClause: message.stopClauseOnce?.text ?? null,
    subject: message.subject ?? null,
    expiresAt: message.expiresAt ?? null,
    sendAt: message.sendAt ?? null,
    sendingWindow: message.sendingWindow ? JSON.stringify(message.sendingWindow) : null,
    onUnknown: message.onUnknown ?? 'retry',
    reportMode: message.reportMode ?? null,
    since: now - RETRY_WINDOW_MS,
  };
}

/**
 * Intake's write: a retried mail finds its original queue id; otherwise the
 * message and one outbox row per recipient, each decided by the rules in the
 * same transaction that reserves it (so fifty parallel mails to one number
 * give one SMS).
 */
export function createIntakeWriter(stmt: Statements, rules: RuleReader) {
  /**
   * A mail answering a forwarded SMS reply continues a conversation the phone
   * started: when it goes to that number alone, within the window, the setup's
   * cooldown does not hold it back (opt-out, consent and caps still do).
   */
  function conversation(message: IntakeMessage, now: number): { inboundId: number } | undefined {
    const thread = message.answersThread;
    if (thread === undefined || message.recipients.length !== 1) return undefined;
    const forward = stmt.inboundById.get(thread.inboundId) as ForwardedReply | undefined;
    return continuesConversation(forward, { thread, ...message }, now) ? { inboundId: thread.inboundId } : undefined;
  }

  /** A recipient intake itself ruled out (a merge field missing, a country): recorded like any suppression, no reservation. */
  function suppressedByIntake(
    row: { queueId: string; recipient: string; key: string | null; index: number; now: number; setupId: string; own: ReturnType<typeof ownText> },
    why: NonNullable<PersonalRecipient['suppress']>,
  ): RecipientDecision {
    const { queueId, recipient, now } = row;
    const outboxId = Number(stmt.insertOutbox.run({
      queueId, recipient, status: 'suppressed', reason: why.reason, blockedUntil: null, dedupKey: row.key, idempotencyKey: `${queueId}.${row.index}`, now,
      nextAttemptAt: null, stopClause: 0, setupId: row.setupId, ...row.own,
    }).lastInsertRowid);
    stmt.insertEvent.run(now, outboxId, queueId, 'suppressed', `${why.reason}: ${why.detail}`);
    return { recipient, outcome: 'suppressed', reason: why.reason, detail: why.detail };
  }

  /** The message row, and the queue id of each recipient's earlier copy when this mail is a client's retry. */
  function insertMessage(message: IntakeMessage, queueId: string, keys: (string | null)[], now: number): Map<string, string> {
    const { retried } = (keys.length === 1
      ? stmt.insertMessageOnce.get(messageParams(message, queueId, now, { key: keys[0] ?? null, keys: null }))
      : stmt.insertMessageOnceMany.get(messageParams(message, queueId, now, { key: null, keys: keysJson(keys) }))) as { retried: string | null };
    const originals = new Map<string, string>();
    if (retried === null) return originals;
    for (const [key, original] of JSON.parse(retried) as [string, string][]) if (!originals.has(key)) originals.set(key, original);
    return originals;
  }

  return function decide(message: IntakeMessage, queueId: string, now: number): IntakeOutcome {
    const decisions: RecipientDecision[] = [];
    let originalQueueId: string | undefined;
    const fresh: { recipient: string; key: string | null; personal: PersonalRecipient | undefined }[] = [];
    const talk = conversation(message, now);
    if (talk) message = { ...message, rules: { ...message.rules, cooldownMs: null } };
    const keys = message.recipients.map((recipient) => dedupKey(message, recipient));
    const originals = insertMessage(message, queueId, keys, now);
    for (const [position, recipient] of message.recipients.entries()) {
      const key = keys[position] ?? null;
      const original = key === null ? undefined : originals.get(key);
      if (original) {
        originalQueueId ??= original;
        decisions.push({ recipient, outcome: 'duplicate' });
      } else {
        fresh.push({ recipient, key, personal: message.personal?.[position] });
      }
    }
    if (fresh.length === 0 && originalQueueId) {
      // A client's retry of a mail we have: nothing of it is kept.
      stmt.deleteMessage.run(queueId);
      return { queueId: originalQueueId, duplicate: true, decisions };
    }
    fresh.forEach(({ recipient, key, personal }, index) => {
      const own = ownText(personal);
      if (personal?.suppress) {
        decisions.push(suppressedByIntake({ queueId, recipient, key, index, now, setupId: message.setupId, own }, personal.suppress));
        return;
      }
      // A row never blocks itself: the check runs before this row's reservation exists,
      // and the reservation is written in the same transaction.
      const verdict = rules.evaluate(recipient, message.rules, now);
      const blockedUntil = verdict.allowed ? null : (verdict.until ?? null);
      const appended = personal?.sms ? personal.sms.stopClauseAppended : message.stopClauseAppended;
      const withoutClause = personal?.sms ? personal.sms.textNoClause !== undefined : message.stopClauseOnce !== undefined;
      let stopClause = appended ? 1 : 0;
      if (stopClause && withoutClause && message.stopClauseOnce && stmt.hadStopClause.get(recipient, now - message.stopClauseOnce.periodMs)) stopClause = 0;
      const row = {
        queueId,
        recipient,
        status: verdict.allowed ? 'queued' : 'suppressed',
        reason: verdict.allowed ? null : verdict.reason,
        blockedUntil,
        dedupKey: key,
        idempotencyKey: `${queueId}.${index}`,
        now,
        nextAttemptAt: verdict.allowed ? Math.max(now, message.sendAt ?? now) : null,
        stopClause: verdict.allowed ? stopClause : 0,
        setupId: message.setupId,
        ...own,
      };
      const outboxId = Number(stmt.insertOutbox.run(row).lastInsertRowid);
      if (talk) stmt.insertEvent.run(now, outboxId, queueId, 'conversation', `answers inbound SMS #${talk.inboundId}: the cooldown does not apply`);
      if (!verdict.allowed) {
        stmt.insertEvent.run(now, outboxId, queueId, 'suppressed', `${verdict.reason}: ${verdict.detail}`);
        decisions.push({ recipient, outcome: 'suppressed', reason: verdict.reason, detail: verdict.detail, ...(blockedUntil ? { blockedUntil } : {}) });
      } else {
        const dueAt = message.sendAt !== undefined && message.sendAt > now ? message.sendAt : null;
        stmt.insertReservation.run(recipient, 'email', outboxId, message.setupId, now, message.rules.purpose?.name ?? null, dueAt);
        // No 'queued' event: the outbox row itself records it (created_at), one write less per SMS.
        decisions.push({ recipient, outcome: 'queued' });
      }
    });
    return { queueId, duplicate: false, decisions };
  };
}
