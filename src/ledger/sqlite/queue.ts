import type { Logger } from '../../core/log.js';
import { takeTurns } from '../turns.js';
import type { RuleReader } from '../rules.js';
import type { ClaimPolicy, ClaimedSms } from '../types.js';
import type { Statements } from './statements.js';

/** A leased row with what sending it needs from its message (statements.ts leaseSql). */
interface LeasedRow {
  id: number;
  queueId: string;
  recipient: string;
  idempotencyKey: string;
  attempts: number;
  stopClause: number;
  createdAt: number;
  /** The row's own text (merge fields filled); null = the message's. */
  ownText: string | null;
  ownTextNoClause: string | null;
  senderName: string;
  /** The message's text, with or without the STOP clause as the row says. */
  text: string;
  setupId: string;
  cooldownMs: number | null;
  purpose: string | null;
  expiresAt: number | null;
  sendingWindow: string | null;
  onUnknown: 'retry' | 'fail';
  confirmsOptOut: number;
}

export interface QueueDeps {
  stmt: Statements;
  rules: RuleReader;
  policy: ClaimPolicy;
  logger: Logger;
  /** Receipts parked for a provider id, applied once a send records it. */
  applyParked(providerMessageId: string, now: number): void;
}

/**
 * The dispatch queue: claims with leases, taking turns between setups, and
 * what became of each provider call.
 */
