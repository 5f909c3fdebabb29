import type { OutboxStatus, Receipt, ReceiptOutcome, ReceiptStatus } from '../types.js';
import { COUNTED_PART, pgReceiveSql, settledBy } from '../receipt-outcome.js';
import { inlineSql, lockKey, type PgClient, type Tx } from './pool.js';
import { RELEASE } from './queue.js';

const TERMINAL: ReadonlySet<OutboxStatus> = new Set(['delivered', 'failed', 'expired', 'rejected', 'suppressed']);
const FAILURES: ReadonlySet<string> = new Set(['failed', 'expired', 'rejected']);

type ReceiptRow = { id: number; status: OutboxStatus; queueId: string; parts: number | null };
type Received = { outcome: ReceiptOutcome; outboxId: number | null; queueId: string | null; knownParts: number | null };
type ParkedRow = { id: number; status: ReceiptStatus; errorCode: string | null; part: number | null; parts: number | null; body: string };

// The receipt decided and stored in one statement (../receipt-outcome.ts); its row locked while it is read.
const RECEIVE = pgReceiveSql({
  now: '$1', pid: '$2', status: '$3', errorCode: '$4', body: '$5', part: '$6::integer', parts: '$7::integer', graceMs: '$8',
});

const FINISH = `UPDATE outbox SET status = $2, final_at = $3, updated_at = $3, provider_error = $4,
    reason = CASE WHEN $2 != 'delivered' THEN 'provider: ' || $2 || coalesce(' (' || $4 || ')', '') ELSE reason END
  WHERE id = $1`;

/**
 * A receipt and the send it is about may reach different daemons at the same
 * moment: both take this lock, so a receipt is either parked before the send
 * is recorded (and the send applies it) or finds the row.
 */
export const providerIdLock = (providerMessageId: string) => lockKey(`provider-id:${providerMessageId}`);

/** The receipt rules of ../sqlite/receipts.ts on PostgreSQL: idempotent, never backwards, per part, parked when early. */
export function createPgReceipts(receiptGraceMs: number) {
  async function combineParts(client: PgClient, r: Receipt, knownParts: number | null) {
    const parts = Math.max(r.parts ?? 1, knownParts ?? 1);
    if (r.part === undefined || parts <= 1) return { status: r.status, ...(r.errorCode ? { errorCode: r.errorCode } : {}) };
    // The receipts that counted a part are the parts' state (../receipt-outcome.ts COUNTED_PART); the caller holds the provider id's lock.
    const seen = (await client.query<{ part: number; status: ReceiptStatus; errorCode: string | null }>(
      `SELECT part, status, error_code AS "errorCode" FROM receipts WHERE provider_message_id = $1 AND part IS NOT NULL AND outcome IN ${COUNTED_PART}`,
      [r.providerMessageId],
    )).rows;
    if (seen.some((p) => p.part === r.part)) return 'repeat' as const;
    seen.push({ part: r.part, status: r.status, errorCode: r.errorCode ?? null });
    seen.sort((a, b) => a.part - b.part);
    const failedPart = seen.find((p) => FAILURES.has(p.status));
    if (failedPart) return { status: failedPart.status, errorCode: `part ${failedPart.part}/${parts}${failedPart.errorCode ? ` ${failedPart.errorCode}` : ''}` };
    if (seen.filter((p) => p.status === 'delivered').length >= parts) return { status: 'delivered' as const };
    return undefined;
  }

  async function applyToRow(client: PgClient, r: Receipt, row: ReceiptRow, now: number): Promise<ReceiptOutcome> {
    if (TERMINAL.has(row.status) && row.status !== r.status) return 'stale';
    if (row.status === r.status) return 'duplicate';
    const combined = await combineParts(client, r, row.parts);
    if (combined === 'repeat') return 'duplicate';
    if (!combined) return 'partial';
    for (const sql of settling(row.id, row.queueId, { status: combined.status, errorCode: combined.errorCode ?? null }, now)) await client.query(sql);
    return 'applied';
  }

  /** The writes of a receipt that settles its row (values inlined: they may go with the COMMIT). */
  function settling(outboxId: number, queueId: string, settled: { status: ReceiptStatus; errorCode: string | null }, now: number): string[] {
    return [
      inlineSql(FINISH, [outboxId, settled.status, now, settled.errorCode]),
      // Not delivered: it does not count for the cooldown.
      ...(settled.status !== 'delivered' ? [inlineSql(RELEASE, [now, outboxId])] : []),
      // The row says it (final_at, status, provider_error: ../row-events.ts); a row sent before those steps were read from it needs the event.
      inlineSql(`INSERT INTO events (at, outbox_id, message_id, type, detail) SELECT $1, id, $3, status, provider_error FROM outbox WHERE id = $2 AND claim_event IS NULL`,
        [now, outboxId, queueId]),
    ];
  }

  const byProviderId = async (client: PgClient, providerMessageId: string) =>
    (await client.query<ReceiptRow>(
      'SELECT id, status, message_id AS "queueId", parts FROM outbox WHERE provider_message_id = $1 FOR UPDATE', [providerMessageId],
    )).rows[0];

  /** The statement that decides and stores `r`, to run with BEGIN after providerIdLock(r.providerMessageId). */
  const receiveSql = (r: Receipt, now: number) =>
    inlineSql(RECEIVE, [now, r.providerMessageId, r.status, r.errorCode ?? null, r.rawBody, r.part ?? null, r.parts ?? null, receiptGraceMs]);

  /**
   * Two round trips: the receipt decided and stored with BEGIN (receiveSql, in
   * tx.leading), the row settled with the COMMIT. The same receipt again, which
   * stored nothing, takes a read more.
   */
  async function receipt(client: PgClient, r: Receipt, now: number, tx: Tx): Promise<ReceiptOutcome> {
    const received = tx.leading[0]?.rows[0] as Received | undefined;
    if (received) {
      if (received.outcome === 'applied') {
        const settled = settledBy(r, received.knownParts);
        for (const sql of settling(Number(received.outboxId), received.queueId as string, settled, now)) tx.beforeCommit(sql);
      }
      return received.outcome;
    }
    if (await byProviderId(client, r.providerMessageId)) return 'duplicate';
    const since = (await client.query<{ at: number | null }>(
      `SELECT min(received_at) AS at FROM receipts WHERE provider_message_id = $1 AND outcome = 'parked'`, [r.providerMessageId],
    )).rows[0]?.at ?? null;
    return since !== null && now - Number(since) >= receiptGraceMs ? 'unknown' : 'parked';
  }

  /** Receipts that beat the send's own answer; the caller holds the provider id's lock. */
  async function applyParked(client: PgClient, providerMessageId: string, now: number): Promise<void> {
    const parked = (await client.query<ParkedRow>(
      `SELECT id, status, error_code AS "errorCode", part, parts, body FROM receipts WHERE provider_message_id = $1 AND outcome = 'parked' ORDER BY id`,
      [providerMessageId],
    )).rows;
    for (const p of parked) {
      const row = await byProviderId(client, providerMessageId);
      if (!row) return;
      const receipt: Receipt = {
        providerMessageId, status: p.status, rawBody: p.body,
        ...(p.errorCode ? { errorCode: p.errorCode } : {}), ...(p.part ? { part: p.part } : {}), ...(p.parts ? { parts: p.parts } : {}),
      };
      const outcome = await applyToRow(client, receipt, row, now);
      await client.query('UPDATE receipts SET outcome = $1 WHERE id = $2', [`parked, then ${outcome}`, p.id]);
    }
  }

  return { receipt, receiveSql, applyParked };
}
