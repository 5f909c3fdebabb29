import type { Db } from './db.js';
import { createCooldownCheck, type CooldownVerdict } from './cooldown.js';

/*
 * "May this number get this SMS now?" — the organisation-wide rules, read from
 * the ledger. One function answers it for intake (inside the transaction that
 * reserves the send, so check and reservation are atomic), for RCPT TO in
 * `on_suppressed: reject` setups, for `explain`, and again at send time.
 */

export type SuppressionReason = 'opted_out' | 'no_consent' | 'stale_consent' | 'daily_limit' | 'number_daily_limit' | 'cooldown';

/** The global consent switch (STOP / START) is stored under this purpose. */
export const GLOBAL_PURPOSE = '';

export const DAY_MS = 86_400_000;

export interface RecipientRules {
  setupId: string;
  /** The setup's cooldown; null = off. */
  cooldownMs: number | null;
  /** Marketing setups: the purpose whose opt-in is required. Alert setups: null. */
  purpose: { name: string; maxSilenceMs: number | null } | null;
  /** SMS this setup may send in any 24 hours; null = no cap. */
  dailyLimit: number | null;
  /** SMS one number may get from the whole organisation in any 24 hours; null = no cap. */
  numberDailyLimit: number | null;
}

export type RuleVerdict =
  | { allowed: true }
  | {
      allowed: false;
      reason: SuppressionReason;
      /** When the number is free again, if the rule knows (cooldown, daily caps); null while an earlier SMS is pending. */
      until?: number | null;
      /** For people: the rule and its numbers. */
      detail: string;
    };

export interface ConsentRecord {
  action: 'opt_in' | 'opt_out';
  at: number;
  source: string;
}

export interface RuleReader {
  evaluate(recipient: string, rules: RecipientRules, now: number): RuleVerdict;
  /** The re-check just before sending: consent withdrawn, or another channel's SMS inside the cooldown. */
  /** `confirmsOptOut`: the one SMS an opted-out number still gets, the confirmation of its STOP. */
  recheck(recipient: string, rules: { cooldownMs: number | null; purpose: string | null; outboxId: number; confirmsOptOut?: boolean }, now: number): RuleVerdict;
  latestConsent(recipient: string, purpose: string): ConsentRecord | undefined;
}

const iso = (ms: number) => new Date(ms).toISOString();

/*
 * The verdicts from the facts a backend read (SQLite here, PostgreSQL in
 * postgres/rules.ts): one wording and one set of edges (half-open intervals,
 * sliding caps) for every backend.
 */

export type CapReason = 'daily_limit' | 'number_daily_limit';
export interface CapCount {
  n: number;
  oldest: number | null;
}

export function consentVerdictOf(
  facts: { global: ConsentRecord | undefined; optIn: ConsentRecord | undefined; lastSent: number | null },
  purpose: { name: string; maxSilenceMs: number | null } | null,
  now: number,
): RuleVerdict {
  const { global, optIn } = facts;
  if (global?.action === 'opt_out') {
    return { allowed: false, reason: 'opted_out', detail: `opted out at ${iso(global.at)} (${global.source})` };
  }
  if (!purpose) return { allowed: true };
  if (!optIn) return { allowed: false, reason: 'no_consent', detail: `no opt-in for purpose ${purpose.name}` };
  if (optIn.action === 'opt_out') {
    return { allowed: false, reason: 'no_consent', detail: `opt-in for purpose ${purpose.name} revoked at ${iso(optIn.at)} (${optIn.source})` };
  }
  if (purpose.maxSilenceMs !== null) {
    const freshSince = Math.max(optIn.at, facts.lastSent ?? 0);
    // Half-open like the cooldown: exactly max_silence after the last contact the opt-in is stale.
    if (now - freshSince >= purpose.maxSilenceMs) {
      return {
        allowed: false,
        reason: 'stale_consent',
        detail: `opt-in for purpose ${purpose.name} is stale: nothing sent under it since ${iso(freshSince)}`,
      };
    }
  }
  return { allowed: true };
}

/** `count`: how many of the last `limit` reservations fall in the past 24 hours, and the oldest of them. */
export function capVerdictOf(count: CapCount, limit: number | null, now: number, reason: CapReason, what: string): RuleVerdict {
  if (limit === null || count.n < limit) return { allowed: true };
  // The window slides: a place frees up when the oldest of the last `limit` sends is a day old.
  const until = (count.oldest ?? now) + DAY_MS;
  return { allowed: false, reason, until, detail: `${what} reached its limit of ${limit} SMS in 24 hours; free again at ${iso(until)}` };
}

export function cooldownVerdictOf(blocked: CooldownVerdict): RuleVerdict {
  if (!blocked.blocked) return { allowed: true };
  return {
    allowed: false,
    reason: 'cooldown',
    until: blocked.until,
    detail: blocked.until === null ? 'cooldown: an earlier SMS to this number is still pending' : `cooldown until ${iso(blocked.until)}`,
  };
}

/** The cooldown at send time: an earlier due reservation goes first; another channel's SMS inside the interval blocks. */
export function recheckCooldownOf(facts: { earlierPending: boolean; sentByOthers: number | null }, cooldownMs: number): RuleVerdict {
  if (facts.earlierPending) {
    return { allowed: false, reason: 'cooldown', until: null, detail: 'cooldown: an earlier SMS to this number is still pending' };
  }
  if (facts.sentByOthers === null) return { allowed: true };
  const until = facts.sentByOthers + cooldownMs;
  return { allowed: false, reason: 'cooldown', until, detail: `cooldown: another SMS reached this number at ${iso(facts.sentByOthers)}; free again at ${iso(until)}` };
}

