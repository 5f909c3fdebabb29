import type { OutboxStatus, Receipt, ReceiptOutcome, ReceiptStatus } from '../types.js';
import { INSERT_EVENT } from './intake.js';
import { lockKey, type PgClient } from './pool.js';
import { RELEASE } from './queue.js';
import { COUNTED_PART } from '../sqlite/statements.js';

const TERMINAL: ReadonlySet<OutboxStatus> = new Set(['delivered', 'failed', 'expired', 'rejected', 'suppressed']);
const FAILURES: ReadonlySet<string> = new Set(['failed', 'expired', 'rejected']);

type ReceiptRow = { id: number; status: OutboxStatus; queueId: string; parts: number | null };
type ParkedRow = { id: number; status: ReceiptStatus; errorCode: string | null; part: number | null; parts: number | null; body: string };

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
    // The receipts that counted a part are the parts' state (../sqlite/statements.ts COUNTED_PART); the caller holds the provider id's lock.
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
    await client.query(
      `UPDATE outbox SET status = $2, final_at = $3, updated_at = $3, provider_error = $4,
         reason = CASE WHEN $2 != 'delivered' THEN 'provider: ' || $2 || coalesce(' (' || $4 || ')', '') ELSE reason END
       WHERE id = $1`,
      [row.id, combined.status, now, combined.errorCode ?? null],
    );
    if (combined.status !== 'delivered') await client.query(RELEASE, [now, row.id]);
    await client.query(INSERT_EVENT, [now, row.id, row.queueId, combined.status, combined.errorCode ?? null]);
    return 'applied';
  }

  const byProviderId = async (client: PgClient, providerMessageId: string) =>
    (await client.query<ReceiptRow>(
      'SELECT id, status, message_id AS "queueId", parts FROM outbox WHERE provider_message_id = $1 FOR UPDATE', [providerMessageId],
    )).rows[0];

  /** The caller holds providerIdLock(r.providerMessageId). */
  async function receipt(client: PgClient, r: Receipt, now: number): Promise<ReceiptOutcome> {
    const row = await byProviderId(client, r.providerMessageId);
    let outcome: ReceiptOutcome;
    if (row) {
      outcome = await applyToRow(client, r, row, now);
    } else {
      const since = (await client.query<{ at: number | null }>(
        `SELECT min(received_at) AS at FROM receipts WHERE provider_message_id = $1 AND outcome = 'parked'`, [r.providerMessageId],
      )).rows[0]?.at ?? null;
      outcome = since !== null && now - since >= receiptGraceMs ? 'unknown' : 'parked';
    }
    await client.query(
      'INSERT INTO receipts (received_at, provider_message_id, status, error_code, outcome, body, part, parts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [now, r.providerMessageId, r.status, r.errorCode ?? null, outcome, r.rawBody, r.part ?? null, r.parts ?? null],
    );
    return outcome;
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

  return { receipt, applyParked };
}
