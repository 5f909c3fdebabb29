import type { Clock } from '../core/clock.js';

/**
 * The provider's rate limit as an exact cap on call starts: a sliding window
 * that remembers the start of each of the last `limit` calls, and lets a call
 * start only when the oldest of them is a whole window old. So no window of
 * that length ever holds more than `limit` starts, whatever the timers did:
 * pacing alone (one start per 1/rate s, catching up after a late timer) let
 * 105 through in the worst second at 100/s.
 *
 * Providers count arrivals, not starts: a call held up on its way (a busy
 * event loop, HTTP) lands later than it started, next to later ones. The
 * window is a little longer than the provider's (2 %, 20 ms at a second) so
 * that jitter does not add a call to the provider's second; the sustained rate
 * is ≈ 98 % of the limit.
 */
export interface Pacer {
  /** 0 if a call may start now (and it is counted as started); else the milliseconds to wait before asking again. */
  tryStart(): number;
  /** Counts the whole window as used (a newly elected dispatcher cannot know what the last one sent just now). */
  fill(): void;
}

/** Extra window length, as a fraction of the window, for the jitter between a call's start and its arrival. */
const ARRIVAL_MARGIN = 0.02;

export function createPacer(ratePerSecond: number, clock: Clock): Pacer {
  // Below 1/s: one call per 1/rate s. Above: whole calls per second (2.5/s allows 2), never more than the contract.
  const limit = Math.max(1, Math.floor(ratePerSecond));
  const windowMs = Math.max(1000, 1000 / ratePerSecond) * (1 + ARRIVAL_MARGIN);
  const starts = new Float64Array(limit).fill(Number.NEGATIVE_INFINITY);
  let oldest = 0; // ring index of the oldest of the last `limit` starts
  return {
    tryStart() {
      const now = clock.now();
      const wait = (starts[oldest] as number) + windowMs - now;
      if (wait > 0) return Math.ceil(wait);
      starts[oldest] = now;
      oldest = (oldest + 1) % limit;
      return 0;
    },
    fill() {
      starts.fill(clock.now());
    },
  };
}
