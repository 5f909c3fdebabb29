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
 * The outcome of a receipt, as the rules of ../sqlite/receipts.ts give it,
 * from `o`, the outbox row of its provider id (all NULL when not known yet):
 * parked (unknown after the grace period) while the provider id is not known,
 * duplicate for the row's own status or a part already counted, stale for a
 * final row, partial while parts of a delivered SMS are outstanding, applied
 * when this receipt settles the row. Every part status is final, so a row with
 * a part counted is still open only while all counted parts are delivered: one
 * count decides. NULL for the very same receipt again (a provider's retry),
 * which is answered as before and not stored again.
 */
function outcomeSql(p: ReceiptParams): string {
  const allParts = `CASE WHEN coalesce(${p.parts}, 1) > coalesce(o.parts, 1) THEN coalesce(${p.parts}, 1) ELSE coalesce(o.parts, 1) END`;
  const counted = `FROM receipts WHERE provider_message_id = ${p.pid} AND part IS NOT NULL AND outcome IN ${COUNTED_PART}`;
  return `CASE
      WHEN EXISTS (SELECT 1 FROM receipts WHERE provider_message_id = ${p.pid} AND status = ${p.status}
                     AND part IS NOT DISTINCT FROM ${p.part} AND body = ${p.body}) THEN NULL
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
    END`;
}

/** What a stored receipt returns: its outcome, and the row's id, queue id and parts when it settles the row (for the caller's one write to it). */
const returningSql = (rowColumn: (column: string) => string) => `RETURNING outcome,
    CASE WHEN outcome = 'applied' THEN ${rowColumn('id')} END AS "outboxId",
    CASE WHEN outcome = 'applied' THEN ${rowColumn('message_id')} END AS "queueId",
    CASE WHEN outcome = 'applied' THEN ${rowColumn('parts')} END AS "knownParts"`;

/**
 * SQLite: a receipt decided and stored in one statement; a replay (outcome
 * NULL, and outcome is NOT NULL) is ignored: no row changes. One row of
 * VALUES and no RETURNING: a SELECT that reads the table it inserts into, and
 * RETURNING, each go through a temporary table, whose fresh memory can cost
 * tens of page faults per statement (glibc gives the heap's top back after
 * each); reading the stored row back by its rowid (SQLITE_RECEIVED) costs a
 * few µs.
 */
export function sqliteReceiveSql(p: ReceiptParams): string {
  return `INSERT OR IGNORE INTO receipts (received_at, provider_message_id, status, error_code, outcome, body, part, parts)
  VALUES (${p.now}, ${p.pid}, ${p.status}, ${p.errorCode},
    (SELECT ${outcomeSql(p)} FROM (SELECT 1) AS one LEFT JOIN outbox o ON o.provider_message_id = ${p.pid}),
    ${p.body}, ${p.part}, ${p.parts})`;
}

/** The outcome of the receipt just stored (by rowid), and its row's facts when it settles it; stepped: the row says its steps (row-events.ts). */
export const SQLITE_RECEIVED = `SELECT r.outcome, o.id AS outboxId, o.message_id AS queueId, o.parts AS knownParts, o.claim_event IS NOT NULL AS stepped
  FROM receipts r LEFT JOIN outbox o ON r.outcome = 'applied' AND o.provider_message_id = r.provider_message_id WHERE r.id = ?`;

/**
 * PostgreSQL: the same in one statement, the row locked while it is read
 * (FOR UPDATE); a replay selects no row. Untyped NULL parameters would be
 * text here: the caller casts the parts.
 */
export function pgReceiveSql(p: ReceiptParams): string {
  return `WITH r AS (SELECT id, status, parts, message_id FROM outbox WHERE provider_message_id = ${p.pid} FOR UPDATE),
    decided AS (SELECT ${outcomeSql(p)} AS outcome FROM (SELECT 1) AS one LEFT JOIN r o ON TRUE)
  INSERT INTO receipts (received_at, provider_message_id, status, error_code, outcome, body, part, parts)
  SELECT ${p.now}, ${p.pid}, ${p.status}, ${p.errorCode}, outcome, ${p.body}, ${p.part}, ${p.parts} FROM decided WHERE outcome IS NOT NULL
  ${returningSql((name) => `(SELECT ${name} FROM r)`)}`;
}

/** What a receipt that settles its row (outcome applied) makes of it: a failed part fails the whole SMS, naming the part. */
export function settledBy(r: Receipt, knownParts: number | null): { status: ReceiptStatus; errorCode: string | null } {
  const parts = Math.max(r.parts ?? 1, knownParts ?? 1);
  if (r.part === undefined || parts <= 1 || r.status === 'delivered') return { status: r.status, errorCode: r.errorCode ?? null };
  return { status: r.status, errorCode: `part ${r.part}/${parts}${r.errorCode ? ` ${r.errorCode}` : ''}` };
}
