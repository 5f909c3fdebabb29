import {
  DAY_MS, GLOBAL_PURPOSE, capVerdictOf, consentVerdictOf, cooldownVerdictOf, recheckCooldownOf,
  type ConsentRecord, type RecipientRules, type RuleVerdict,
} from '../rules.js';
import type { PgClient } from './pool.js';

/*
 * The rules of ../rules.ts on PostgreSQL: the same facts, read in one round
 * trip per recipient (lateral subqueries), and the same verdict functions.
 * Intake calls `evaluate` while it holds the number's advisory lock, so the
 * check and the reservation that follows are atomic across daemons.
 */

export const EVALUATE_SQL = `
SELECT g.action AS g_action, g.at AS g_at, g.source AS g_source,
       p.action AS p_action, p.at AS p_at, p.source AS p_source,
       (SELECT max(sent_at) FROM sends WHERE recipient = $1 AND state = 'sent' AND purpose = $2) AS last_sent,
       sc.n AS setup_n, sc.oldest AS setup_oldest, nc.n AS number_n, nc.oldest AS number_oldest,
       cb.state AS blocker_state, cb.sent_at AS blocker_sent_at
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT action, at, source FROM consent_events WHERE recipient = $1 AND purpose = '' ORDER BY id DESC LIMIT 1) g ON true
  LEFT JOIN LATERAL (SELECT action, at, source FROM consent_events WHERE recipient = $1 AND purpose = $2 ORDER BY id DESC LIMIT 1) p ON $2::text IS NOT NULL
  LEFT JOIN LATERAL (SELECT count(*) AS n, min(reserved_at) AS oldest FROM
      (SELECT reserved_at FROM sends WHERE setup_id = $3 AND reserved_at > $4 AND state != 'released' ORDER BY reserved_at DESC LIMIT $5) s) sc ON true
  LEFT JOIN LATERAL (SELECT count(*) AS n, min(reserved_at) AS oldest FROM
      (SELECT reserved_at FROM sends WHERE recipient = $1 AND state IN ('reserved', 'sent') AND reserved_at > $4 ORDER BY reserved_at DESC LIMIT $6) s) nc ON true
  LEFT JOIN LATERAL (SELECT state, sent_at FROM sends
      WHERE $8::bigint IS NOT NULL AND recipient = $1
        AND ((state = 'reserved' AND coalesce(due_at, 0) <= $7::bigint) OR (state = 'sent' AND sent_at > $7::bigint - $8::bigint))
      ORDER BY state = 'reserved' DESC, sent_at DESC LIMIT 1) cb ON true`;

const RECHECK_SQL = `
SELECT g.action AS g_action, g.at AS g_at, g.source AS g_source,
       p.action AS p_action, p.at AS p_at, p.source AS p_source,
       EXISTS (SELECT 1 FROM sends WHERE $4::bigint IS NOT NULL AND recipient = $1 AND state = 'reserved' AND coalesce(due_at, 0) <= $3::bigint
                  AND id < (SELECT id FROM sends WHERE outbox_id = $5)) AS earlier_pending,
       (SELECT max(sent_at) FROM sends WHERE $4::bigint IS NOT NULL AND recipient = $1 AND state = 'sent' AND sent_at > $3::bigint - $4::bigint
                  AND (outbox_id IS NULL OR outbox_id != $5)) AS sent_by_others
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT action, at, source FROM consent_events WHERE recipient = $1 AND purpose = '' ORDER BY id DESC LIMIT 1) g ON true
  LEFT JOIN LATERAL (SELECT action, at, source FROM consent_events WHERE recipient = $1 AND purpose = $2 ORDER BY id DESC LIMIT 1) p ON $2::text IS NOT NULL`;

type ConsentColumns = { g_action: string | null; g_at: number | null; g_source: string | null; p_action: string | null; p_at: number | null; p_source: string | null };

function consentOf(row: ConsentColumns): { global: ConsentRecord | undefined; optIn: ConsentRecord | undefined } {
  const record = (action: string | null, at: number | null, source: string | null): ConsentRecord | undefined =>
    action === null ? undefined : { action: action as ConsentRecord['action'], at: at ?? 0, source: source ?? '' };
  return { global: record(row.g_action, row.g_at, row.g_source), optIn: record(row.p_action, row.p_at, row.p_source) };
}

type EvaluateRow = ConsentColumns & {
  last_sent: number | null; setup_n: number; setup_oldest: number | null; number_n: number; number_oldest: number | null;
  blocker_state: string | null; blocker_sent_at: number | null;
};

/** EVALUATE_SQL's parameters for one recipient. */
export function evaluateParams(recipient: string, rules: RecipientRules, now: number): unknown[] {
  return [recipient, rules.purpose?.name ?? null, rules.setupId, now - DAY_MS, rules.dailyLimit ?? 0, rules.numberDailyLimit ?? 0, now, rules.cooldownMs];
}

export async function evaluateOn(client: PgClient, recipient: string, rules: RecipientRules, now: number): Promise<RuleVerdict> {
  const { rows } = await client.query<EvaluateRow>(EVALUATE_SQL, evaluateParams(recipient, rules, now));
  return verdictOf(rows[0]!, rules, now);
}

/** The verdict from EVALUATE_SQL's row (the same verdict functions as SQLite's). */
export function verdictOf(row: EvaluateRow, rules: RecipientRules, now: number): RuleVerdict {
  const consent = consentVerdictOf({ ...consentOf(row), lastSent: row.last_sent }, rules.purpose, now);
  if (!consent.allowed) return consent;
  const setupCap = capVerdictOf({ n: row.setup_n, oldest: row.setup_oldest }, rules.dailyLimit, now, 'daily_limit', `setup ${rules.setupId}`);
  if (!setupCap.allowed) return setupCap;
  const numberCap = capVerdictOf({ n: row.number_n, oldest: row.number_oldest }, rules.numberDailyLimit, now, 'number_daily_limit', 'this number');
  if (!numberCap.allowed) return numberCap;
  if (rules.cooldownMs === null || row.blocker_state === null) return { allowed: true };
  return cooldownVerdictOf({ blocked: true, until: row.blocker_sent_at === null ? null : row.blocker_sent_at + rules.cooldownMs });
}

export async function recheckOn(
  client: PgClient,
  recipient: string,
  rules: { cooldownMs: number | null; purpose: string | null; outboxId: number; confirmsOptOut?: boolean },
  now: number,
): Promise<RuleVerdict> {
  const { rows } = await client.query<ConsentColumns & { earlier_pending: boolean; sent_by_others: number | null }>(RECHECK_SQL, [
    recipient, rules.purpose, now, rules.cooldownMs, rules.outboxId,
  ]);
  const row = rows[0]!;
  const purpose = rules.purpose === null ? null : { name: rules.purpose, maxSilenceMs: null };
  const consent = consentVerdictOf({ ...consentOf(row), lastSent: null }, purpose, now);
  // The confirmation of a STOP is the one SMS an opted-out number still gets.
  if (!consent.allowed && !(rules.confirmsOptOut && consent.reason === 'opted_out')) return consent;
  if (rules.cooldownMs === null) return { allowed: true };
  return recheckCooldownOf({ earlierPending: row.earlier_pending, sentByOthers: row.sent_by_others }, rules.cooldownMs);
}

/** The latest global consent of a number ($1): what the send guard reads under the number's lock. */
export const OPTED_OUT = `SELECT action FROM consent_events WHERE recipient = $1 AND purpose = '${GLOBAL_PURPOSE}' ORDER BY id DESC LIMIT 1`;
