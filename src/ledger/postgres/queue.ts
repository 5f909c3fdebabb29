import type { Logger } from '../../core/log.js';
import { takeTurns } from '../turns.js';
import type { ClaimPolicy, ClaimedSms } from '../types.js';
import { INSERT_EVENT } from './intake.js';
import type { QueryResult } from 'pg';
import { inlineSql, type PgClient } from './pool.js';
import { writeStepsSql } from '../row-events.js';
import { recheckOn } from './rules.js';

interface LeasedRow {
  id: number;
  queueId: string;
  recipient: string;
  idempotencyKey: string;
  attempts: number;
  createdAt: number;
  senderName: string;
  text: string;
  setupId: string;
  cooldownMs: number | null;
  purpose: string | null;
  expiresAt: number | null;
  sendingWindow: string | null;
  onUnknown: 'retry' | 'fail';
  confirmsOptOut: boolean;
}

// The setups with rows due, by a loose index scan of outbox_due_by_setup: one probe per setup, whatever the backlog.
const DUE_SETUPS = `WITH RECURSIVE s(setup_id) AS (
    (SELECT setup_id FROM outbox WHERE status = 'queued' ORDER BY setup_id LIMIT 1)
    UNION ALL
    SELECT (SELECT setup_id FROM outbox WHERE status = 'queued' AND setup_id > s.setup_id ORDER BY setup_id LIMIT 1) FROM s WHERE s.setup_id IS NOT NULL)
  SELECT setup_id AS "setupId" FROM s WHERE setup_id IS NOT NULL`;

// FOR UPDATE SKIP LOCKED: rows another daemon is claiming right now are not waited for, they are simply not ours.
const EXPIRED_LEASES = `SELECT id FROM outbox WHERE status = 'sending' AND lease_until <= $1 ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED`;
const DUE_FOR_SETUP = `SELECT id FROM outbox WHERE status = 'queued' AND setup_id = $1 AND next_attempt_at <= $2
  ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED`;

// The claim is no event row: claimed_at and claim_event say it (../row-events.ts).
const LEASE = `UPDATE outbox o SET status = 'sending', lease_until = $2, attempts = o.attempts + 1, updated_at = $3,
    claimed_at = $3, claim_event = (SELECT coalesce(max(id), 0) FROM events)
  FROM messages m WHERE o.id = ANY($1::bigint[]) AND m.id = o.message_id
  RETURNING o.id, o.message_id AS "queueId", o.recipient, o.idempotency_key AS "idempotencyKey", o.attempts, o.created_at AS "createdAt",
    m.sender_name AS "senderName",
    CASE WHEN o.sms_text IS NOT NULL THEN (CASE WHEN o.stop_clause = 0 AND o.sms_text_no_clause IS NOT NULL THEN o.sms_text_no_clause ELSE o.sms_text END)
         WHEN o.stop_clause = 0 AND m.sms_text_no_clause IS NOT NULL THEN m.sms_text_no_clause ELSE m.sms_text END AS text,
    m.setup_id AS "setupId", m.cooldown_ms AS "cooldownMs", m.purpose, m.expires_at AS "expiresAt", m.sending_window AS "sendingWindow",
    m.on_unknown AS "onUnknown", (m.setup_id = '(keywords)' AND m.session_ref LIKE 'inbound#%:opt-out') AS "confirmsOptOut"`;

const RELEASE = `UPDATE sends SET state = 'released', released_at = $1 WHERE outbox_id = $2 AND state != 'released'`;
const DEFER = `UPDATE outbox SET status = 'queued', next_attempt_at = $2, attempts = attempts - 1, lease_until = NULL, updated_at = $3, claim_event = NULL
  WHERE id = $1 AND status = 'sending'`;
// Rows whose lease ran out: their earlier claim written out as an event before they are leased again.
const WRITE_CLAIMS = writeStepsSql('ANY($1::bigint[])', { onlyStep: 1 });

/** What a claim reads first, with BEGIN (one round trip): rows whose lease ran out, and the setups with rows queued. */
export function claimLeading(limit: number, now: number): string[] {
  return [inlineSql(EXPIRED_LEASES, [now, limit]), DUE_SETUPS];
}

