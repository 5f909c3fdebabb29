import type { Db } from './db.js';
import {
  DAY_MS, GLOBAL_PURPOSE, capVerdictOf, consentVerdictOf, cooldownVerdictOf, recheckCooldownOf,
  type CapCount, type CapReason, type ConsentRecord, type RecipientRules, type RuleReader, type RuleVerdict,
} from '../rules.js';

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
