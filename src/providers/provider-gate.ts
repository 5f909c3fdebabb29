import type { Clock } from '../core/clock.js';

/*
 * A provider's own limits on a route (issue 24): at most `concurrency` calls
 * in flight and at most `ratePerSecond` call starts per second, evenly spaced,
 * in this daemon. A call waits for its turn; a limit is not a failure and
 * never moves an SMS to the next provider. (The organisation-wide
 * dispatch.rate_limit still holds across daemons; these hold per daemon.)
 */

export interface ProviderGate {
  /** Resolves when the call may start; call the returned function when it has ended. */
  enter(): Promise<() => void>;
}

export function createProviderGate(options: { concurrency?: number; ratePerSecond?: number; clock: Clock }): ProviderGate | undefined {
  const { concurrency, ratePerSecond, clock } = options;
  if (!concurrency && !ratePerSecond) return undefined;
  const spacingMs = ratePerSecond ? 1000 / ratePerSecond : 0;
  const waiting: (() => void)[] = [];
  let inFlight = 0;
  let nextStart = 0;

  async function slot(): Promise<void> {
    if (!concurrency || inFlight < concurrency) {
      inFlight++;
      return;
    }
    // The slot is handed over by the call that ends (inFlight stays counted for it).
    await new Promise<void>((resolve) => waiting.push(resolve));
  }

  async function pace(): Promise<void> {
    if (!spacingMs) return;
    const now = clock.now();
    const at = Math.max(now, nextStart);
    nextStart = at + spacingMs;
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
  }

  return {
    async enter() {
      await slot();
      await pace();
      let left = false;
      return () => {
        if (left) return;
        left = true;
        const next = waiting.shift();
        if (next) next();
        else inFlight--;
      };
    },
  };
}
