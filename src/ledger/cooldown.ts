import type { Db } from './db.js';

export type CooldownVerdict = { blocked: false } | { blocked: true; until: number | null };

/**
 * The organisation-wide cooldown rule, read from the send ledger: a number is
 * blocked by a reservation still held and due (queued or being sent, whatever
 * its age, until = null; a row scheduled or deferred to a later time blocks
 * only from then) or by an SMS sent less than one interval ago (half-open:
 * exactly one interval ago no longer blocks). `state != 'released'` lets
 * the reserved part seek sends_recipient_state (a partial index).
 */
export function createCooldownCheck(db: Db): (recipient: string, cooldownMs: number | null, now: number) => CooldownVerdict {
  const blocker = db.prepare(
    // Two seeks, each on its own index: the number's due reservations (few) and its SMS sent within the interval.
    `SELECT state, sentAt FROM (
       SELECT state, sent_at AS sentAt FROM sends
        WHERE recipient = @recipient AND state = 'reserved' AND state != 'released' AND coalesce(due_at, 0) <= @now
       UNION ALL
       SELECT state, sent_at FROM sends WHERE recipient = @recipient AND state = 'sent' AND sent_at > @since)
      ORDER BY state = 'reserved' DESC, sentAt DESC LIMIT 1`,
  );
  return (recipient, cooldownMs, now) => {
    if (cooldownMs === null) return { blocked: false };
    const row = blocker.get({ recipient, now, since: now - cooldownMs }) as { state: string; sentAt: number | null } | undefined;
    if (!row) return { blocked: false };
    return { blocked: true, until: row.sentAt === null ? null : row.sentAt + cooldownMs };
  };
}
