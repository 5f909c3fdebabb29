import { KEYWORD_SETUP, type ConsentStore } from '../consent.js';
import type { InboundOutcome, InboundRecord } from '../types.js';
import { NO_OWN_TEXT, newQueueId } from './intake.js';
import type { Statements } from './statements.js';

/**
 * An inbound SMS: stored as evidence first, then acted on in the same
 * transaction (consent change, answer SMS), so a webhook delivered twice
 * acts once. `queued` is told when an answer SMS was queued.
 */
export function createInboundWriter(stmt: Statements, consent: ConsentStore, queued: (setupId: string) => void) {
  function queueAnswer(sms: InboundRecord & { reply: NonNullable<InboundRecord['reply']> }, inboundId: number, now: number): string {
    // The answer is an SMS the organisation sends: it bypasses the cooldown
    // (the number just wrote to us) but is reserved like any other, so it counts.
    const queueId = newQueueId(now);
    stmt.insertMessage.run({
      id: queueId, receivedAt: now, setupId: KEYWORD_SETUP, mailFrom: '', headerMessageId: null, bodyHash: '', clientIp: null,
      // ':opt-out' marks the confirmation of a STOP, which the send-time re-check lets through to the opted-out number.
      sessionRef: `inbound#${inboundId}${sms.kind === 'opt_out' ? ':opt-out' : ''}`, senderName: sms.reply.senderName, text: sms.reply.text, encoding: sms.reply.measure.encoding,
      segments: sms.reply.measure.segments, characters: sms.reply.measure.characters, cooldownMs: null, purpose: null, textNoClause: null,
      subject: null, expiresAt: null, sendAt: null, sendingWindow: null, onUnknown: 'retry', reportMode: null,
    });
    const outboxId = Number(
      stmt.insertOutbox.run({
        queueId, recipient: sms.from, status: 'queued', reason: null, blockedUntil: null, dedupKey: null,
        idempotencyKey: `${queueId}.0`, now, nextAttemptAt: now, stopClause: 0, setupId: KEYWORD_SETUP, ...NO_OWN_TEXT,
      }).lastInsertRowid,
    );
    stmt.insertReservation.run(sms.from, 'keyword', outboxId, null, now, null, null);
    stmt.insertEvent.run(now, outboxId, queueId, 'queued', `answer to inbound SMS #${inboundId} (${sms.kind})`);
    queued(KEYWORD_SETUP);
    return queueId;
  }

  return function inbound(sms: InboundRecord, now: number): InboundOutcome {
    const existing = stmt.inboundByProviderId.get(sms.providerId) as { id: number; action: string } | undefined;
    if (existing) return { duplicate: true, inboundId: existing.id, action: existing.action };
    const action = sms.kind === 'opt_out' ? 'opted out' : sms.kind === 'opt_in' ? 'opted in' : sms.kind === 'help' ? 'help sent' : 'no keyword';
    const inboundId = Number(
      stmt.insertInbound.run({ receivedAt: sms.receivedAt, providerId: sms.providerId, from: sms.from, to: sms.to ?? null, text: sms.text, kind: sms.kind, action: sms.reply ? `${action}; answered` : action })
        .lastInsertRowid,
    );
    const outcome: InboundOutcome = { duplicate: false, inboundId, action };
    if (sms.kind === 'opt_out' || sms.kind === 'opt_in') {
      const [event] = consent.change(
        [{ recipient: sms.from, action: sms.kind, at: sms.receivedAt, source: 'sms', evidence: `SMS "${sms.text}" (keyword ${sms.keyword ?? '?'})`, inboundId }],
        now,
      );
      outcome.consentEventId = event?.id;
    }
    if (sms.reply) outcome.replyQueueId = queueAnswer({ ...sms, reply: sms.reply }, inboundId, now);
    return outcome;
  };
}
