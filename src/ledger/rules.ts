import type { Db } from './sqlite/db.js';

/*
 * "May this number get this SMS now?" — the organisation-wide rules, read from
 * the ledger. One function answers it for intake (inside the transaction that
 * reserves the send, so check and reservation are atomic), for RCPT TO in
 * `on_suppressed: reject` setups, for `explain`, and again at send time.
 */

/** What holds a number back under its cooldown: until = null while an earlier SMS is still pending. */
export type CooldownVerdict = { blocked: false } | { blocked: true; until: number | null };

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

/*
 * Every fact intake's decision needs about one number, in one statement: the
 * latest global and purpose consent, the purpose's last SMS (max_silence), the
 * setup's and the number's live reservations of the last 24 hours, and what
 * holds the cooldown (a due reservation; the last SMS inside the interval).
 * Each part is one index seek (consent_current, sends_setup,
 * sends_recipient_state, sends_sent) and runs only when its rule is on (CASE).
 * Why not a per-number summary row: the caps slide (a place frees up when the
 * oldest of the last N is a day old, and the verdict says when), which a fixed
 * summary cannot answer without the reservations' times; and every write
 * into `sends` (intake, record-send, automations, sent, release, defer, purge)
 * would update it, one more page per commit, to save seeks that land in pages
 * the same commit touches anyway.
 */
const NUMBER_FACTS = `
SELECT g.action AS gAction, g.at AS gAt, g.source AS gSource, p.action AS pAction, p.at AS pAt, p.source AS pSource,
       CASE WHEN @maxSilenceMs IS NOT NULL THEN
         (SELECT max(sent_at) FROM sends WHERE recipient = @recipient AND state = 'sent' AND purpose = @purpose) END AS lastSent,
       CASE WHEN @dailyLimit IS NOT NULL THEN
         (SELECT count(*) FROM sends WHERE setup_id = @setupId AND reserved_at > @dayAgo AND state != 'released') END AS setupCount,
       CASE WHEN @numberDailyLimit IS NOT NULL THEN
         (SELECT count(*) FROM sends WHERE recipient = @recipient AND state IN ('reserved', 'sent') AND reserved_at > @dayAgo AND state != 'released') END AS numberCount,
       CASE WHEN @cooldownMs IS NOT NULL THEN
         EXISTS (SELECT 1 FROM sends WHERE recipient = @recipient AND state = 'reserved' AND state != 'released' AND coalesce(due_at, 0) <= @now) END AS duePending,
       CASE WHEN @cooldownMs IS NOT NULL THEN
         (SELECT max(sent_at) FROM sends WHERE recipient = @recipient AND state = 'sent' AND sent_at > @now - @cooldownMs) END AS lastSentInCooldown
  FROM (SELECT (SELECT id FROM consent_events WHERE recipient = @recipient AND purpose = '${GLOBAL_PURPOSE}' ORDER BY id DESC LIMIT 1) AS globalId,
               CASE WHEN @purpose IS NOT NULL THEN
                 (SELECT id FROM consent_events WHERE recipient = @recipient AND purpose = @purpose ORDER BY id DESC LIMIT 1) END AS purposeId) latest
  LEFT JOIN consent_events g ON g.id = latest.globalId
  LEFT JOIN consent_events p ON p.id = latest.purposeId`;

interface NumberFacts {
  gAction: ConsentRecord['action'] | null; gAt: number | null; gSource: string | null;
  pAction: ConsentRecord['action'] | null; pAt: number | null; pSource: string | null;
  lastSent: number | null; setupCount: number | null; numberCount: number | null; duePending: number | null; lastSentInCooldown: number | null;
}

const consentRecord = (action: ConsentRecord['action'] | null, at: number | null, source: string | null): ConsentRecord | undefined =>
  action === null ? undefined : { action, at: at ?? 0, source: source ?? '' };

