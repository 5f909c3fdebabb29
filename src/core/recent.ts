import type { Clock } from './clock.js';
import type { CounterName, MetricsRegistry } from './metrics.js';

/*
 * Counts of the last hour (or any window) by key, in one-minute buckets: the
 * console's "refusals in the last hour" without storing a row per refusal.
 * Memory is one map per bucket, with as many keys as there are reasons.
 */

export interface RecentTally {
  add(key: string, by?: number): void;
  /** Counts within the window, by key. */
  counts(): Record<string, number>;
}

export function createRecentTally(clock: Clock, windowMs = 3_600_000, bucketMs = 60_000): RecentTally {
  const buckets = new Map<number, Map<string, number>>();
  const drop = (now: number) => {
    for (const start of buckets.keys()) if (start <= now - windowMs) buckets.delete(start);
  };
  return {
    add(key, by = 1) {
      const now = clock.now();
      const start = now - (now % bucketMs);
      let bucket = buckets.get(start);
      if (!bucket) {
        drop(now);
        buckets.set(start, (bucket = new Map()));
      }
      bucket.set(key, (bucket.get(key) ?? 0) + by);
    },
    counts() {
      drop(clock.now());
      const total: Record<string, number> = {};
      for (const bucket of buckets.values()) for (const [key, n] of bucket) total[key] = (total[key] ?? 0) + n;
      return total;
    },
  };
}

/** The registry, whose counter `name` also tallies its `label` (e.g. SMTP refusals by reason) into `tally`. */
export function tallying(registry: MetricsRegistry, name: CounterName, label: string, tally: RecentTally): MetricsRegistry {
  return {
    ...registry,
    inc(counter, ...labels) {
      registry.inc(counter, ...labels);
      if (counter === name) tally.add((labels[0] as Record<string, string> | undefined)?.[label] ?? '');
    },
  };
}
