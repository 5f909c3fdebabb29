import type { Clock } from '../core/clock.js';

/*
 * The last moment before a provider call. A STOP is committed by the ledger
 * thread while dispatch, in this thread, may hold rows it claimed a moment
 * earlier. The inbound handler closes the gate for the number *before* it
 * asks the ledger to commit the opt-out, and dispatch looks at the gate in the
 * same synchronous step that starts the provider call: so no call for that
 * number starts after the opt-out commit. Claims after the commit see the
 * opt-out in the ledger itself; the gate only has to outlive the leases
 * claimed before it.
 */

export interface OptOutGate {
  /** Closes the gate for a number until `reopen`, or for `holdMs` after it. */
  close(recipient: string): void;
  /** The opt-out is committed (or failed): keep the gate closed for holdMs more, then forget it. */
  settle(recipient: string): void;
  /** An opt-in: open at once. */
  open(recipient: string): void;
  isClosed(recipient: string): boolean;
}

export function createOptOutGate(deps: { clock: Clock; holdMs: number }): OptOutGate {
  // recipient → until (ms); Infinity while the opt-out is being committed.
  const closed = new Map<string, number>();
  function sweep(now: number): void {
    for (const [recipient, until] of closed) if (until <= now) closed.delete(recipient);
  }
  return {
    close(recipient) {
      closed.set(recipient, Number.POSITIVE_INFINITY);
    },
    settle(recipient) {
      const now = deps.clock.now();
      if (closed.has(recipient)) closed.set(recipient, now + deps.holdMs);
      if (closed.size > 1000) sweep(now);
    },
    open(recipient) {
      closed.delete(recipient);
    },
    isClosed(recipient) {
      const until = closed.get(recipient);
      if (until === undefined) return false;
      if (until > deps.clock.now()) return true;
      closed.delete(recipient);
      return false;
    },
  };
}
