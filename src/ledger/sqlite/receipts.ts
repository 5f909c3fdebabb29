import type { OutboxStatus, Receipt, ReceiptOutcome, ReceiptStatus } from '../types.js';
import { settledBy } from '../receipt-outcome.js';
import type { Statements } from './statements.js';

/** Final statuses a receipt may not move away from. */
const TERMINAL: ReadonlySet<OutboxStatus> = new Set(['delivered', 'failed', 'expired', 'rejected', 'suppressed']);
const FAILURES: ReadonlySet<string> = new Set(['failed', 'expired', 'rejected']);

type PartState = { part: number; status: ReceiptStatus; errorCode: string | null };
/** What one read tells about a receipt: its row (id null when the provider id is not known yet) and its parts so far. */
type ReceiptFacts = {
  id: number | null;
  status: OutboxStatus;
  queueId: string;
  parts: number | null;
  /** JSON [[part, status, errorCode], …] of the parts seen, in part order; null when the receipt names no part. */
  seenParts: string | null;
  replay: number;
  parkedSince: number | null;
  /** The row says its steps (../row-events.ts): no event row for the receipt that settles it. */
  stepped: number;
};
type ReceiptRow = ReceiptFacts & { id: number };
/** What the one statement of a receipt returns; the row's facts only when this receipt settles it. */
type Received = { outcome: ReceiptOutcome; outboxId: number | null; queueId: string | null; knownParts: number | null; stepped: number };
type ParkedRow = { id: number; status: ReceiptStatus; errorCode: string | null; part: number | null; parts: number | null; body: string };

const partsOf = (json: string | null): PartState[] =>
  (JSON.parse(json ?? '[]') as [number, ReceiptStatus, string | null][]).map(([part, status, errorCode]) => ({ part, status, errorCode }));

/**
 * Delivery receipts: idempotent, never moving a row backwards, combined per
 * part, and parked when they beat the send's own answer. A receipt costs one
 * statement, the receipt as received, decided as it is stored (its outcome
 * also counts its part); the outbox row is written only by the receipt that
 * settles it. Parked receipts, applied when the send is recorded, are decided
 * here from one read each (rare: they beat the send's own answer).
 */
export function createReceiptWriter(stmt: Statements, receiptGraceMs: number) {
  const factsOf = (r: Receipt, withReplay: boolean) =>
    stmt.receiptFacts.get({ pid: r.providerMessageId, part: r.part ?? null, status: r.status, body: withReplay ? r.rawBody : null }) as ReceiptFacts;

  /**
   * The status a concatenated SMS has after this part's receipt: delivered
   * when every part is, failed (expired, rejected) as soon as any part is,
   * undefined while parts are outstanding.
   */
  function combineParts(row: ReceiptRow, r: Receipt): { status: ReceiptStatus; errorCode?: string } | 'repeat' | undefined {
    const parts = Math.max(r.parts ?? 1, row.parts ?? 1);
    if (r.part === undefined || parts <= 1) return { status: r.status, ...(r.errorCode ? { errorCode: r.errorCode } : {}) };
    const seen = partsOf(row.seenParts);
    // Every part status is final: the first receipt for a part is the one that counts.
    if (seen.some((p) => p.part === r.part)) return 'repeat';
    // Counted by the receipt's own row (its outcome), written by the caller.
    seen.push({ part: r.part, status: r.status, errorCode: r.errorCode ?? null });
    seen.sort((a, b) => a.part - b.part);
    const failedPart = seen.find((p) => FAILURES.has(p.status));
    if (failedPart) return { status: failedPart.status, errorCode: `part ${failedPart.part}/${parts}${failedPart.errorCode ? ` ${failedPart.errorCode}` : ''}` };
    if (seen.filter((p) => p.status === 'delivered').length >= parts) return { status: 'delivered' };
    return undefined;
  }

  function applyToRow(r: Receipt, now: number, row: ReceiptRow): ReceiptOutcome {
    if (TERMINAL.has(row.status) && row.status !== r.status) return 'stale';
    if (row.status === r.status) return 'duplicate';
    const combined = combineParts(row, r);
    if (combined === 'repeat') return 'duplicate';
    // A part while others are outstanding: its receipt row (outcome partial) holds it.
    if (!combined) return 'partial';
    settle(row, { status: combined.status, errorCode: combined.errorCode ?? null }, now);
    return 'applied';
  }

  function settle(row: { id: number; queueId: string; stepped: number }, settled: { status: ReceiptStatus; errorCode: string | null }, now: number): void {
    const { id: outboxId, queueId, stepped } = row;
    stmt.finish.run({ id: outboxId, status: settled.status, now, errorCode: settled.errorCode });
    // Not delivered: it does not count for the cooldown.
    if (settled.status !== 'delivered') stmt.release.run(now, outboxId);
    // The row says it (final_at, status, provider_error: ../row-events.ts); a row sent before those steps were read from it needs the event.
    if (!stepped) stmt.insertEvent.run(now, outboxId, queueId, settled.status, settled.errorCode);
  }

  /** Not known yet: the send's own answer may still be on its way (or in a commit not yet made). Parked; only after the grace period 404. */
  const unknownOrParked = (since: number | null, now: number): ReceiptOutcome => (since !== null && now - since >= receiptGraceMs ? 'unknown' : 'parked');

  function receipt(r: Receipt, now: number): ReceiptOutcome {
    const stored = stmt.receive.run({
      now, pid: r.providerMessageId, status: r.status, errorCode: r.errorCode ?? null, body: r.rawBody, part: r.part ?? null, parts: r.parts ?? null, graceMs: receiptGraceMs,
    });
    if (stored.changes === 0) {
      // The same receipt again (a provider's retry, a replay): answered as before, not stored again.
      const facts = factsOf(r, false);
      return facts.id !== null ? 'duplicate' : unknownOrParked(facts.parkedSince, now);
    }
    const received = stmt.received.get(stored.lastInsertRowid) as Received;
    if (received.outcome === 'applied') {
      settle({ id: received.outboxId as number, queueId: received.queueId as string, stepped: received.stepped }, settledBy(r, received.knownParts), now);
    }
    return received.outcome;
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
      // Read again for each: the one before may have settled the row or added a part.
      stmt.unpark.run(`parked, then ${applyToRow(parked, now, factsOf(parked, false) as ReceiptRow)}`, p.id);
    }
  }

  return { receipt, applyParked };
}
