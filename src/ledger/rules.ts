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
 * The verdicts from the facts a backend read (sqlite/rules.ts,
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