export function createPgQueue(deps: { policy: ClaimPolicy; logger: Logger }) {
  const { logger } = deps;
  let turn = 0;

  /** Up to `limit` due rows, locked for this transaction, interleaved across setups (oldest first within each). */
  async function dueRows(client: PgClient, setups: string[], limit: number, now: number): Promise<number[]> {
    const start = setups.length > 0 ? turn++ % setups.length : 0;
    const lists: number[][] = [];
    for (let i = 0; i < setups.length; i++) {
      const setupId = setups[(start + i) % setups.length]!;
      lists.push((await client.query<{ id: number }>(DUE_FOR_SETUP, [setupId, now, limit])).rows.map((r) => r.id));
    }
    // Rows locked beyond the limit stay queued; the lock ends with the transaction.
    return takeTurns(lists, limit);
  }

  async function admit(client: PgClient, row: LeasedRow, now: number): Promise<ClaimedSms | undefined> {
    const decision = deps.policy({ expiresAt: row.expiresAt, sendingWindow: row.sendingWindow }, now);
    if (decision.action === 'expire') {
      await client.query(`UPDATE outbox SET status = 'expired', reason = $2, final_at = $3, updated_at = $3, lease_until = NULL, claim_event = NULL WHERE id = $1`, [row.id, decision.reason, now]);
      await client.query(RELEASE, [now, row.id]);
      await client.query(INSERT_EVENT, [now, row.id, row.queueId, 'expired', decision.reason]);
      logger.info({ qid: row.queueId, outbox: row.id }, 'sms expired before it could be sent (max_age)');
      return undefined;
    }
    if (decision.action === 'defer') {
      await client.query(DEFER, [row.id, decision.until, now]);
      await client.query(`UPDATE sends SET due_at = $2 WHERE outbox_id = $1 AND state = 'reserved'`, [row.id, decision.until]);
      await client.query(INSERT_EVENT, [now, row.id, row.queueId, 'deferred', decision.reason]);
      return undefined;
    }
    // The rules again, in the transaction that marks the row sending: an opt-out committed before it is seen here.
    const verdict = await recheckOn(client, row.recipient, { cooldownMs: row.cooldownMs, purpose: row.purpose, outboxId: row.id, confirmsOptOut: row.confirmsOptOut }, now);
    if (!verdict.allowed) {
      await client.query(
        `UPDATE outbox SET status = 'suppressed', reason = $2, blocked_until = $3, final_at = $4, updated_at = $4, lease_until = NULL, claim_event = NULL
         WHERE id = $1`,
        [row.id, verdict.reason, verdict.until ?? null, now],
      );
      await client.query(RELEASE, [now, row.id]);
      await client.query(INSERT_EVENT, [now, row.id, row.queueId, 'suppressed', `at send time: ${verdict.reason}: ${verdict.detail}`]);
      logger.info({ qid: row.queueId, outbox: row.id, reason: verdict.reason }, 'suppressed at send time');
      return undefined;
    }
    return {
      outboxId: row.id, queueId: row.queueId, recipient: row.recipient, senderName: row.senderName, text: row.text, setupId: row.setupId,
      idempotencyKey: row.idempotencyKey, attempt: row.attempts, createdAt: row.createdAt, onUnknown: row.onUnknown,
      ...(row.confirmsOptOut ? { confirmsOptOut: true } : {}),
    };
  }

  /** `leading`: the results of claimLeading's statements, read with BEGIN. */
  async function claim(client: PgClient, limit: number, leaseMs: number, now: number, leading: readonly QueryResult[]): Promise<ClaimedSms[]> {
    const [expired, setups] = leading as [QueryResult<{ id: number }>, QueryResult<{ setupId: string }>];
    const ids = expired.rows.map((r) => r.id);
    // Claimed again after a lease ran out (a daemon died mid-send?): the earlier call may have sent it.
    const leaseExpired = new Set(ids);
    if (ids.length < limit) ids.push(...(await dueRows(client, setups.rows.map((r) => r.setupId), limit - ids.length, now)));
    if (ids.length === 0) return [];
    if (leaseExpired.size > 0) await client.query(WRITE_CLAIMS, [[...leaseExpired]]);
    const leased = (await client.query<LeasedRow>(LEASE, [ids, now + leaseMs, now])).rows;
    const order = new Map(ids.map((id, i) => [id, i]));
    leased.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    const claimed: ClaimedSms[] = [];
    for (const row of leased) {
      const sms = await admit(client, row, now);
      if (sms) claimed.push(leaseExpired.has(row.id) ? { ...sms, leaseExpired: true } : sms);
    }
    return claimed;
  }

  return { claim };
}

export { RELEASE, DEFER };
