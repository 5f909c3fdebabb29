import type { Clock } from '../core/clock.js';

/**
 * The provider's rate limit as an exact cap, counted the way the provider
 * counts: by when each call arrives there. We cannot see that moment, but it
 * lies between the call's start and its answer. So each of the last `limit`
 * calls holds a place in the window from its start until a second after its
 * answer, and a call starts only when the oldest place is free: then any two
 * calls `limit` apart arrive at least a second apart, whatever the network,
 * the event loop or the provider's own scheduling did in between. Pacing
 * alone (one start per 1/rate s, catching up after a late timer) let 105
 * through in the worst second at 100/s; this costs only the calls' latency
 * (a 5 ms answer: the sustained rate is ≈ 99.5 % of the limit).
 */
export interface Pacer {
  /** A place for a call that may start now (it is counted from now), or the milliseconds to wait before asking again. */
  tryStart(): { place: number } | { waitMs: number };
  /** The call holding `place` has its answer (or failed): its place frees a second from now. */
  finished(place: number): void;
  /** Counts the whole window as used (a newly elected dispatcher cannot know what the last one sent just now). */
  fill(): void;
}

/** How soon to ask again while the oldest place's call has no answer yet. */
const IN_FLIGHT_RECHECK_MS = 5;

export function createPacer(ratePerSecond: number, clock: Clock): Pacer {
  // Below 1/s: one call per 1/rate s. Above: whole calls per second (2.5/s allows 2), never more than the contract.
  const limit = Math.max(1, Math.floor(ratePerSecond));
  const windowMs = Math.max(1000, 1000 / ratePerSecond);
  /** When each place's call got its answer; +Infinity while it is in flight. */
  const answered = new Float64Array(limit).fill(Number.NEGATIVE_INFINITY);
  let oldest = 0;
  return {
    tryStart() {
      const free = answered[oldest] as number;
      if (free === Number.POSITIVE_INFINITY) return { waitMs: IN_FLIGHT_RECHECK_MS };
      const wait = free + windowMs - clock.now();
      if (wait > 0) return { waitMs: Math.ceil(wait) };
      const place = oldest;
      answered[place] = Number.POSITIVE_INFINITY;
      oldest = (oldest + 1) % limit;
      return { place };
    },
    finished(place) {
      answered[place] = clock.now();
    },
    fill() {
      const now = clock.now();
      // In-flight places stay in flight; the others count as answered now.
      for (let i = 0; i < limit; i++) if (answered[i] !== Number.POSITIVE_INFINITY) answered[i] = now;
    },
  };
}