export function createRuleReader(db: Db): RuleReader {
  const cooldown = createCooldownCheck(db);
  const stmt = {
    consent: db.prepare(
      'SELECT action, at, source FROM consent_events WHERE recipient = ? AND purpose = ? ORDER BY id DESC LIMIT 1',
    ),
    lastSentForPurpose: db.prepare(
      `SELECT max(sent_at) AS at FROM sends WHERE recipient = ? AND state = 'sent' AND purpose = ?`,
    ),
    // A cap is far from full almost always: a plain count over the index
    // answers that (a few µs); only a count at the limit asks which of the
    // last `limit` reservations is the oldest (when a place frees up).
    setupCount: db.prepare(`SELECT count(*) FROM sends WHERE setup_id = ? AND reserved_at > ? AND state != 'released'`).pluck(),
    setupOldest: db.prepare(
      `SELECT count(*) AS n, min(reserved_at) AS oldest FROM
         (SELECT reserved_at FROM sends WHERE setup_id = ? AND reserved_at > ? AND state != 'released' ORDER BY reserved_at DESC LIMIT ?)`,
    ),
    // Live = reserved or sent: spelt as IN so both seek sends_recipient_state
    // (recipient, state, reserved_at); `state != 'released'` is that partial index's condition.
    numberCount: db.prepare(`SELECT count(*) FROM sends WHERE recipient = ? AND state IN ('reserved', 'sent') AND reserved_at > ? AND state != 'released'`).pluck(),
    numberOldest: db.prepare(
      `SELECT count(*) AS n, min(reserved_at) AS oldest FROM
         (SELECT reserved_at FROM sends WHERE recipient = ? AND state IN ('reserved', 'sent') AND reserved_at > ? AND state != 'released'
          ORDER BY reserved_at DESC LIMIT ?)`,
    ),
    // Another reservation that is due and older than this row's: it goes first.
    earlierPending: db.prepare(
      `SELECT 1 FROM sends WHERE recipient = @recipient AND state = 'reserved' AND state != 'released' AND coalesce(due_at, 0) <= @now
          AND id < (SELECT id FROM sends WHERE outbox_id = @outboxId) LIMIT 1`,
    ).pluck(),
    sentByOthers: db.prepare(
      `SELECT max(sent_at) AS at FROM sends
        WHERE recipient = ? AND state = 'sent' AND sent_at > ? AND (outbox_id IS NULL OR outbox_id != ?)`,
    ),
  };

  function latestConsent(recipient: string, purpose: string): ConsentRecord | undefined {
    return stmt.consent.get(recipient, purpose) as ConsentRecord | undefined;
  }

  function consentVerdict(recipient: string, purpose: { name: string; maxSilenceMs: number | null } | null, now: number): RuleVerdict {
    const global = latestConsent(recipient, GLOBAL_PURPOSE);
    if (global?.action === 'opt_out' || !purpose) return consentVerdictOf({ global, optIn: undefined, lastSent: null }, purpose, now);
    const optIn = latestConsent(recipient, purpose.name);
    const lastSent = optIn?.action === 'opt_in' && purpose.maxSilenceMs !== null
      ? (stmt.lastSentForPurpose.get(recipient, purpose.name) as { at: number | null }).at
      : null;
    return consentVerdictOf({ global, optIn, lastSent }, purpose, now);
  }

  type Cap = { count: typeof stmt.setupCount; oldest: typeof stmt.setupOldest };
  function capVerdict(cap: Cap, key: string, limit: number | null, now: number, reason: CapReason, what: string): RuleVerdict {
    if (limit === null) return { allowed: true };
    const n = cap.count.get(key, now - DAY_MS) as number;
    if (n < limit) return { allowed: true };
    return capVerdictOf(cap.oldest.get(key, now - DAY_MS, limit) as CapCount, limit, now, reason, what);
  }
  const setupCap = { count: stmt.setupCount, oldest: stmt.setupOldest };
  const numberCap = { count: stmt.numberCount, oldest: stmt.numberOldest };

  return {
    latestConsent,
    evaluate(recipient, rules, now) {
      const consent = consentVerdict(recipient, rules.purpose, now);
      if (!consent.allowed) return consent;
      const setupLimit = capVerdict(setupCap, rules.setupId, rules.dailyLimit, now, 'daily_limit', `setup ${rules.setupId}`);
      if (!setupLimit.allowed) return setupLimit;
      const numberLimit = capVerdict(numberCap, recipient, rules.numberDailyLimit, now, 'number_daily_limit', 'this number');
      if (!numberLimit.allowed) return numberLimit;
      return cooldownVerdictOf(cooldown(recipient, rules.cooldownMs, now));
    },
    recheck(recipient, rules, now) {
      const consent = consentVerdict(recipient, rules.purpose === null ? null : { name: rules.purpose, maxSilenceMs: null }, now);
      if (!consent.allowed && !(rules.confirmsOptOut && consent.reason === 'opted_out')) return consent;
      if (rules.cooldownMs === null) return { allowed: true };
      const earlierPending = Boolean(stmt.earlierPending.get({ recipient, now, outboxId: rules.outboxId }));
      const sentByOthers = earlierPending ? null : (stmt.sentByOthers.get(recipient, now - rules.cooldownMs, rules.outboxId) as { at: number | null }).at;
      return recheckCooldownOf({ earlierPending, sentByOthers }, rules.cooldownMs);
    },
  };
}
