import type { Clock } from '../core/clock.js';

/*
 * A circuit breaker per provider (issue 24). After `threshold` temporary
 * failures in a row the circuit opens: the provider is skipped (failover takes
 * the next one of the route) for `coolOffMs`. Then it half-opens and lets one
 * probe through; the probe's success closes it, its failure opens it again for
 * another cool-off. A refusal of one SMS (a bad number) is no failure of the
 * provider: only temporary failures count.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSnapshot {
  state: BreakerState;
  /** Temporary failures in a row. */
  failures: number;
  /** When the circuit opened (epoch ms), while open or half-open. */
  openedAt?: number;
  lastError?: string;
}

export interface Breaker {
  /** May a call go to the provider now? In half-open, true once (the probe) until it reports. */
  allow(): boolean;
  success(): void;
  failure(reason: string): void;
  snapshot(): BreakerSnapshot;
}

export function createBreaker(options: { threshold: number; coolOffMs: number; clock: Clock }): Breaker {
  const { threshold, coolOffMs, clock } = options;
  let failures = 0;
  let openedAt: number | undefined;
  let probing = false;
  let lastError: string | undefined;

  function state(): BreakerState {
    if (openedAt === undefined) return 'closed';
    return clock.now() - openedAt >= coolOffMs ? 'half-open' : 'open';
  }

  return {
    allow() {
      const now = state();
      if (now === 'closed') return true;
      if (now === 'open' || probing) return false;
      probing = true;
      return true;
    },
    success() {
      failures = 0;
      openedAt = undefined;
      probing = false;
    },
    failure(reason) {
      failures++;
      lastError = reason;
      // A failed probe opens the circuit for a fresh cool-off; so does the threshold reached while closed.
      if (probing || (openedAt === undefined && failures >= threshold)) openedAt = clock.now();
      probing = false;
    },
    snapshot() {
      return {
        state: state(),
        failures,
        ...(openedAt !== undefined ? { openedAt } : {}),
        ...(lastError !== undefined ? { lastError } : {}),
      };
    },
  };
}
