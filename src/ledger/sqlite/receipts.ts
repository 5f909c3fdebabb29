import type { OutboxStatus, Receipt, ReceiptOutcome, ReceiptStatus } from '../types.js';
import type { Statements } from './statements.js';

/** Final statuses a receipt may not move away from. */
const TERMINAL: ReadonlySet<OutboxStatus> = new Set(['delivered', 'failed', 'expired', 'rejected', 'suppressed']);
const FAILURES: ReadonlySet<string> = new Set(['failed', 'expired', 'rejected']);

type ReceiptRow = { id: number; status: OutboxStatus; queueId: string; parts: number | null };
type ParkedRow = { id: number; status: ReceiptStatus; errorCode: string | null; part: number | null; parts: number | null; body: string };

/**
 * Delivery receipts: idempotent, never moving a row backwards, combined per
 * part, and parked when they beat the send's own answer.
 */
export function createReceiptWriter(stmt: Statements, receiptGraceMs: number) {
  /**
   * The status a concatenated SMS has after this part's receipt: delivered
   * when every part is, failed (expired, rejected) as soon as any part is,
   * undefined while parts are outstanding.
   */
  function combineParts(outboxId: number, r: Receipt, knownParts: number | null, now: number): { status: ReceiptStatus; errorCode?: string } | 'repeat' | undefined {
    const parts = Math.max(r.parts ?? 1, knownParts ?? 1);
    if (r.part === undefined || parts <= 1) return { status: r.status, ...(r.errorCode ? { errorCode: r.errorCode } : {}) };
    // Every part status is final: the first receipt for a part is the one that counts.
    if (stmt.upsertPart.run({ id: outboxId, part: r.part, status: r.status, errorCode: r.errorCode ?? null, now }).changes === 0) return 'repeat';
    const seen = stmt.partStatuses.all(outboxId) as { part: number; status: ReceiptStatus; errorCode: string | null }[];
    const failedPart = seen.find((p) => FAILURES.has(p.status));
    if (failedPart) return { status: failedPart.status, errorCode: `part ${failedPart.part}/${parts}${failedPart.errorCode ? ` ${failedPart.errorCode}` : ''}` };
    if (seen.filter((p) => p.status === 'delivered').length >= parts) return { status: 'delivered' };
    return undefined;
  }

  function applyToRow(r: Receipt, now: number, row = stmt.byProviderId.get(r.providerMessageId) as ReceiptRow): ReceiptOutcome {
    if (TERMINAL.has(row.status) && row.status !== r.status) return 'stale';
    if (row.status === r.status) return 'duplicate';
    const combined = combineParts(row.id, r, row.parts, now);
    if (combined === 'repeat') return 'duplicate';
    // A part while others are outstanding: the receipts table and receipt_parts hold it.
    if (!combined) return 'partial';
    stmt.finish.run({ id: row.id, status: combined.status, now, errorCode: combined.errorCode ?? null });
    // Not delivered: it does not count for the cooldown.
    if (combined.status !== 'delivered') stmt.release.run(now, row.id);
    stmt.insertEvent.run(now, row.id, row.queueId, combined.status, combined.errorCode ?? null);
    return 'applied';
  }

  /** A receipt already stored: a duplicate once its id is known; until then still parked, and unknown after the grace period. */
  function repeatedReceipt(providerMessageId: string, now: number): ReceiptOutcome {
    if (stmt.byProviderId.get(providerMessageId)) return 'duplicate';
    const since = stmt.parkedSince.get(providerMessageId) as number | null;
    return since !== null && now - since >= receiptGraceMs ? 'unknown' : 'parked';
  }

  function receipt(r: Receipt, now: number): ReceiptOutcome {
    // The same receipt again (a provider's retry, a replay): answered as before, not stored again.
    if (stmt.sameReceipt.get(r.providerMessageId, r.status, r.part ?? null, r.rawBody) !== undefined) return repeatedReceipt(r.providerMessageId, now);
    let outcome: ReceiptOutcome;
    const row = stmt.byProviderId.get(r.providerMessageId) as ReceiptRow | undefined;
    if (row) {
      outcome = applyToRow(r, now, row);
    } else {
      // Not known yet: the send's own answer may still be on its way (or in a
      // commit not yet made). Park it; only after the grace period say 404.
      const since = stmt.parkedSince.get(r.providerMessageId) as number | null;
      outcome = since !== null && now - since >= receiptGraceMs ? 'unknown' : 'parked';
    }
    stmt.insertReceipt.run(now, r.providerMessageId, r.status, r.errorCode ?? null, outcome, r.rawBody, r.part ?? null, r.parts ?? null);
    return outcome;
  }

  /** Receipts that beat the send's own answer, applied now that the provider id is known. */
  function applyParked(providerMessageId: string, now: number): void {
    for (const p of stmt.parked.all(providerMessageId) as ParkedRow[]) {
      const parked: Receipt = {
        providerMessageId,
        status: p.status,
        rawBody: p.body,
        ...(p.errorCode ? { errorCode: p.errorCode } : {}),
        ...(p.part ? { part: p.part } : {}),
        ...(p.parts ? { parts: p.parts } : {}),
      };
      stmt.unpark.run(`parked, then ${applyToRow(parked, now)}`, p.id);
    }
  }

  return { receipt, applyParked };
}
