/**
 * Counts events per key in fixed windows (connections per address per minute,
 * postmaster mails per address per hour). Bounded: past `maxKeys` keys, a new
 * key clears the table, so a flood of addresses cannot grow it without end.
 */
export function createRateCounter(windowMs: number, maxKeys = 10_000) {
  const counts = new Map<string, { count: number; since: number }>();
  return {
    /** Counts one event for `key` at `now`; resolves the count in the current window, this event included. */
    hit(key: string, now: number): number {
      let entry = counts.get(key);
      if (!entry || now - entry.since >= windowMs) {
        if (counts.size > maxKeys) counts.clear();
        entry = { count: 0, since: now };
        counts.set(key, entry);
      }
      return ++entry.count;
    },
  };
}
