import type { Logger } from '../../core/log.js';
import { takeTurns } from '../turns.js';
import type { RuleReader } from '../rules.js';
import type { ClaimPolicy, ClaimedSms } from '../types.js';
import type { Statements } from './statements.js';

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
}

interface RowDetails {
  senderName: string;
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

  /** Up to `limit` due rows, interleaved across setups, oldest first within each. */
  function dueRows(limit: number, now: number): number[] {
    const setups = [...activeSetups];
    if (setups.length <= 1) return (stmt.due.all({ now, limit }) as { id: number }[]).map((r) => r.id);
    const start = turn++ % setups.length;
    const lists = setups.map((_, i) => {
      const setupId = setups[(start + i) % setups.length] as string;
      return (stmt.dueForSetup.all({ setupId, now, limit }) as { id: number }[]).map((r) => r.id);
    });
    return takeTurns(lists, limit);
  }

  /** One leased row through the claim policy and the rules; the SMS to send, or undefined when it ended or waits. */
  function admit(row: LeasedRow, now: number): ClaimedSms | undefined {
    const details = stmt.claimDetails.get({ queueId: row.queueId, stopClause: row.stopClause }) as RowDetails;
    const decision = deps.policy({ expiresAt: details.expiresAt, sendingWindow: details.sendingWindow }, now);
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
    const confirmsOptOut = details.confirmsOptOut === 1;
    const verdict = rules.recheck(row.recipient, { cooldownMs: details.cooldownMs, purpose: details.purpose, outboxId: row.id, confirmsOptOut }, now);
    if (!verdict.allowed) {
      stmt.suppressClaimed.run(verdict.reason, verdict.until ?? null, now, now, row.id);
      stmt.release.run(now, row.id);
      stmt.insertEvent.run(now, row.id, row.queueId, 'suppressed', `at send time: ${verdict.reason}: ${verdict.detail}`);
      logger.info({ qid: row.queueId, outbox: row.id, reason: verdict.reason }, 'suppressed at send time');
      return undefined;
    }
    stmt.insertEvent.run(now, row.id, row.queueId, 'claimed', `attempt ${row.attempts}`);
    return {
      outboxId: row.id,
      queueId: row.queueId,
      recipient: row.recipient,
      senderName: details.senderName,
      text: row.ownText === null ? details.text : row.stopClause === 0 && row.ownTextNoClause !== null ? row.ownTextNoClause : row.ownText,
      setupId: details.setupId,
      idempotencyKey: row.idempotencyKey,
      attempt: row.attempts,
      createdAt: row.createdAt,
      onUnknown: details.onUnknown,
      ...(confirmsOptOut ? { confirmsOptOut } : {}),
    };
  }

  function claim(limit: number, leaseMs: number, now: number): ClaimedSms[] {
    const ids = (stmt.expiredLeases.all({ now, limit }) as { id: number }[]).map((r) => r.id);
    // An earlier claim of these ended without an outcome (a crash mid-send?): dispatch applies on_unknown to them.
    const leaseExpired = new Set(ids);
    if (ids.length < limit) ids.push(...dueRows(limit - ids.length, now));
    const claimed: ClaimedSms[] = [];
    for (const id of ids) {
      const row = stmt.lease.get({ id, now, leaseUntil: now + leaseMs }) as LeasedRow | undefined;
      const sms = row && admit(row, now);
      if (sms) claimed.push(leaseExpired.has(id) ? { ...sms, leaseExpired: true } : sms);
    }
    return claimed;
  }

  function sent(outboxId: number, providerMessageId: string, parts: number | undefined, now: number): void {
    const marked = stmt.markSent.get({ id: outboxId, pid: providerMessageId, parts: parts ?? null, now }) as { parked: number } | undefined;
    if (!marked) return;
    stmt.sendsSent.run(now, outboxId);
    stmt.insertEvent.run(now, outboxId, null, 'sent', `provider id ${providerMessageId}${parts && parts > 1 ? ` (${parts} parts)` : ''}`);
    if (marked.parked) deps.applyParked(providerMessageId, now);
  }

  function unknown(outboxId: number, reason: string, now: number): void {
    if (stmt.markUnknown.run(reason, now, now, outboxId).changes === 0) return;
    // It may have reached the phone: for the cooldown it counts as sent.
    stmt.sendsSent.run(now, outboxId);
    stmt.insertEvent.run(now, outboxId, null, 'unknown', reason);
  }

  function retry(outboxId: number, reason: string, nextAttemptAt: number, now: number): void {
    if (stmt.markRetry.run(reason, nextAttemptAt, now, outboxId).changes === 0) return;
    stmt.insertEvent.run(now, outboxId, null, 'retry', `${reason}; next attempt ${new Date(nextAttemptAt).toISOString()}`);
  }

  function release(outboxId: number, reason: string, nextAttemptAt: number, now: number): void {
    if (stmt.defer.run({ id: outboxId, at: nextAttemptAt, now }).changes > 0) stmt.insertEvent.run(now, outboxId, null, 'held', reason);
  }

  function fail(outboxId: number, reason: string, now: number): void {
    if (stmt.markFailed.run(reason, now, now, outboxId).changes === 0) return;
    // A row that fails permanently releases its cooldown reservation.
    stmt.release.run(now, outboxId);
    stmt.insertEvent.run(now, outboxId, null, 'failed', reason);
  }

  return { claim, sent, unknown, retry, release, fail, markActive: (setupId: string) => void activeSetups.add(setupId) };
}