export function createQueueWriter(deps: QueueDeps) {
  const { stmt, rules, logger } = deps;
  // Setups with rows queued: dispatch takes turns between them, so a flood
  // from one setup does not starve the others. Seeded once from the ledger,
  // then kept up to date by intake (a drained setup costs one index probe).
  const activeSetups = new Set<string>(stmt.queuedSetups.all() as string[]);
  let turn = 0;

  /**
   * Up to `limit` rows to claim: those whose lease ran out first (an earlier
   * claim ended without an outcome: a crash mid-send?), then due rows,
   * interleaved across setups, oldest first within each.
   */
  function pick(limit: number, now: number): { id: number; expired: boolean }[] {
    const setups = [...activeSetups];
    if (setups.length <= 1) {
      const rows = (stmt.pick.all({ now, limit }) as { id: number; expired: number }[]).map((r) => ({ id: r.id, expired: r.expired === 1 }));
      // Stable: each kind keeps its index order.
      return rows.sort((a, b) => Number(b.expired) - Number(a.expired)).slice(0, limit);
    }
    const expired = (stmt.expiredLeases.all({ now, limit }) as number[]).map((id) => ({ id, expired: true }));
    if (expired.length >= limit) return expired;
    const start = turn++ % setups.length;
    const lists = setups.map((_, i) => {
      const setupId = setups[(start + i) % setups.length] as string;
      return (stmt.dueForSetup.all({ setupId, now, limit }) as { id: number }[]).map((r) => r.id);
    });
    return [...expired, ...takeTurns(lists, limit - expired.length).map((id) => ({ id, expired: false }))];
  }

  /** One leased row through the claim policy and the rules; the SMS to send, or undefined when it ended or waits. */
  function admit(row: LeasedRow, now: number): ClaimedSms | undefined {
    const decision = deps.policy({ expiresAt: row.expiresAt, sendingWindow: row.sendingWindow }, now);
    if (decision.action === 'expire') {
      stmt.expire.run({ id: row.id, reason: decision.reason, now });
      stmt.release.run(now, row.id);
      stmt.insertEvent.run(now, row.id, row.queueId, 'expired', decision.reason);
      logger.info({ qid: row.queueId, outbox: row.id }, 'sms expired before it could be sent (max_age)');
      return undefined;
    }
    if (decision.action === 'defer') {
      stmt.defer.run({ id: row.id, at: decision.until, now });
      stmt.deferReservation.run({ id: row.id, at: decision.until });
      stmt.insertEvent.run(now, row.id, row.queueId, 'deferred', decision.reason);
      return undefined;
    }
    // The rules again, now that the SMS is about to go: a STOP, a revoked
    // opt-in or another channel's SMS since intake wins over the queued row.
    const confirmsOptOut = row.confirmsOptOut === 1;
    const verdict = rules.recheck(row.recipient, { cooldownMs: row.cooldownMs, purpose: row.purpose, outboxId: row.id, confirmsOptOut }, now);
    if (!verdict.allowed) {
      stmt.suppressClaimed.run(verdict.reason, verdict.until ?? null, now, now, row.id);
      stmt.release.run(now, row.id);
      stmt.insertEvent.run(now, row.id, row.queueId, 'suppressed', `at send time: ${verdict.reason}: ${verdict.detail}`);
      logger.info({ qid: row.queueId, outbox: row.id, reason: verdict.reason }, 'suppressed at send time');
      return undefined;
    }
    // The claim itself is no event row: the row's claimed_at and attempts say it (../row-events.ts).
    return {
      outboxId: row.id,
      queueId: row.queueId,
      recipient: row.recipient,
      senderName: row.senderName,
      text: row.ownText === null ? row.text : row.stopClause === 0 && row.ownTextNoClause !== null ? row.ownTextNoClause : row.ownText,
      setupId: row.setupId,
      idempotencyKey: row.idempotencyKey,
      attempt: row.attempts,
      createdAt: row.createdAt,
      onUnknown: row.onUnknown,
      ...(confirmsOptOut ? { confirmsOptOut } : {}),
    };
  }

  function claim(limit: number, leaseMs: number, now: number): ClaimedSms[] {
    const claimed: ClaimedSms[] = [];
    for (const { id, expired } of pick(limit, now)) {
      // Dispatch applies on_unknown to a row whose lease ran out; its earlier claim is written out first (the new one takes claimed_at).
      if (expired) stmt.writeClaim.run({ id });
      if (stmt.lease.run({ id, now, leaseUntil: now + leaseMs }).changes === 0) continue;
      const sms = admit(stmt.leased.get(id) as LeasedRow, now);
      if (sms) claimed.push(expired ? { ...sms, leaseExpired: true } : sms);
    }
    return claimed;
  }

  // Sent: the row says it (sent_at, provider id, parts); no event row.
  function sent(outboxId: number, providerMessageId: string, parts: number | undefined, now: number): void {
    if (stmt.markSent.run({ id: outboxId, pid: providerMessageId, parts: parts ?? null, now }).changes === 0) return;
    stmt.sendsSent.run(now, outboxId);
    if (stmt.hasParked.get(providerMessageId)) deps.applyParked(providerMessageId, now);
  }

  /** The attempt ends unsent: its claim and `type` written as events, when the row is still being sent (or queued, `queued`). */
  const endAttempt = (outboxId: number, type: string, detail: string, now: number, queued = false) =>
    stmt.endAttempt.run({ id: outboxId, now, type, detail, queued: queued ? 1 : 0 }).changes > 0;

  function unknown(outboxId: number, reason: string, now: number): void {
    if (!endAttempt(outboxId, 'unknown', reason, now)) return;
    stmt.markUnknown.run(reason, now, now, outboxId);
    // It may have reached the phone: for the cooldown it counts as sent.
    stmt.sendsSent.run(now, outboxId);
  }

  function retry(outboxId: number, reason: string, nextAttemptAt: number, now: number): void {
    if (!endAttempt(outboxId, 'retry', `${reason}; next attempt ${new Date(nextAttemptAt).toISOString()}`, now)) return;
    stmt.markRetry.run(reason, nextAttemptAt, now, outboxId);
  }

  function release(outboxId: number, reason: string, nextAttemptAt: number, now: number): void {
    if (endAttempt(outboxId, 'held', reason, now)) stmt.defer.run({ id: outboxId, at: nextAttemptAt, now });
  }

  function fail(outboxId: number, reason: string, now: number): void {
    if (!endAttempt(outboxId, 'failed', reason, now, true)) return;
    stmt.markFailed.run(reason, now, now, outboxId);
    // A row that fails permanently releases its cooldown reservation.
    stmt.release.run(now, outboxId);
  }

  return { claim, sent, unknown, retry, release, fail, markActive: (setupId: string) => void activeSetups.add(setupId) };
}