export function createRuleReader(db: Db): RuleReader {
  const stmt = {
    numberFacts: db.prepare(NUMBER_FACTS),
    consent: db.prepare(
      'SELECT action, at, source FROM consent_events WHERE recipient = ? AND purpose = ? ORDER BY id DESC LIMIT 1',
    ),
    // A cap is far from full almost always: the facts' plain count over the
    // index answers that (a few µs); only a count at the limit asks which of
    // the last `limit` reservations is the oldest (when a place frees up).
    setupOldest: db.prepare(
      `SELECT count(*) AS n, min(reserved_at) AS oldest FROM
         (SELECT reserved_at FROM sends WHERE setup_id = ? AND reserved_at > ? AND state != 'released' ORDER BY reserved_at DESC LIMIT ?)`,
    ),
    // Live = reserved or sent: spelt as IN so both seek sends_recipient_state
    // (recipient, state, reserved_at); `state != 'released'` is that partial index's condition.
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

  function capVerdict(oldest: typeof stmt.setupOldest, key: string, count: number | null, limit: number | null, now: number, reason: CapReason, what: string): RuleVerdict {
    if (limit === null || count === null || count < limit) return { allowed: true };
    return capVerdictOf(oldest.get(key, now - DAY_MS, limit) as CapCount, limit, now, reason, what);
  }

  function evaluate(recipient: string, rules: RecipientRules, now: number): RuleVerdict {
    const facts = stmt.numberFacts.get({
      recipient, purpose: rules.purpose?.name ?? null, maxSilenceMs: rules.purpose?.maxSilenceMs ?? null, setupId: rules.setupId,
      dailyLimit: rules.dailyLimit, numberDailyLimit: rules.numberDailyLimit, cooldownMs: rules.cooldownMs, dayAgo: now - DAY_MS, now,
    }) as NumberFacts;
    const consent = consentVerdictOf(
      { global: consentRecord(facts.gAction, facts.gAt, facts.gSource), optIn: consentRecord(facts.pAction, facts.pAt, facts.pSource), lastSent: facts.lastSent },
      rules.purpose, now);
    if (!consent.allowed) return consent;
    const setupLimit = capVerdict(stmt.setupOldest, rules.setupId, facts.setupCount, rules.dailyLimit, now, 'daily_limit', `setup ${rules.setupId}`);
    if (!setupLimit.allowed) return setupLimit;
    const numberLimit = capVerdict(stmt.numberOldest, recipient, facts.numberCount, rules.numberDailyLimit, now, 'number_daily_limit', 'this number');
    if (!numberLimit.allowed) return numberLimit;
    if (rules.cooldownMs === null) return { allowed: true };
    if (facts.duePending) return cooldownVerdictOf({ blocked: true, until: null });
    if (facts.lastSentInCooldown === null) return { allowed: true };
    return cooldownVerdictOf({ blocked: true, until: facts.lastSentInCooldown + rules.cooldownMs });
  }

  /** The re-check's consent: the global switch, then the purpose's opt-in (no staleness at send time). */
  function consentVerdict(recipient: string, purpose: string | null, now: number): RuleVerdict {
    const global = latestConsent(recipient, GLOBAL_PURPOSE);
    if (global?.action === 'opt_out' || purpose === null) return consentVerdictOf({ global, optIn: undefined, lastSent: null }, null, now);
    return consentVerdictOf({ global, optIn: latestConsent(recipient, purpose), lastSent: null }, { name: purpose, maxSilenceMs: null }, now);
  }

  return {
    latestConsent,
    evaluate,
    recheck(recipient, rules, now) {
      const consent = consentVerdict(recipient, rules.purpose, now);
      if (!consent.allowed && !(rules.confirmsOptOut && consent.reason === 'opted_out')) return consent;
      if (rules.cooldownMs === null) return { allowed: true };
      const earlierPending = Boolean(stmt.earlierPending.get({ recipient, now, outboxId: rules.outboxId }));
      const sentByOthers = earlierPending ? null : (stmt.sentByOthers.get(recipient, now - rules.cooldownMs, rules.outboxId) as { at: number | null }).at;
      return recheckCooldownOf({ earlierPending, sentByOthers }, rules.cooldownMs);
    },
  };
}
