import type { Receipt, ReceiptStatus } from './types.js';

/**
 * The outcomes of a part receipt that counted its part (the first receipt
 * for a part counts; a later one is a duplicate): the receipts table is the
 * state of each part, so a part receipt writes one row, not two.
 */
export const COUNTED_PART = `('partial', 'applied', 'parked, then partial', 'parked, then applied')`;

/** How each backend writes the receipt's values into the one statement. */
export interface ReceiptParams {
  now: string;
  pid: string;
  status: string;
  errorCode: string;
  body: string;
  part: string;
  parts: string;
  graceMs: string;
}

/**
 * A receipt decided and stored in one statement: the row as received, with
 * the outcome the rules of ../sqlite/receipts.ts give it — parked (unknown
 * after the grace period) while the provider id is not known, duplicate for
 * the row's own status or a part already counted, stale for a final row,
 * partial while parts of a delivered SMS are outstanding, applied when this
 * receipt settles the row. Every part status is final, so a row with a part
 * counted is still open only while all counted parts are delivered: one count
 * decides. The very same receipt again (a provider's retry) inserts nothing:
 * no row comes back. `row` is the outbox row of the provider id (id, status,
 * parts; none when not known yet), `rowColumn` a scalar read of one of its
 * columns: a receipt that settles its row returns the row's id, queue id and
 * parts, for the caller's one write to it.
 */
export function insertReceiptSql(p: ReceiptParams, row: string, rowColumn: (column: string) => string): string {
  const allParts = `greatest_parts`;
  const counted = `FROM receipts WHERE provider_message_id = ${p.pid} AND part IS NOT NULL AND outcome IN ${COUNTED_PART}`;
  return `INSERT INTO receipts (received_at, provider_message_id, status, error_code, outcome, body, part, parts)
  SELECT ${p.now}, ${p.pid}, ${p.status}, ${p.errorCode},
    CASE
      WHEN o.id IS NULL THEN
        CASE WHEN (SELECT min(received_at) FROM receipts WHERE provider_message_id = ${p.pid} AND outcome = 'parked') <= ${p.now} - ${p.graceMs}
             THEN 'unknown' ELSE 'parked' END
      WHEN o.status = ${p.status} THEN 'duplicate'
      WHEN o.status IN ('delivered', 'failed', 'expired', 'rejected', 'suppressed') THEN 'stale'
      WHEN ${p.part} IS NULL OR ${allParts} <= 1 THEN 'applied'
      WHEN EXISTS (SELECT 1 ${counted} AND part = ${p.part}) THEN 'duplicate'
      WHEN ${p.status} != 'delivered' THEN 'applied'
      WHEN (SELECT count(*) ${counted} AND status = 'delivered') + 1 >= ${allParts} THEN 'applied'
      ELSE 'partial'
    END, ${p.body}, ${p.part}, ${p.parts}
  FROM (SELECT CASE WHEN coalesce(${p.parts}, 1) > coalesce(o.parts, 1) THEN coalesce(${p.parts}, 1) ELSE coalesce(o.parts, 1) END AS ${allParts}, o.*
          FROM (SELECT 1) AS one LEFT JOIN ${row} o ON TRUE) AS o
  WHERE NOT EXISTS (SELECT 1 FROM receipts WHERE provider_message_id = ${p.pid} AND status = ${p.status}
                      AND part IS NOT DISTINCT FROM ${p.part} AND body = ${p.body})
  RETURNING outcome,
    CASE WHEN outcome = 'applied' THEN ${rowColumn('id')} END AS "outboxId",
    CASE WHEN outcome = 'applied' THEN ${rowColumn('message_id')} END AS "queueId",
    CASE WHEN outcome = 'applied' THEN ${rowColumn('parts')} END AS "knownParts"`;
}

/** What a receipt that settles its row (outcome applied) makes of it: a failed part fails the whole SMS, naming the part. */
export function settledBy(r: Receipt, knownParts: number | null): { status: ReceiptStatus; errorCode: string | null } {
  const parts = Math.max(r.parts ?? 1, knownParts ?? 1);
  if (r.part === undefined || parts <= 1 || r.status === 'delivered') return { status: r.status, errorCode: r.errorCode ?? null };
  return { status: r.status, errorCode: `part ${r.part}/${parts}${r.errorCode ? ` ${r.errorCode}` : ''}` };
}
